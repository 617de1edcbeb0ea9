"""The tar reader's end of stream: what a real client sends is accepted, a cut entry is not."""

import io
import tarfile

import pytest

from minicontainer.errors import ImageError
from minicontainer.images.tarreader import TarReader


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read_all(data: bytes) -> dict[str, bytes]:
    reader = TarReader(io.BytesIO(data))
    return {e.name: reader.read_data() for e in reader}


def test_last_entry_without_padding_or_end_blocks():
    # the docker CLI's build context when -f names a Dockerfile outside it: the stream stops
    # right after the last entry's data
    whole = _tar({"Dockerfile": b"FROM busybox\n", ".dockerignore": b"x" * 47})
    cut = whole[:512 + 512 + 512 + 47]
    assert _read_all(cut) == {"Dockerfile": b"FROM busybox\n", ".dockerignore": b"x" * 47}


def test_entry_cut_inside_its_data_is_refused():
    whole = _tar({"a": b"y" * 600})
    with pytest.raises(ImageError, match="ends inside an entry's data"):
        list(TarReader(io.BytesIO(whole[:512 + 300])))
