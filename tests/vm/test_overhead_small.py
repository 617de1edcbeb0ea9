"""A small end-to-end comparison: two workloads, one trial each, on the host, in a real
minicontainer container (with and without seccomp) and in a real TCG guest, all timed by the same
mc-timer; then the stored result renders as a report."""

import os

import pytest

from vmcompare import overhead, report

pytestmark = pytest.mark.vm


@pytest.fixture
def need_root():
    if os.geteuid() != 0:
        pytest.skip("containers need root (namespaces, mounts, cgroups)")


def test_small_comparison_host_container_vm(cloud_kernel, need_root, tmp_path):
    cmp = overhead.compare(["syscall", "net-rtt"], trials=1, vm_scale={"syscall": 0.4, "net-rtt": 0.1},
                           accel="tcg", kernel=cloud_kernel, build_dir=tmp_path)
    assert {e: r.error for e, r in cmp.runs.items()} == {"host": None, "container": None, "unconfined": None,
                                                         "vm": None}
    assert all(s.cpu_seconds >= 1.0 for r in cmp.runs.values() for s in r.samples if s.workload == "syscall")
    assert cmp.runs["vm"].labels["accel"] == "tcg"                  # every VM figure names its accelerator
    rows = {r["workload"]: r for r in cmp.rows()}
    for env in overhead.ENVS:
        assert rows["syscall"][env]["n"] == 1 and rows["net-rtt"][env]["n"] == 1, env
        assert 0 < rows["net-rtt"][env]["median"] < 100_000              # µs: host-local round trips
    # generous bounds on a noisy shared machine: emulated syscalls are slower than native ones,
    # and a ping through QEMU's user network stack slower than one over loopback
    assert rows["syscall"]["vm"]["median"] > rows["syscall"]["host"]["median"]
    assert rows["net-rtt"]["vm"]["median"] > rows["net-rtt"]["host"]["median"]
    db = tmp_path / "r.sqlite"
    overhead.save(cmp, db)
    html = report.write_report(tmp_path / "report.html", db).read_text()
    assert "VM (TCG)" in html and "data:image/png;base64," in html
    assert not list(tmp_path.glob("vmcompare-vm-*"))                  # the guest's disk image is gone
