"""The workload script, its parser and the timer (no root, no QEMU): the script runs for real under the
host's busybox with the real mc-timer at a tiny size, and hand-written outputs check every parser branch."""

import re
import shutil
import subprocess

import pytest

from vmcompare import overhead, timer, workloads as wl
from vmcompare.errors import UsageError

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def test_catalogue_scales_and_pairs_file_workloads():
    ws = wl.catalogue(["file-read"], scale=0.5)
    assert [w.name for w in ws] == ["file-write", "file-read"]          # read needs the written file
    write, read = ws
    assert write.size == 512 and read.chunk == 512 and read.size == 512 * 16
    assert "count=512" in write.script() and "-lt 16 ]" in read.script()
    with pytest.raises(UsageError, match="unknown workload 'gpu'"):
        wl.catalogue(["gpu"])
    with pytest.raises(UsageError, match="scale must be positive"):
        wl.catalogue(scale=0)


def test_values_units_and_the_one_second_minimum():
    cpu = wl.catalogue(["cpu"], scale=0.6)[0]                              # 600 M rounds
    assert cpu.clock == "cpu" and cpu.value(1.5) == pytest.approx(400.0)  # Mrounds/s
    mem = wl.catalogue(["memory"], scale=16 / 110)[0]                      # 16 passes of 64 MiB = 1 GiB
    assert mem.value(1.25) == pytest.approx(0.8)                           # GiB/s
    sysc = wl.catalogue(["syscall"], scale=1500 / 6500)[0]                 # 1500 thousand getppid
    assert sysc.value(1.5) == pytest.approx(1000.0)                        # ns per syscall
    proc = wl.catalogue(["process"])[0]                                    # 1500 processes
    assert proc.clock == "wall" and proc.value(1.5) == pytest.approx(1000.0)   # µs per process
    assert cpu.value(0.99) is None                                         # under 1 s: no number


def test_parser_reads_every_kind_of_line():
    ws = wl.catalogue(["cpu", "process", "net-rtt"])
    text = "\n".join([
        "noise before", "@@wl env timer=/t bb=/bin/busybox wldir=/tmp peer=10.76.0.1",
        "@@wl cpu 1 rc=0 @@t work=1000 ns=1700000000 cpu_ns=1500000000 rc=0 check=ab",
        "@@wl process 1 rc=0 @@t work=1 ns=1500000000 cpu_ns=900000000 rc=0",
        "@@wl net-rtt 1 rc=0 PING 10.76.0.1 (10.76.0.1): 56 data bytes --- 10.76.0.1 ping "
        "statistics --- 200 packets transmitted, 200 packets received, 0% packet loss round-trip "
        "min/avg/max = 0.010/0.023/0.150 ms @@t work=1 ns=1100000000 cpu_ns=50000000 rc=0",
        "@@wl cpu 2 rc=0 @@t work=1000 ns=1200000000 cpu_ns=400000000 rc=0 check=ab",
        "@@wl process 2 rc=0 @@t work=1 ns=1500000000 cpu_ns=900000000 rc=1",
        "@@wl net-rtt 2 skipped reason=no-peer",
        "@@wl cpu 3 rc=139",
        "@@wl done"])
    samples, env = wl.parse(text, ws)
    assert env == {"timer": "/t", "bb": "/bin/busybox", "wldir": "/tmp", "peer": "10.76.0.1"}
    got = {(s.workload, s.trial): s for s in samples}
    # cpu is reported from the CPU clock (1.5 s), not the wall clock (1.7 s)
    assert got["cpu", 1].status == "ok" and got["cpu", 1].value == pytest.approx(1000 / 1.5)
    assert got["cpu", 1].seconds == pytest.approx(1.7) and got["cpu", 1].cpu_seconds == pytest.approx(1.5)
    assert got["process", 1].value == pytest.approx(1.5 / 1500 * 1e6)     # wall clock
    assert got["net-rtt", 1].value == pytest.approx(23.0) and got["net-rtt", 1].detail == "200/200 replies"
    assert got["cpu", 2].status == "too-fast" and got["cpu", 2].value is None and "0.400 s" in got["cpu", 2].detail
    assert got["process", 2].status == "failed" and "exit 1" in got["process", 2].detail
    assert got["net-rtt", 2].status == "skipped" and got["net-rtt", 2].detail == "no-peer"
    assert got["cpu", 3].status == "failed" and "no timer line" in got["cpu", 3].detail


def test_parser_refuses_a_cut_short_run():
    with pytest.raises(UsageError, match="cut short"):
        wl.parse("@@wl cpu 1 rc=0 @@t work=1 ns=1 cpu_ns=1 rc=0\n", wl.catalogue(["cpu"]))


def test_overhead_pct_points_the_right_way():
    assert overhead.overhead_pct(100, 50, True) == pytest.approx(100)     # half the throughput: +100 %
    assert overhead.overhead_pct(10, 13, False) == pytest.approx(30)      # 30 % more µs per op
    assert overhead.overhead_pct(100, 125, True) == pytest.approx(-20)    # faster than the host
    assert overhead.overhead_pct(None, 1, True) is None


def test_script_runs_under_real_busybox_with_the_real_timer(tmp_path):
    ws = wl.catalogue(["cpu", "syscall", "file-write", "net-rtt"], scale=0.01)
    done = subprocess.run([BUSYBOX, "sh", "-c", wl.script(ws, 2)], capture_output=True, text=True, timeout=60,
                          env={"BB": BUSYBOX, "T": str(timer.ensure()), "WLDIR": str(tmp_path), "PEER": "",
                               "PATH": "/usr/bin:/bin"})
    samples, env = wl.parse(done.stdout, ws)
    assert env["wldir"] == str(tmp_path)
    assert sorted({(s.workload, s.trial) for s in samples}) == sorted(
        (w.name, t) for w in ws for t in (1, 2))
    # a hundredth of the work runs far under a second: every timed run is refused, none is a number
    timed = [s for s in samples if s.workload != "net-rtt"]
    assert {s.status for s in timed} == {"too-fast"} and all(s.seconds > 0 and s.cpu_seconds > 0 for s in timed)
    assert {s.status for s in samples if s.workload == "net-rtt"} == {"skipped"}   # no peer: labelled, no number
    assert not list(tmp_path.iterdir())                                             # the data file was removed


def test_timer_counts_cpu_time_and_reports_a_failed_command():
    t = str(timer.ensure())
    out = subprocess.run([t, "syscall", "20"], capture_output=True, text=True, check=True).stdout
    m = re.match(r"@@t work=20 ns=(\d+) cpu_ns=(\d+) rc=0 check=", out)
    assert m and 0 < int(m[2]) <= int(m[1]) * 1.05                 # CPU time never (much) exceeds elapsed time
    out = subprocess.run([t, "exec", "/bin/sh", "-c", "exit 3"], capture_output=True, text=True).stdout
    assert re.match(r"@@t work=1 ns=\d+ cpu_ns=\d+ rc=3$", out.strip())
    bad = subprocess.run([t, "nothing", "1"], capture_output=True, text=True)
    assert bad.returncode == 64 and "usage" in bad.stderr
