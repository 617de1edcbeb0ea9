"""records.read_json: a missing record is None; a damaged one is one error naming the file."""

import pytest

from minicontainer.errors import MiniContainerError, NetworkError
from minicontainer.records import read_json


def test_missing_is_none_present_is_parsed(tmp_path):
    assert read_json(tmp_path / "nope.json", "unreadable") is None
    (tmp_path / "r.json").write_text('{"a": [1, 2]}')
    assert read_json(tmp_path / "r.json", "unreadable") == {"a": [1, 2]}


def test_damage_raises_the_callers_error_with_op_and_path(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(NetworkError) as info:
        read_json(bad, "cannot read address table", NetworkError, op="ipam")
    assert info.value.message.startswith("cannot read address table: ")
    assert info.value.op == "ipam" and info.value.path == str(bad)
    with pytest.raises(MiniContainerError, match="unreadable state"):
        read_json(tmp_path, "unreadable state")                   # a directory: IsADirectoryError
