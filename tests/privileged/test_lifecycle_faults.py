"""Concurrency and crashes: 50 parallel ``run -d``; SIGKILL of the CLI and of the monitor
at several points of start and stop; then the status must be truthful and ``prune`` /
``rm -f`` must leave the host clean (checked by the leak census)."""

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from census import cgroups_of, census, monitor_processes, wait_for
from test_lifecycle import mc, ok


def ps_all(cli, root):
    text = ok(mc(cli, root, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}} {{.Status}}"))
    return [line.split(" ", 2) for line in text.splitlines()]


def pid_of(cli, root, ref):
    return json.loads(ok(mc(cli, root, "inspect", ref)))[0]["State"]["Pid"]


def monitor_of(root, cid):
    for line in monitor_processes(root):
        pid, argv = line.split(" ", 1)
        if argv.split()[0].endswith("mc-monitor") and cid in argv:
            return int(pid)
    return None


def assert_truthful(cli, root):
    """Never 'Up' for a container whose PID 1 is gone."""
    for cid, st, status in ps_all(cli, root):
        if status.startswith("Up"):
            pid = pid_of(cli, root, cid)
            assert pid and os.path.exists(f"/proc/{pid}"), (cid, st, status)


def assert_clean(root, ids):
    assert not cgroups_of(ids), cgroups_of(ids)
    left = census(root)
    assert not left["mounts"] and not left["monitors"], left
    assert [e for e in left["containers"] if not e.startswith(".")] == [], left["containers"]


def test_fifty_parallel_detached_runs_then_rm(cli, state_root):
    veths_before = set(census(state_root)["veths"])

    def start(i):
        return mc(cli, state_root, "run", "-d", "--network", "none", "busybox", "sleep", "120", timeout=120)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(start, range(50)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    ids = [r.stdout.strip() for r in results]
    assert len(set(ids)) == 50
    rows = ok(mc(cli, state_root, "ps", "--format", "{{.Names}} {{.Status}}")).splitlines()
    names = [r.split()[0] for r in rows]
    assert len(names) == 50 and len(set(names)) == 50
    assert all(" Up " in f" {r} " for r in rows)
    with ThreadPoolExecutor(max_workers=16) as pool:
        removed = list(pool.map(lambda cid: mc(cli, state_root, "rm", "-f", cid, timeout=120), ids))
    assert all(r.returncode == 0 for r in removed), [r.stderr for r in removed if r.returncode]
    assert ok(mc(cli, state_root, "ps", "-a", "-q")) == ""
    assert wait_for(lambda: not census(state_root)["monitors"], 20)
    assert_clean(state_root, ids)
    assert set(census(state_root)["veths"]) <= veths_before


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.12, 0.25, "printed"])
def test_sigkill_run_cli_during_start(cli, state_root, delay):
    proc = subprocess.Popen([cli, "--root", str(state_root), "run", "-d", "--network", "bridge", "busybox",
                             "sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if delay == "printed":
            proc.stdout.readline()
        else:
            time.sleep(delay)
    finally:
        proc.kill()
        proc.communicate()
    time.sleep(0.5)   # whatever the monitor and reaper were doing, let it settle
    assert_truthful(cli, state_root)
    ids = [row[0] for row in ps_all(cli, state_root)]
    ids += [d.split("-", 1)[-1] for d in os.listdir(state_root / "containers") if d.startswith(".")] \
        if (state_root / "containers").exists() else []
    ok(mc(cli, state_root, "system", "prune", "-f"))
    for cid in [row[0] for row in ps_all(cli, state_root)]:
        ok(mc(cli, state_root, "rm", "-f", cid))
    assert wait_for(lambda: not census(state_root)["monitors"], 10)
    assert_clean(state_root, ids)


def test_killed_monitor_means_dead_and_prune_cleans(cli, state_root):
    cid = ok(mc(cli, state_root, "run", "-d", "--network", "bridge", "--name", "orphan", "busybox",
                "sleep", "60")).strip()
    pid = pid_of(cli, state_root, cid)
    monitor = monitor_of(state_root, cid)
    assert monitor, monitor_processes(state_root)
    os.kill(monitor, signal.SIGKILL)
    assert wait_for(lambda: ps_all(cli, state_root)[0][2] == "Dead", 10), ps_all(cli, state_root)
    assert not os.path.exists(f"/proc/{pid}")        # PID 1 died with its monitor (PR_SET_PDEATHSIG)
    assert cgroups_of([cid])                         # ... but nobody reaped: the cgroup is left
    report = ok(mc(cli, state_root, "system", "prune", "-f"))
    assert "Containers:" in report and cid in report
    assert ok(mc(cli, state_root, "ps", "-a", "-q")) == ""
    assert_clean(state_root, [cid])
    net = state_root / "networks" / "endpoints"
    assert not net.exists() or not os.listdir(net)


def test_sigkill_stop_cli_midway(cli, state_root):
    """stop sends SIGTERM, then waits: killing the stop CLI must not leave a lying status."""
    ok(mc(cli, state_root, "run", "-d", "--network", "none", "--name", "slow", "busybox", "sh", "-c",
          "trap 'sleep 0.5; exit 5' TERM; while :; do sleep 0.1; done"))
    ignore = ok(mc(cli, state_root, "run", "-d", "--network", "none", "--name", "deaf", "busybox", "sh", "-c",
                   "trap '' TERM; while :; do sleep 0.1; done")).strip()
    for name in ("slow", "deaf"):
        proc = subprocess.Popen([cli, "--root", str(state_root), "stop", "-t", "5", name],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        proc.kill()
        proc.wait()
    assert wait_for(lambda: dict((r[0][:12], r[2]) for r in ps_all(cli, state_root))
                    .get(ids_of(cli, state_root)["slow"][:12], "").startswith("Exited (5)"), 10)
    rows = {r[0]: r[2] for r in ps_all(cli, state_root)}
    assert rows[ignore].startswith("Up")             # it ignored SIGTERM and nobody sent SIGKILL
    assert_truthful(cli, state_root)
    ok(mc(cli, state_root, "rm", "-f", "slow", "deaf"))
    assert wait_for(lambda: not census(state_root)["monitors"], 10)
    assert_clean(state_root, list(rows))


def ids_of(cli, root):
    text = ok(mc(cli, root, "ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}"))
    return dict(line.split() for line in text.splitlines())


def test_prune_sweeps_crash_leftovers(cli, state_root):
    """Leftovers no command would ever clean: a half-created dir, a half-removed dir, an
    unreadable record whose container still runs (its cgroup and processes too)."""
    cid = ok(mc(cli, state_root, "run", "-d", "--network", "none", "busybox", "sleep", "60")).strip()
    pid = pid_of(cli, state_root, cid)
    cdir = state_root / "containers"
    (cdir / cid / "state.json").write_text("{ torn")       # a crash mid-write of a filesystem without rename
    (cdir / (".new-" + "a" * 64)).mkdir()
    (cdir / (".rm-" + "b" * 64)).mkdir()
    (cdir / cid / f".state.json.{2 ** 22 + 1}").write_text("{}")
    kept = ok(mc(cli, state_root, "run", "-d", "--network", "none", "--name", "keep", "busybox",
                 "sleep", "60")).strip()
    report = ok(mc(cli, state_root, "system", "prune", "-f"))
    assert "State dirs:" in report and cid in report
    assert "Cgroups:" in report
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10)
    assert not cgroups_of([cid])
    assert [e for e in os.listdir(cdir) if not e.startswith(".")] == [kept]
    assert ps_all(cli, state_root)[0][2].startswith("Up")   # a running container is never pruned
    again = ok(mc(cli, state_root, "container", "prune", "-f"))
    assert "Nothing to remove" in again
    ok(mc(cli, state_root, "rm", "-f", "keep"))
    assert wait_for(lambda: not census(state_root)["monitors"], 10)
    assert_clean(state_root, [cid, kept])


def test_prune_without_force_needs_a_terminal(cli, state_root):
    res = mc(cli, state_root, "system", "prune")
    assert res.returncode == 1 and "without -f" in res.stderr
