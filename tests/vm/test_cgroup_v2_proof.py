"""The v2 proof: the cgroup tests and the limit tests pass on a kernel that has ONLY cgroup v2.

This host is hybrid (v1 controllers, an empty cgroup2 at /sys/fs/cgroup/unified), so the
v2 backend would otherwise be tested only against fake trees. Here a guest kernel boots
under QEMU with ``cgroup_no_v1=all`` on its command line (no v1 controller can be mounted,
see the kernel's admin-guide/kernel-parameters), cgroup2 mounted at /sys/fs/cgroup; the
host's ``/`` is shared read-only over virtio-9p and the guest runs the host's own Python
and this checkout's code, chroot-ed into it (see vmcompare/guest.py). The ``overlay``
module is loaded so that ``minicontainer run`` works in the guest too: the limit tests
start real containers with ``-m``, ``--pids-limit``, ``--cpus`` there.
"""

import re
from pathlib import Path

import pytest

from vmcompare.guest import run_in_guest

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]          # the checkout under test, whatever its path
TESTS = ["tests/privileged/test_cgroups.py", "tests/privileged/test_limits.py"]


def _count_tests(path: Path) -> int:
    """Tests the files define (parametrized ones counted per case), to compare with the guest's summary."""
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          *[str(path / t) for t in TESTS]], capture_output=True, text=True, cwd=path, timeout=120)
    return sum(1 for line in res.stdout.splitlines() if "::" in line)


def test_cgroup_and_limit_tests_pass_in_a_cgroup2_only_guest(generic_kernel, tmp_path):
    python = REPO / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"the project's virtualenv is missing: {python}")
    expected = _count_tests(REPO)
    assert expected >= 20
    script = (
        "cat /proc/self/cgroup; echo '--- controllers'; cat /sys/fs/cgroup/cgroup.controllers; "
        "echo '--- mounts'; grep cgroup /proc/self/mounts; echo '--- pytest'; "
        f"{python} -m pytest -p no:cacheprovider -q -rfEs {' '.join(TESTS)} 2>&1; echo pytest-exit=$?"
    )
    result = run_in_guest(script, host_root=True, kernel_args=["cgroup_no_v1=all"], cgroup2=True,
                          modules=["overlay"], workdir=str(REPO), accel="tcg", cpus=2, memory_mib=768,
                          timeout=600, build_dir=tmp_path, kernel=generic_kernel)
    out = result.output
    head, _, rest = out.partition("--- controllers")
    # v2 only: /proc/self/cgroup has the single unified line, no "N:controller:path" v1 lines
    assert [line for line in head.splitlines() if line.strip()] == ["0::/"], out[:2000]
    controllers, _, rest = rest.partition("--- mounts")
    assert {"cpu", "memory", "pids", "cpuset"} <= set(controllers.split())
    mounts, _, report = rest.partition("--- pytest")
    types = {line.split()[2] for line in mounts.splitlines() if line.strip()}
    assert types == {"cgroup2"}, mounts                 # no v1 hierarchy mounted anywhere
    assert "pytest-exit=0" in report, report[-6000:]
    summary = [line for line in report.splitlines() if re.search(r"\d+ passed", line)]
    assert summary, report[-3000:]
    assert not re.search(r"failed|error|skipped|deselected|xfail", summary[-1]), summary[-1]
    passed = int(re.search(r"(\d+) passed", summary[-1]).group(1))
    assert passed == expected, (passed, expected, summary[-1])
