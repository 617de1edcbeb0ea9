"""VM tests boot real guests under QEMU. They skip (with the reason) when QEMU or the guest
kernel cannot be had, and check after every test that no QEMU process of ours survived."""

import shutil

import pytest

from vmcompare import qemu


@pytest.fixture(scope="session")
def cloud_kernel():
    if shutil.which(qemu.QEMU_BINARY) is None:
        pytest.skip("qemu-system-x86_64 is not installed (scripts/install-system-deps.sh)")
    from vmcompare.guestkernel import fetch_kernel
    try:
        return fetch_kernel("cloud", log=lambda *_: None)
    except Exception as err:   # no network / not Debian: say why
        pytest.skip(f"no guest kernel: {err}")


@pytest.fixture(scope="session")
def generic_kernel(cloud_kernel):
    from vmcompare.guestkernel import fetch_kernel
    try:
        return fetch_kernel("generic", log=lambda *_: None)
    except Exception as err:
        pytest.skip(f"no generic guest kernel (needed for 9p): {err}")


def _our_qemus():
    import psutil
    return [p for p in psutil.Process().children(recursive=True) if "qemu" in p.name()]


@pytest.fixture(autouse=True)
def no_orphan_qemu():
    yield
    leftovers = _our_qemus()
    for p in leftovers:
        p.kill()
    assert not leftovers, f"QEMU processes survived the test: {leftovers}"
    assert not qemu._live
