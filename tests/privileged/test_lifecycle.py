"""Every lifecycle verb through the real CLI, with Docker's exit codes and one-line errors.

create/start/stop/restart/kill/wait/pause/unpause/rename/exec/logs/top/inspect/ps/rm,
volumes (-v bind, :ro, named, anonymous, --tmpfs; volume create/ls/inspect/rm/prune),
cp in both directions for running and stopped containers, and the bad-input cases.
"""

import json
import os
import subprocess
import time


from census import cgroups_of, monitor_processes, wait_for


def mc(cli, root, *args, input=None, timeout=60):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True,
                          input=input, timeout=timeout)


def ok(res):
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    return res.stdout


def one_line_error(res, code, *words):
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minicontainer: "), res.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def detached(cli, root, *args):
    return ok(mc(cli, root, "run", "-d", "--network", "none", *args)).strip()


def state(cli, root, ref):
    return json.loads(ok(mc(cli, root, "inspect", ref)))[0]["State"]


# ----------------------------------------------------------------------------- verbs
def test_create_start_wait_logs_inspect(cli, state_root):
    cid = ok(mc(cli, state_root, "create", "--network", "none", "--name", "c1", "busybox",
                "sh", "-c", "echo out; echo err >&2; exit 3")).strip()
    assert len(cid) == 64
    assert "Created" in ok(mc(cli, state_root, "ps", "-a", "--filter", "name=c1"))
    assert ok(mc(cli, state_root, "start", "c1")).strip() == "c1"
    assert ok(mc(cli, state_root, "wait", "c1")).strip() == "3"
    logs = mc(cli, state_root, "logs", "c1")
    assert logs.stdout == "out\n" and logs.stderr == "err\n"
    st = state(cli, state_root, cid[:5])
    assert st["Status"] == "exited" and st["ExitCode"] == 3 and st["Pid"] == 0
    assert ok(mc(cli, state_root, "ps", "-a", "--filter", "exited=3", "-q")).strip() == cid[:12]
    assert not cgroups_of([cid])


def test_stop_restart_kill_pause_unpause_rename_top(cli, state_root):
    cid = detached(cli, state_root, "--name", "svc", "busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    assert state(cli, state_root, "svc")["Running"]
    top = ok(mc(cli, state_root, "top", "svc"))
    assert "PID" in top.splitlines()[0] and "sh -c" in top
    assert ok(mc(cli, state_root, "pause", "svc")).strip() == "svc"
    assert "(Paused)" in ok(mc(cli, state_root, "ps"))
    one_line_error(mc(cli, state_root, "stop", "svc"), 1, "paused")
    ok(mc(cli, state_root, "unpause", "svc"))
    ok(mc(cli, state_root, "rename", "svc", "svc2"))
    t0 = time.monotonic()
    assert ok(mc(cli, state_root, "stop", "-t", "5", "svc2")).strip() == "svc2"
    assert time.monotonic() - t0 < 4, "the TERM trap should have ended it well before the grace period"
    assert state(cli, state_root, "svc2")["ExitCode"] == 7
    ok(mc(cli, state_root, "restart", "-t", "1", "svc2"))
    assert state(cli, state_root, cid)["Running"]
    ok(mc(cli, state_root, "kill", "-s", "KILL", "svc2"))
    assert ok(mc(cli, state_root, "wait", "svc2")).strip() == "137"
    assert "Exited (137)" in ok(mc(cli, state_root, "ps", "-a"))
    ok(mc(cli, state_root, "rm", "svc2"))
    assert not cgroups_of([cid]) and not monitor_processes(state_root)


def test_exec_env_workdir_and_exit_codes(cli, state_root):
    detached(cli, state_root, "--name", "ex", "busybox", "sleep", "60")
    out = ok(mc(cli, state_root, "exec", "-e", "A=b", "-w", "/tmp", "ex", "sh", "-c", "echo $A $(pwd) $$"))
    a, cwd, pid = out.split()
    assert (a, cwd) == ("b", "/tmp") and int(pid) > 1
    assert mc(cli, state_root, "exec", "ex", "sh", "-c", "exit 4").returncode == 4
    assert mc(cli, state_root, "exec", "ex", "nosuchcmd").returncode == 127
    ok(mc(cli, state_root, "rm", "-f", "ex"))


def test_ps_format_filter_and_no_trunc(cli, state_root):
    a = detached(cli, state_root, "--name", "alpha", "busybox", "sleep", "60")
    ok(mc(cli, state_root, "run", "--network", "none", "--name", "beta", "busybox", "true"))
    lines = ok(mc(cli, state_root, "ps", "-a", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.State}}")).splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "NAMES", "STATE"]
    assert len(lines) == 3
    assert ok(mc(cli, state_root, "ps", "--format", "{{.Names}} {{.Image}}")).strip() == "alpha busybox"
    assert ok(mc(cli, state_root, "ps", "-q", "--no-trunc")).strip() == a
    assert ok(mc(cli, state_root, "ps", "--filter", "status=exited", "--format", "{{.Names}}")).strip() == "beta"
    assert ok(mc(cli, state_root, "ps", "-a", "--filter", "name=alpha", "--filter", "name=beta", "-q")).split() \
        .__len__() == 2
    assert ok(mc(cli, state_root, "ps", "-a", "--filter", "ancestor=busybox", "--filter", f"id={a[:6]}",
                 "-q")).strip() == a[:12]
    row = json.loads(ok(mc(cli, state_root, "ps", "--format", "json")))
    assert row["Names"] == "alpha" and row["Status"].startswith("Up")
    one_line_error(mc(cli, state_root, "ps", "--format", "{{.Nope}}"), 1, "can't evaluate field Nope")
    one_line_error(mc(cli, state_root, "ps", "--filter", "colour=red"), 1, "invalid filter")
    ok(mc(cli, state_root, "rm", "-f", "alpha", "beta"))


# ----------------------------------------------------------------------------- bad input
def test_unknown_ambiguous_stopped_paused(cli, state_root):
    ids = set()
    while True:  # two containers whose IDs share a first hex digit: that digit is ambiguous
        ids.add(ok(mc(cli, state_root, "create", "--network", "none", "busybox", "true")).strip())
        firsts = [i[0] for i in ids]
        dup = next((d for d in firsts if firsts.count(d) > 1), None)
        if dup:
            break
    for verb in ("start", "stop", "kill", "pause", "rm", "logs", "top", "inspect", "wait"):
        one_line_error(mc(cli, state_root, verb, "nosuch"), 1, "nosuch")
    one_line_error(mc(cli, state_root, "exec", "nosuch", "true"), 1, "no such container")
    one_line_error(mc(cli, state_root, "start", dup), 1, "multiple IDs")
    one_line_error(mc(cli, state_root, "exec", sorted(ids)[0], "true"), 1, "is created")
    ok(mc(cli, state_root, "run", "--network", "none", "--name", "done", "busybox", "true"))
    one_line_error(mc(cli, state_root, "exec", "done", "true"), 1, "is exited")
    one_line_error(mc(cli, state_root, "pause", "done"), 1, "is exited")
    one_line_error(mc(cli, state_root, "cp", "nosuch:/etc/passwd", "/tmp/x"), 1, "no such container")
    one_line_error(mc(cli, state_root, "run", "--name", "done", "busybox", "true"), 125, "already in use")


def test_bad_volume_flags_create_nothing(cli, state_root, tmp_path):
    for flags in (["-v", "relative/dir:/x"], ["-v", str(tmp_path / "missing") + ":/x"], ["-v", "/x:rel"],
                  ["-v", str(tmp_path) + ":/x:rx"], ["--tmpfs", "/t:bogus=1"], ["-v", "/a", "-v", "v:/a"]):
        one_line_error(mc(cli, state_root, "run", "--rm", *flags, "busybox", "true"), 125, "")
    cdir = state_root / "containers"
    assert not cdir.exists() or [e for e in os.listdir(cdir) if e != ".lock"] == []
    assert not (state_root / "volumes").exists() or not [v for v in os.listdir(state_root / "volumes")
                                                         if not v.startswith(".")]


# ----------------------------------------------------------------------------- volumes
def test_bind_ro_named_anonymous_and_tmpfs(cli, state_root, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    script = ("cat /h/in; echo new > /h/out; echo x > /ro/in 2>/dev/null || echo ro-refused;"
              " echo kept > /named/f; touch /anon/a; grep -c ' /scratch ' /proc/self/mountinfo;"
              " echo x > /scratch/f && echo tmpfs-ok")
    cid = ok(mc(cli, state_root, "run", "--network", "none", "--name", "v", "-v", f"{host}:/h",
                "-v", f"{host}:/ro:ro", "-v", "data:/named", "-v", "/anon", "--tmpfs", "/scratch:size=1m",
                "busybox", "sh", "-c", script)).split()
    assert cid == ["from", "host", "ro-refused", "1", "tmpfs-ok"]
    assert (host / "out").read_text() == "new\n"
    assert "data" in ok(mc(cli, state_root, "volume", "ls", "-q")).split()
    info = json.loads(ok(mc(cli, state_root, "volume", "inspect", "data")))[0]
    assert open(os.path.join(info["Mountpoint"], "f")).read() == "kept\n" and info["UsedBy"] == ["v"]
    mounts = json.loads(ok(mc(cli, state_root, "inspect", "v")))[0]["Mounts"]
    assert {m["Type"] for m in mounts} == {"bind", "volume", "tmpfs"}
    assert [m["RW"] for m in mounts if m["Destination"] == "/ro"] == [False]
    one_line_error(mc(cli, state_root, "volume", "rm", "data"), 1, "in use")
    # a second container sees the named volume's data
    assert ok(mc(cli, state_root, "run", "--rm", "--network", "none", "-v", "data:/d:ro", "busybox",
                 "cat", "/d/f")) == "kept\n"
    anon = [v for v in ok(mc(cli, state_root, "volume", "ls", "-q")).split() if v != "data"]
    assert len(anon) == 1 and len(anon[0]) == 64
    ok(mc(cli, state_root, "rm", "-v", "v"))
    assert ok(mc(cli, state_root, "volume", "ls", "-q")).split() == ["data"]
    ok(mc(cli, state_root, "volume", "rm", "data"))
    one_line_error(mc(cli, state_root, "volume", "rm", "data"), 1, "no such volume")
    ok(mc(cli, state_root, "volume", "rm", "-f", "data"))
    assert ok(mc(cli, state_root, "volume", "create", "made")).strip() == "made"
    ok(mc(cli, state_root, "volume", "prune", "-a"))
    assert ok(mc(cli, state_root, "volume", "ls", "-q")).strip() == ""


def test_volume_target_symlink_stays_inside_the_container(cli, state_root, tmp_path):
    """A symlink /link -> /etc/mc-target in the container must put the mount on the
    container's /etc/mc-target: followed from the host, it would mount over the host's."""
    host = tmp_path / "h"
    host.mkdir()
    (host / "marker").write_text("m\n")
    cid = ok(mc(cli, state_root, "create", "--network", "none", "--name", "mk", "-v", f"{host}:/link", "busybox",
                "sh", "-c", "cat /etc/mc-target/marker; readlink /link")).strip()
    os.symlink("/etc/mc-target", state_root / "containers" / cid / "upper" / "link")
    res = mc(cli, state_root, "start", "-a", "mk")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "m\n/etc/mc-target\n"
    assert not os.path.exists("/etc/mc-target")
    ok(mc(cli, state_root, "rm", "mk"))


# ----------------------------------------------------------------------------- cp
def test_cp_running_and_stopped(cli, state_root, tmp_path):
    detached(cli, state_root, "--name", "box", "busybox", "sh", "-c",
             "mkdir -p /srv/d && echo inner > /srv/d/f && ln -s /etc /srv/etc && sleep 60")
    assert wait_for(lambda: mc(cli, state_root, "exec", "box", "test", "-L", "/srv/etc").returncode == 0)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("A\n")
    (src / "sub").mkdir()
    (src / "sub" / "b.txt").write_text("B\n")
    ok(mc(cli, state_root, "cp", str(src), "box:/srv/in"))
    assert ok(mc(cli, state_root, "exec", "box", "cat", "/srv/in/a.txt", "/srv/in/sub/b.txt")) == "A\nB\n"
    # out of the container, through its symlink: the container's /etc/hostname, never the host's
    ok(mc(cli, state_root, "cp", "box:/srv/etc/hostname", str(tmp_path / "hn")))
    assert (tmp_path / "hn").read_text().strip() == ok(mc(cli, state_root, "exec", "box", "hostname")).strip()
    assert (tmp_path / "hn").read_text() != open("/etc/hostname").read()
    # a link is copied as a link
    ok(mc(cli, state_root, "cp", "box:/srv/etc", str(tmp_path / "link")))
    assert os.readlink(tmp_path / "link") == "/etc"
    # writing through the container's /srv/etc link lands in the container's /etc
    (tmp_path / "probe").write_text("p\n")
    ok(mc(cli, state_root, "cp", str(tmp_path / "probe"), "box:/srv/etc/mc-probe"))
    assert not os.path.exists("/etc/mc-probe")
    assert ok(mc(cli, state_root, "exec", "box", "cat", "/etc/mc-probe")) == "p\n"
    ok(mc(cli, state_root, "stop", "-t", "0", "box"))
    # stopped: read the layers + upper through a private overlay mount
    ok(mc(cli, state_root, "cp", "box:/srv/d/.", str(tmp_path / "copy")))
    assert (tmp_path / "copy" / "f").read_text() == "inner\n"
    ok(mc(cli, state_root, "cp", str(tmp_path / "probe"), "box:/probe2"))
    ok(mc(cli, state_root, "cp", "box:/bin/busybox", str(tmp_path)))
    assert os.path.getsize(tmp_path / "busybox") > 100_000
    one_line_error(mc(cli, state_root, "cp", "box:/nope", str(tmp_path)), 1, "could not find")
    one_line_error(mc(cli, state_root, "cp", str(tmp_path / "probe"), "box:/no/such/dir/x"), 1, "could not find")
    ok(mc(cli, state_root, "start", "box"))
    assert ok(mc(cli, state_root, "exec", "box", "cat", "/probe2")) == "p\n"
    ok(mc(cli, state_root, "rm", "-f", "box"))
    assert str(state_root) not in open("/proc/self/mountinfo").read()


def test_a_warm_process_removes_an_rm_container_at_its_exit(cli, state_root):
    """runtime.watch.reap_when_exited (the engine's fast --rm): the exit code, the container gone
    at once, and the monitor's own cleanup command, arriving later, finds nothing left to do."""
    from minicontainer.runtime import Runtime
    from minicontainer.runtime.watch import reap_when_exited
    rt = Runtime(state_root)
    cid = detached(cli, state_root, "--rm", "busybox", "sh", "-c", "sleep 0.3; exit 5")
    assert reap_when_exited(rt, cid) == 5
    assert rt.containers.list() == []
    assert wait_for(lambda: not monitor_processes(state_root), 15)   # the monitor's reaper ran, and left
    assert cgroups_of([cid]) == []
    kept = detached(cli, state_root, "busybox", "true")           # not --rm: left to the record
    assert reap_when_exited(rt, kept) is None
    ok(mc(cli, state_root, "rm", "-f", kept))
