"""Real boots: every phase is reported, a hanging guest is killed and recorded as a failure,
a host folder reaches the guest over virtio-9p, and the host's own Python runs in a guest."""

import sys
import time

import pytest

from vmcompare import initramfs, qemu
from vmcompare.guest import run_in_guest
from vmcompare.measure import boot_series
from vmcompare.phases import PHASES
from vmcompare.results import ResultStore

pytestmark = pytest.mark.vm


def test_real_boot_reports_every_phase(cloud_kernel, tmp_path):
    series = boot_series(1, machine="pc", accel="tcg", kernel=cloud_kernel, build_dir=tmp_path, progress=None)
    assert [t.status for t in series.trials][-1] == "ok"
    trial = series.ok()[0]
    times = [trial.phases[p] for p in PHASES]
    assert times == sorted(times) and times[-1] < 30                 # phases in boot order
    assert 0 < trial.kernel_printk["run_init"] < trial.phases["run_init"] + 5
    assert trial.guest_uptime_init >= trial.kernel_printk["run_init"]
    assert 100_000 < trial.guest_mem_total_kb < 256 * 1024 and trial.guest_mem_available_kb > 0
    assert trial.rss_bytes > 50 * 2**20 and trial.uss_bytes > 0      # QEMU itself, sampled at /init
    for key in ("host_kernel", "cpu_model", "cores", "qemu_version", "accel", "machine", "memory_mib",
                "guest_kernel", "date"):
        assert series.labels[key], key
    assert series.labels["accel"] == "tcg" and "cloud" in series.labels["guest_kernel"]


def test_hanging_init_is_killed_and_recorded_as_failure(cloud_kernel, tmp_path):
    hang = initramfs.InitSpec(workload="sleep 600")
    start = time.monotonic()
    series = boot_series(1, accel="tcg", kernel=cloud_kernel, build_dir=tmp_path, spec=hang, timeout=8,
                         progress=None)
    assert time.monotonic() - start < 20
    assert [t.status for t in series.trials] == ["timeout"]
    assert series.trials[0].total_s is None and series.trials[0].phases == {}   # never a timing
    with ResultStore(tmp_path / "r.sqlite") as store:
        run = store.load(store.save(series))
    assert [t.status for t in run.trials] == ["timeout"] and run.values() == []


def test_run_in_guest_reads_a_9p_share(generic_kernel, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (share / "message.txt").write_text("hello from the host\n")
    result = run_in_guest("cat /mnt/share/message.txt; uname -r; touch /mnt/share/new 2>/dev/null; echo rw=$?",
                          share=[(share, "/mnt/share")], accel="tcg", timeout=60, build_dir=tmp_path,
                          kernel=generic_kernel)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "hello from the host"
    assert lines[1] == generic_kernel.release                     # the guest's kernel, not the host's
    assert lines[2] == "rw=1" and not (share / "new").exists()    # the share is read-only


def test_host_python_runs_in_a_cgroup2_only_guest(generic_kernel, tmp_path):
    code = "import sys; print(open('/proc/self/cgroup').read().strip()); print(sys.prefix)"
    result = run_in_guest([sys.executable, "-c", code], host_root=True,
                          kernel_args=["cgroup_no_v1=all"], cgroup2=True, accel="tcg", timeout=120,
                          build_dir=tmp_path, kernel=generic_kernel)
    assert result.exit_code == 0, result.output
    cgroup_line, prefix = result.output.splitlines()[:2]
    assert cgroup_line == "0::/"                   # cgroup v2 only: one unified hierarchy
    assert prefix.endswith(".venv")


def test_probe_kvm_decides_within_ten_seconds(cloud_kernel, tmp_path):
    start = time.monotonic()
    verdict = qemu.probe_kvm(kernel=cloud_kernel, build_dir=tmp_path, refresh=True)
    assert time.monotonic() - start < 10
    assert verdict.reason
    again = qemu.probe_kvm(kernel=cloud_kernel, build_dir=tmp_path)
    assert again.cached and (again.usable, again.reason) == (verdict.usable, verdict.reason)
