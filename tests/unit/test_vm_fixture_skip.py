"""The VM tests' kernel fixtures (tests/vm/conftest.py, through tests/guest_kernel_fetch.py) skip
only for a missing network: any other failure (a host without apt-get included) to get the guest kernel must fail the
suite, not hide as a skip."""

import pytest

from guest_kernel_fetch import fetch_or_skip
from vmcompare.errors import KernelFetchError


def raising(err):
    def fetch(flavour, log):
        raise err
    return fetch


@pytest.mark.parametrize("message", [
    "apt-get download linux-image-cloud-amd64 failed: e: failed to fetch http://deb/pool/x.deb  "
    "temporary failure resolving 'deb'",
    "apt-get download linux-image-generic failed: e: failed to fetch http://deb/x.deb  could not connect to "
    "deb:80 (10.0.0.1), connection timed out",
    "apt-get update failed: ['W: Some index files failed to download. They have been ignored']",
])
def test_no_network_is_a_skip(message):
    with pytest.raises(pytest.skip.Exception, match="no network"):
        fetch_or_skip("cloud", raising(KernelFetchError(message, op="fetch guest kernel")))


@pytest.mark.parametrize("err", [
    KernelFetchError("dpkg -x failed: corrupted archive", op="unpack guest kernel"),
    KernelFetchError("package holds no boot/vmlinuz-*", op="unpack guest kernel"),
    KernelFetchError("apt-get download linux-image-cloud-amd64 failed: e: 404 not found", op="fetch guest kernel"),
    TypeError("fetch_kernel() got an unexpected keyword argument"),
    PermissionError(13, "Permission denied"),
])
def test_any_other_failure_is_raised_not_skipped(err):
    with pytest.raises(type(err)):
        fetch_or_skip("cloud", raising(err))


def test_a_host_without_apt_get_fails_rather_than_skips():
    """Only a missing network is a skip; a missing tool is a broken set-up and must show."""
    err = KernelFetchError("apt-get not found (a Debian or Ubuntu host is needed, or pass --kernel)",
                           op="fetch guest kernel")
    with pytest.raises(KernelFetchError, match="apt-get not found"):
        fetch_or_skip("cloud", raising(err))


def test_a_kernel_that_can_be_had_is_returned():
    assert fetch_or_skip("cloud", lambda flavour, log: f"kernel:{flavour}") == "kernel:cloud"
