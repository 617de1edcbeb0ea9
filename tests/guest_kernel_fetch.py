"""The VM tests' way of getting a guest kernel: skip only when it cannot be downloaded for want of
a network. Any other failure to get the kernel (no apt-get on this host, a broken package, dpkg
failing, a bug in the fetcher) fails the suite, not hides as a skip: `make test` installs what it
needs on the Debian/Ubuntu hosts it supports, so a missing tool is a broken set-up. Used by tests/vm/conftest.py, unit-tested in
tests/unit/test_vm_fixture_skip.py.
"""

import re

import pytest

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
