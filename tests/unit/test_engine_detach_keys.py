"""Detach keys (``docker attach --detach-keys``, default ctrl-p ctrl-q): parsed as Docker does,
and taken out of the stream the container's stdin gets."""

import pytest

from minicontainer.engine.attach import DEFAULT_DETACH_KEYS, Escape, detach_keys
from minicontainer.errors import UsageError


def test_docker_syntax():
    assert detach_keys(DEFAULT_DETACH_KEYS) == b"\x10\x11"
    assert detach_keys("ctrl-a,x") == b"\x01x"
    assert detach_keys("ctrl-@,ctrl-_") == b"\x00\x1f"
    for bad in ("ctrl-", "ctrl-ab", "shift-a", "ab"):
        with pytest.raises(UsageError):
            detach_keys(bad)


def test_the_keys_end_the_stream_and_are_not_passed_on():
    esc = Escape(b"\x10\x11")
    assert esc.feed(b"ls\r") == (b"ls\r", False)
    assert esc.feed(b"a\x10") == (b"a", False)          # half a sequence is held back...
    assert esc.feed(b"\x11rest") == (b"", True)         # ...and the whole one detaches
    esc = Escape(b"\x10\x11")
    assert esc.feed(b"\x10") == (b"", False)
    assert esc.feed(b"q") == (b"\x10q", False)          # not the sequence after all: both pass
