"""The workload script and its parser (no root, no QEMU): the script runs for real under the
host's busybox with a tiny size, and hand-written outputs check every parser branch."""

import shutil
import subprocess

import pytest

from vmcompare import overhead, workloads as wl
from vmcompare.errors import UsageError

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def test_catalogue_scales_and_pairs_file_workloads():
    ws = wl.catalogue(["file-read"], scale=0.5)
    assert [w.name for w in ws] == ["file-write", "file-read"]          # read needs the written file
    write, read = ws
    assert write.size == 64 and read.chunk == 64 and read.size % 64 == 0 and read.size // 64 == 8
    assert "count=64" in write.script() and "-lt 8 ]" in read.script()
    with pytest.raises(UsageError, match="unknown workload 'gpu'"):
        wl.catalogue(["gpu"])
    with pytest.raises(UsageError, match="scale must be positive"):
        wl.catalogue(scale=0)


def test_values_and_units():
    cpu = wl.catalogue(["cpu"])[0]
    assert cpu.value(0.5) == pytest.approx(cpu.size / 0.5)                  # MiB/s
    mem = wl.catalogue(["memory"], scale=1 / 16)[0]                        # 1024 MiB
    assert mem.value(0.25) == pytest.approx(4.0)                           # GiB/s
    sysc = wl.catalogue(["syscall"], scale=0.2)[0]                          # 100000 bytes = 200000 syscalls
    assert sysc.value(0.1) == pytest.approx(500.0)                          # ns per syscall
    proc = wl.catalogue(["process"], scale=0.2)[0]                          # 100 processes
    assert proc.value(0.1) == pytest.approx(1000.0)                         # µs per process
    assert cpu.value(0.01) is None                                          # one clock tick: too fast


def test_parser_reads_every_kind_of_line():
    ws = wl.catalogue(["cpu", "process", "net-rtt"])
    text = "\n".join([
        "noise before", "@@wl env bb=/bin/busybox wldir=/tmp peer=10.88.0.1",
        "@@wl cpu 1 100.00 100.48 rc=0",
        "@@wl process 1 100.48 100.98 rc=0",
        "@@wl net-rtt 1 100.98 101.02 rc=0 PING 10.88.0.1 (10.88.0.1): 56 data bytes --- 10.88.0.1 ping "
        "statistics --- 200 packets transmitted, 200 packets received, 0% packet loss round-trip "
        "min/avg/max = 0.010/0.023/0.150 ms",
        "@@wl cpu 2 101.02 101.03 rc=0",
        "@@wl process 2 101.03 101.50 rc=1",
        "@@wl net-rtt 2 skipped reason=no-peer",
        "@@wl done"])
    samples, env = wl.parse(text, ws)
    assert env == {"bb": "/bin/busybox", "wldir": "/tmp", "peer": "10.88.0.1"}
    got = {(s.workload, s.trial): s for s in samples}
    assert got["cpu", 1].status == "ok" and got["cpu", 1].value == pytest.approx(48 / 0.48)
    assert got["process", 1].value == pytest.approx(0.5 / 500 * 1e6)
    assert got["net-rtt", 1].value == pytest.approx(23.0) and got["net-rtt", 1].detail == "200/200 replies"
    assert got["cpu", 2].status == "too-fast" and got["cpu", 2].value is None
    assert got["process", 2].status == "failed" and "exit 1" in got["process", 2].detail
    assert got["net-rtt", 2].status == "skipped" and got["net-rtt", 2].detail == "no-peer"


def test_parser_refuses_a_cut_short_run():
    with pytest.raises(UsageError, match="cut short"):
        wl.parse("@@wl cpu 1 1.00 2.00 rc=0\n", wl.catalogue(["cpu"]))


def test_overhead_pct_points_the_right_way():
    assert overhead.overhead_pct(100, 50, True) == pytest.approx(100)     # half the throughput: +100 %
    assert overhead.overhead_pct(10, 13, False) == pytest.approx(30)      # 30 % more µs per op
    assert overhead.overhead_pct(100, 125, True) == pytest.approx(-20)    # faster than the host
    assert overhead.overhead_pct(None, 1, True) is None


def test_script_runs_under_real_busybox(tmp_path):
    ws = wl.catalogue(["cpu", "syscall", "file-write", "net-rtt"], scale=0.05)
    done = subprocess.run([BUSYBOX, "sh", "-c", wl.script(ws, 2)], capture_output=True, text=True, timeout=60,
                          env={"BB": BUSYBOX, "WLDIR": str(tmp_path), "PEER": "", "PATH": "/usr/bin:/bin"})
    samples, env = wl.parse(done.stdout, ws)
    assert env["wldir"] == str(tmp_path)
    assert sorted({(s.workload, s.trial) for s in samples}) == sorted(
        (w.name, t) for w in ws for t in (1, 2))
    assert all(s.status in ("ok", "too-fast") for s in samples if s.workload != "net-rtt")
    assert {s.status for s in samples if s.workload == "net-rtt"} == {"skipped"}   # no peer: labelled, no number
    assert not list(tmp_path.iterdir())                                             # the data file was removed
