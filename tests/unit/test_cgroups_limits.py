"""Limit flags (parsed and checked before anything exists) and the docker-stats-like formatter."""

import argparse

import pytest

from minicontainer.cgroups.common import CgroupStats
from minicontainer.cli.flags import add_limit_arguments
from minicontainer.cgroups.limits import (Limits, build_limits, limits_from_args, parse_cpus,
                                          parse_cpuset, parse_size, shares_to_weight)
from minicontainer.cgroups.stats import StatsRow, cpu_percent, format_bytes, format_table, host_memory, make_row
from minicontainer.errors import UsageError

TWO = {0, 1}


@pytest.mark.parametrize("text,value", [
    ("1048576", 1 << 20), ("64m", 64 << 20), ("64M", 64 << 20), ("64mb", 64 << 20), ("64MiB", 64 << 20),
    ("1g", 1 << 30), ("1.5g", 3 << 29), ("512k", 512 << 10), ("100b", 100),
])
def test_sizes(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("flags,message", [
    ({"memory": "0"}, "invalid memory limit '0': the minimum is 6m"),
    ({"memory": "lots"}, "invalid memory limit 'lots': expected a number of bytes"),
    ({"memory": "-5m"}, "invalid memory limit '-5m'"),
    ({"cpus": "-1"}, "invalid --cpus '-1': the range is 0.01 to 2"),
    ({"cpus": "3"}, "invalid --cpus '3': the range is 0.01 to 2"),
    ({"cpus": "half"}, "invalid --cpus 'half': expected a number"),
    ({"cpu_shares": "1"}, "invalid --cpu-shares '1': the range is 2 to 262144"),
    ({"pids_limit": "0"}, "invalid --pids-limit '0': use a positive number, or -1"),
    ({"pids_limit": "-7"}, "invalid --pids-limit '-7'"),
    ({"cpuset_cpus": "0-7"}, "invalid --cpuset-cpus '0-7': cpu 2-7 not available (this host offers 0-1)"),
    ({"cpuset_cpus": "1-0"}, "range 1-0 is reversed"),
    ({"cpuset_cpus": "zero"}, "expected a list such as 0-1,3"),
    ({"memory": "64m", "memory_swap": "32m"}, "--memory-swap must be at least --memory"),
    ({"memory_swap": "128m"}, "--memory-swap needs --memory as well"),
])
def test_bad_input_is_one_clear_usage_error(flags, message):
    with pytest.raises(UsageError) as info:
        build_limits(available_cpus=TWO, **flags)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and not text.endswith(".")


def test_all_flags_together():
    limits = build_limits(memory="64m", memory_swap="-1", cpus="0.5", cpu_shares="512", pids_limit="50",
                          cpuset_cpus="1,0", available_cpus=TWO)
    assert limits == Limits(memory=64 << 20, memory_swap=-1, cpus=0.5, cpu_shares=512, pids_limit=50,
                            cpuset_cpus="0-1")
    assert limits.cpu_quota_us() == 50_000
    assert Limits.from_dict(limits.to_dict()) == limits
    assert build_limits(available_cpus=TWO).is_empty()


def test_merged_keeps_what_the_update_does_not_name():
    old = Limits(memory=64 << 20, cpus=1.0)
    assert old.merged(Limits(cpus=0.5)) == Limits(memory=64 << 20, cpus=0.5)


def test_cpuset_canonical_form():
    assert parse_cpuset("3,0-1,2", {0, 1, 2, 3, 5}) == "0-3"
    assert parse_cpuset("0,5", {0, 1, 2, 3, 5}) == "0,5"


def test_cpus_default_to_this_process_affinity():
    import os
    assert parse_cpus(str(len(os.sched_getaffinity(0)))) == len(os.sched_getaffinity(0))


def test_shares_to_weight_matches_runc():
    assert shares_to_weight(2) == 1
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(1024) == 39


def test_argparse_flags():
    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    args = parser.parse_args(["-m", "1g", "-c", "2048", "--pids-limit", "-1", "--cpuset-cpus", "0"])
    assert limits_from_args(args, TWO) == Limits(memory=1 << 30, cpu_shares=2048, pids_limit=-1, cpuset_cpus="0")


# -- stats ---------------------------------------------------------------------
def sample(t_ns, cpu_ns, mem=None, limit=None, pids=None):
    return CgroupStats(time_ns=t_ns, cpu_usage_ns=cpu_ns, memory_usage=mem, memory_limit=limit,
                       pids_current=pids, pids_limit=None, oom_kills=0)


def test_cpu_percent_is_a_rate_between_samples():
    assert cpu_percent(sample(0, 0), sample(1_000_000_000, 500_000_000)) == pytest.approx(50.0)
    assert cpu_percent(sample(0, 0), sample(1_000_000_000, 2_000_000_000)) == pytest.approx(200.0)
    assert cpu_percent(sample(5, 0), sample(5, 10)) is None
    assert cpu_percent(sample(0, None), sample(1, 1)) is None


def test_table_like_docker_stats():
    before = sample(0, 0)
    after = sample(2_000_000_000, 1_000_000_000, mem=3 << 19, limit=64 << 20, pids=3)
    rows = [make_row("0123456789abcdef", "web", before, after, host_total=1 << 30),
            StatsRow("fedcba9876543210", "idle", None, None, None, None)]
    assert rows[0].memory_percent == pytest.approx(100 * 1.5 / 64)
    assert format_table(rows).splitlines() == [
        "CONTAINER ID   NAME   CPU %    MEM USAGE / LIMIT   MEM %   PIDS",
        "0123456789ab   web    50.00%   1.5MiB / 64MiB      2.34%   3",
        "fedcba987654   idle   --       -- / --             --      --",
    ]


def test_unlimited_memory_is_shown_against_the_host(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal:       24576000 kB\nMemFree: 1 kB\n")
    total = host_memory(tmp_path)
    assert total == 24576000 * 1024
    row = make_row("x", "x", sample(0, 0), sample(1, 0, mem=1024, limit=None), host_total=total)
    assert row.memory_limit == total
    assert host_memory(tmp_path / "missing") is None
    assert format_bytes(1536) == "1.5KiB" and format_bytes(100) == "100B"
