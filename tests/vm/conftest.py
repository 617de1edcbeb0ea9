"""VM tests boot real guests under QEMU. They skip (with the reason) when QEMU is not installed or
the guest kernel cannot be downloaded because there is no network; any other failure to get the
kernel (a broken package, dpkg failing, a bug in the fetcher) is an error, not a skip. After every
test they check that no QEMU process of ours survived."""

import re
import shutil

import pytest

from vmcompare import qemu
from vmcompare.errors import KernelFetchError

#: what apt-get says when it cannot reach the archive at all (name resolution, no route, refused, timed out)
OFFLINE = re.compile(r"temporary failure resolving|could not resolve|name or service not known|"
                     r"network is unreachable|no route to host|connection refused|connection timed out|"
                     r"could not connect|unable to connect|some index files failed to download", re.I)


def fetch_or_skip(flavour: str, fetch=None):
    """The cached or downloaded guest kernel; skip only when the download failed for want of a network."""
    if fetch is None:
        from vmcompare.guestkernel import fetch_kernel as fetch
    try:
        return fetch(flavour, log=lambda *_: None)
    except KernelFetchError as err:
        if not OFFLINE.search(str(err)):
            raise
        pytest.skip(f"no {flavour} guest kernel: no network to download it ({err})")


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
