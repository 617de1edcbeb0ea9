"""VM tests boot real guests under QEMU. They skip (with the reason) when QEMU is not installed or
the guest kernel cannot be downloaded (no network, or no apt-get on this host); any other failure
to get the kernel (a broken package, dpkg failing, a bug in the fetcher) is an error, not a skip.
After every test they check that no QEMU process of ours survived."""

import shutil

import pytest

from guest_kernel_fetch import fetch_or_skip
from vmcompare import qemu


@pytest.fixture(scope="session")
def cloud_kernel():
    if shutil.which(qemu.QEMU_BINARY) is None:
        pytest.skip("qemu-system-x86_64 is not installed (scripts/install-system-deps.sh)")
    return fetch_or_skip("cloud")


@pytest.fixture(scope="session")
def generic_kernel(cloud_kernel):
    return fetch_or_skip("generic")   # the generic flavour has 9p, which the guest share needs


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
