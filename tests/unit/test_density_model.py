"""The density model against hand-computed cases."""

import pytest

from vmcompare import density
from vmcompare.density import Cost, capacity, fit, storm_seconds
from vmcompare.errors import UsageError


def test_capacity_memory_bound():
    vm = Cost("vm", mem_mib=200, work_s=1.0)
    # (24576 - 1024) / 200 = 117.76 -> 117 VMs; idle instances: CPU does not limit
    assert capacity(24 * 1024, 2, vm) == (117, "memory")
    # a 0.5 MiB container: (24576 - 1024) / 0.5 = 47104
    assert capacity(24 * 1024, 2, Cost("container", 0.5, 0.1)) == (47104, "memory")


def test_capacity_cpu_bound_and_reserve():
    vm = Cost("vm", mem_mib=200, work_s=1.0)
    # each keeps 0.25 core busy: 2 / 0.25 = 8 < 117
    assert capacity(24 * 1024, 2, vm, cpu_per_instance=0.25) == (8, "cpu")
    # 64 cores, 0.25 each -> 256 by CPU; memory: (24576 - 4096) / 200 = 102.4 -> 102
    assert capacity(24 * 1024, 64, vm, reserve_mib=4096, cpu_per_instance=0.25) == (102, "memory")
    assert capacity(512, 2, vm) == (0, "memory")                 # the reserve eats it all
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
