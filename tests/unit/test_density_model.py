"""The density model against hand-computed cases: fits, refusals of degenerate fits, host limits."""

import pytest

from vmcompare import density
from vmcompare.density import Cost, HostLimits, ModelError, capacity, fit, host_limits, kernel_memory_kib, storm_seconds
from vmcompare.errors import UsageError

NO_KERNEL = "memory (kernel memory not measured)"


def test_capacity_memory_bound():
    vm = Cost("vm", mem_mib=200, work_s=1.0)
    # (24576 - 1024) / 200 = 117.76 -> 117 VMs; idle instances: CPU does not limit
    assert capacity(24 * 1024, 2, vm) == (117, NO_KERNEL)
    # a 0.5 MiB container: (24576 - 1024) / 0.5 = 47104
    assert capacity(24 * 1024, 2, Cost("container", 0.5, 0.1)) == (47104, NO_KERNEL)


def test_capacity_cpu_bound_and_reserve():
    vm = Cost("vm", mem_mib=200, work_s=1.0)
    # each keeps 0.25 core busy: 2 / 0.25 = 8 < 117
    assert capacity(24 * 1024, 2, vm, cpu_per_instance=0.25) == (8, "cpu")
    # 64 cores, 0.25 each -> 256 by CPU; memory: (24576 - 4096) / 200 = 102.4 -> 102
    assert capacity(24 * 1024, 64, vm, reserve_mib=4096, cpu_per_instance=0.25) == (102, NO_KERNEL)
    assert capacity(512, 2, vm) == (0, NO_KERNEL)                 # the reserve eats it all
    with pytest.raises(UsageError):
        capacity(0, 2, vm)


def test_storm_seconds():
    c = Cost("container", 0.5, work_s=0.2, latency_s=0.1)
    assert storm_seconds(1, 2, c) == pytest.approx(0.3)          # 0.1 + 0.2 * max(1, 0.5)
    assert storm_seconds(2, 2, c) == pytest.approx(0.3)          # one start per core
    assert storm_seconds(20, 2, c) == pytest.approx(2.1)         # 0.1 + 0.2 * 10
    assert storm_seconds(20, 16, c) == pytest.approx(0.35)       # 0.1 + 0.2 * 1.25
    with pytest.raises(UsageError):
        storm_seconds(0, 2, c)


def test_fit_recovers_the_model_from_its_own_points():
    true = Cost("vm", 200, work_s=1.5, latency_s=0.2)
    points = [(k, storm_seconds(k, 2, true), 200 + k) for k in (1, 2, 4)]
    got = fit("vm", points, cores=2)
    # slope over k >= 2: (3.2 - 1.7) / 2 = 0.75 per instance -> work = 0.75 * 2 = 1.5; latency = 1.7 - 1.5
    assert got.work_s == pytest.approx(1.5) and got.latency_s == pytest.approx(0.2)
    assert got.mem_mib == 202                                     # median of 201, 202, 204


def test_fit_hand_computed_noisy_points():
    # containers on 2 cores: k=1 0.25 s, k=5 0.60 s, k=20 2.10 s
    # slope over k in {5, 20}: (2.10 - 0.60) / 15 = 0.1 -> work 0.2 CPU-s; latency 0.25 - 0.2 = 0.05
    got = fit("container", [(1, 0.25, 0.5), (5, 0.60, 0.6), (20, 2.10, 0.4)], cores=2)
    assert got.work_s == pytest.approx(0.2) and got.latency_s == pytest.approx(0.05) and got.mem_mib == 0.5
    single = fit("vm", [(1, 1.6, 210)], cores=2)                  # one point: all of it is work
    assert (single.work_s, single.latency_s) == (1.6, 0.0)


def test_density_costs_use_measured_points():
    result = density.Density({"cores": 2})
    for k, up in ((1, 0.25), (5, 0.60), (20, 2.10)):
        result.points.append(density.Point("container", k, [density.Instance(up * (i + 1) / k, 2**19, 2**19, 2**20)
                                                            for i in range(k)]))
    result.points.append(density.Point("vm", 2, [density.Instance(1.0), density.Instance(None)], error="hung"))
    costs = result.costs()
    assert set(costs) == {"container"}                           # an incomplete VM point is not fitted
    assert costs["container"].work_s == pytest.approx(0.2) and costs["container"].mem_mib == pytest.approx(0.5)


def test_fit_refuses_a_storm_that_gets_faster_with_more_instances():
    # 2 VMs at once up sooner than 1: noise (or one core each), not a trend
    got = fit("vm", [(1, 1.86, 212.3), (2, 1.82, 200.1)], cores=2)
    assert got.work_s is None and "2 started at once" in got.refused and "sooner than 1" in got.refused
    assert got.mem_mib == pytest.approx((212.3 + 200.1) / 2)        # memory is still a measurement
    with pytest.raises(ModelError, match="noise, not a trend"):
        storm_seconds(100, 2, got)
    assert capacity(24 * 1024, 2, got)[0] == 114                    # (24576 - 1024) / 206.2 = 114.2: memory only


def test_fit_refuses_a_flat_or_falling_slope():
    # monotone pairs but the least-squares slope over k >= cores is not positive
    got = fit("container", [(1, 0.10, 0.5), (5, 0.40, 0.5), (20, 0.40, 0.5)], cores=2)
    assert got.work_s is None and "does not grow with k" in got.refused
    ok = fit("container", [(1, 0.10, 0.5), (5, 0.40, 0.5), (20, 0.41, 0.5)], cores=2)
    assert ok.work_s == pytest.approx(0.01 / 15 * 2)


def test_capacity_is_capped_by_pids_and_counts_kernel_memory():
    c = Cost("container", mem_mib=0.5, work_s=0.1, kernel_mib=0.5, tasks=2)
    # memory: (24576 - 1024) / (0.5 + 0.5) = 23552
    assert capacity(24 * 1024, 2, c) == (23552, "memory+kernel")
    # pids: min(pid_max 32768, threads-max 190000) - 768 running = 32000 free, 2 per instance = 16000 < 23552
    limits = HostLimits(pid_max=32768, threads_max=190000, tasks_now=768)
    assert capacity(24 * 1024, 2, c, limits=limits) == (16000, "pids")
    # a Cost that did not count its tasks says so rather than pretending PIDs are unlimited
    n, by = capacity(24 * 1024, 2, Cost("vm", 200, 1.0), limits=limits)
    assert n == 117 and by == NO_KERNEL + ", pids not counted"


def test_host_limits_and_kernel_memory_read_a_passed_in_proc_root(tmp_path):
    (tmp_path / "sys/kernel").mkdir(parents=True)
    (tmp_path / "sys/kernel/pid_max").write_text("4194304\n")
    (tmp_path / "sys/kernel/threads-max").write_text("191543\n")
    (tmp_path / "loadavg").write_text("0.52 0.58 0.59 3/457 12345\n")
    (tmp_path / "meminfo").write_text("MemTotal: 24000000 kB\nSlab: 300000 kB\nKernelStack: 12000 kB\n"
                                      "PageTables: 8000 kB\nShmem: 1 kB\n")
    assert host_limits(tmp_path) == HostLimits(4194304, 191543, 457)
    assert host_limits(tmp_path).free_pids == 191543 - 457
    assert kernel_memory_kib(tmp_path) == 320000
    with pytest.raises(ModelError, match="cannot read the host's limits"):
        host_limits(tmp_path / "missing")


def test_density_costs_refuse_the_degenerate_vm_points_and_keep_kernel_memory():
    result = density.Density({"cores": 2})
    for k, up in ((1, 0.25), (5, 0.60), (20, 2.10)):
        result.points.append(density.Point("container", k, [density.Instance(up * (i + 1) / k, 2**19, 2**19, 2**20, 2)
                                                            for i in range(k)], kernel_kib=20 * 300))
    for k, up in ((1, 1.86), (2, 1.82)):
        result.points.append(density.Point("vm", k, [density.Instance(up, 200 * 2**20, 200 * 2**20, 0, 5)
                                                     for _ in range(k)]))
    costs = result.costs()
    assert costs["vm"].work_s is None and "sooner than 1" in costs["vm"].refused
    assert costs["container"].kernel_mib == pytest.approx(300 / 1024) and costs["container"].tasks == 2
    line = density.projection(costs["vm"], 24 * 1024, 2)
    assert line.startswith("PROJECTED vm") and "no boot-storm projection" in line
