"""minicontainer-runc against runc 1.1: the same bundle, the same verbs, the same answers.

Each test runs the same OCI bundle (a plain busybox root directory) under runc and under
minicontainer-runc, and compares what both say (state JSON, exit statuses per lifecycle
state) and what the container sees from inside. Containers get unique ids and their own
``--root``; a fixture deletes whatever a test left and checks no process or cgroup remains.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

RUNC = shutil.which("runc")
OURS = str(Path(sys.executable).parent / "minicontainer-runc")
pytestmark = pytest.mark.skipif(RUNC is None, reason="runc is not installed (Debian package runc)")


class Runtime:
    """One runtime binary with its own --root."""

    def __init__(self, binary: str, root: Path):
        self.binary, self.root = binary, root
        self.ids: list[str] = []

    def __call__(self, *args, check=False, timeout=30, **kw):
        # files, not pipes: a created container keeps the caller's streams (a pipe would never end)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run([self.binary, "--root", str(self.root), *args], stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=err, timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            res = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
        if check and res.returncode != 0:
            raise AssertionError(f"{self.binary} {args}: {res.stderr}")
        return res

    def state(self, cid):
        res = self("state", cid)
        return json.loads(res.stdout) if res.returncode == 0 else None

    def wait_status(self, cid, status, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.state(cid)
            if (st or {}).get("status") == status:
                return st
            time.sleep(0.02)
        raise AssertionError(f"{cid} never reached {status}: {self.state(cid)}")


def _cgroup_dirs(name: str) -> list[str]:
    """Every v1/v2 cgroup directory ending in ``name`` below our own cgroups."""
    out = []
    for line in open("/proc/self/cgroup").read().splitlines():
        _, ctrls, path = line.split(":", 2)
        ctrl = ctrls.split(",")[0].replace("name=", "") or "unified"
        for base in {Path("/sys/fs/cgroup") / ctrl / path.lstrip("/"), Path("/sys/fs/cgroup") / ctrl}:
            out += [str(p) for p in base.glob(f"**/{name}") if p.is_dir()]
    return out


@pytest.fixture
def rootfs(image_root, tmp_path_factory):
    from minicontainer.images.store import ImageStore
    img = ImageStore(image_root).resolve("busybox")
    dest = tmp_path_factory.mktemp("rootfs") / "rootfs"
    shutil.copytree(img.layer_dirs[-1], dest, symlinks=True)
    return dest


@pytest.fixture
def runtimes(tmp_path):
    """(runc, ours), each with its own --root; afterwards nothing may remain of either."""
    pair = [Runtime(RUNC, tmp_path / "runc-root"), Runtime(OURS, tmp_path / "ours-root")]
    yield pair
    left = []
    for rt in pair:
        for cid in rt.ids:
            if rt.state(cid) is not None:
                rt("delete", "--force", cid)
            if rt.state(cid) is not None:
                left.append(f"{rt.binary}: container {cid}")
            left += _cgroup_dirs(cid)
    assert not left, f"left behind: {left}"


def bundle(tmp_path: Path, rootfs: Path, args, **changes) -> Path:
    """A bundle with ``runc spec``'s config (terminal off, root writable), then ``changes``.
    Every directory on its path is searchable, so a user namespace's root (an ordinary host
    uid) can reach the root filesystem."""
    b = tmp_path / f"bundle-{uuid.uuid4().hex[:6]}"
    b.mkdir()
    for parent in [b, *b.parents]:
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o755)
    shutil.copytree(rootfs, b / "rootfs", symlinks=True)   # runc refuses a root that is a symlink
    subprocess.run([OURS, "spec", "--bundle", str(b)], check=True)
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"].update(terminal=False, args=list(args))
    cfg["root"]["readonly"] = False
    for key, value in changes.items():
        target = cfg
        *path, last = key.split("__")
        for part in path:
            target = target.setdefault(part, {})
        target[last] = value
    (b / "config.json").write_text(json.dumps(cfg))
    return b


def new_id(rt: Runtime) -> str:
    cid = f"mcr-{uuid.uuid4().hex[:10]}"
    rt.ids.append(cid)
    return cid


def run_both(runtimes, tmp_path, rootfs, args, **changes):
    """``run`` the same bundle under both runtimes: [(exit status, stdout), ...]."""
    out = []
    b = bundle(tmp_path, rootfs, args, **changes)
    for rt in runtimes:
        res = rt("run", "--bundle", str(b), new_id(rt))
        out.append((res.returncode, res.stdout, res.stderr))
    return out


# ----------------------------------------------------------------------------- lifecycle
def test_lifecycle_and_errors_match_runc(runtimes, tmp_path, rootfs):
    # PID 1 of a namespace gets only the signals it handles (pid_namespaces(7)): a trap for TERM
    b = bundle(tmp_path, rootfs, ["sh", "-c", "trap 'exit 0' TERM; sleep 30 & wait"])
    seen = []
    for rt in runtimes:
        cid = new_id(rt)
        steps = []
        steps.append(("create", rt("create", "--bundle", str(b), "--pid-file", str(tmp_path / f"{cid}.pid"),
                                   cid).returncode))
        st = rt.state(cid)
        assert st["pid"] == int((tmp_path / f"{cid}.pid").read_text())
        assert Path(f"/proc/{st['pid']}").exists()
        steps.append(("state", st["status"], st["id"] == cid, st["bundle"] == str(b), st["ociVersion"][:3]))
        steps.append(("delete created", rt("delete", cid).returncode))   # runc deletes a created container
        steps.append(("state gone", rt("state", cid).returncode))
        cid = new_id(rt)
        rt("create", "--bundle", str(b), cid, check=True)
        steps.append(("start", rt("start", cid).returncode, rt.state(cid)["status"]))
        steps.append(("start twice", rt("start", cid).returncode))
        steps.append(("delete running", rt("delete", cid).returncode, rt.state(cid)["status"]))
        steps.append(("pause", rt("pause", cid).returncode, rt.state(cid)["status"]))
        steps.append(("resume", rt("resume", cid).returncode, rt.state(cid)["status"]))
        steps.append(("kill TERM", rt("kill", cid, "TERM").returncode, rt.wait_status(cid, "stopped")["pid"]))
        steps.append(("kill stopped", rt("kill", cid, "15").returncode))
        steps.append(("delete stopped", rt("delete", cid).returncode, rt("state", cid).returncode))
        cid = new_id(rt)
        rt("create", "--bundle", str(b), cid, check=True)
        steps.append(("kill created", rt("kill", cid, "SIGKILL").returncode, rt.wait_status(cid, "stopped")["status"]))
        steps.append(("delete --force", rt("delete", "--force", cid).returncode))
        seen.append(steps)
    assert seen[1] == seen[0]


def test_run_output_and_exit_status_match_runc(runtimes, tmp_path, rootfs):
    (runc_rc, runc_out, _), (our_rc, our_out, _) = run_both(runtimes, tmp_path, rootfs,
                                                            ["sh", "-c", "echo hi; exit 3"])
    assert (our_rc, our_out) == (runc_rc, runc_out) == (3, "hi\n")


@pytest.mark.parametrize("changes", [
    {"process__args": ["sh", "-c", "hostname; id; pwd; echo $A; grep -E '^(Cap|NoNewPrivs)' /proc/self/status"],
     "hostname": "box", "process__cwd": "/tmp", "process__env": ["A=1", "PATH=/bin"],
     "process__user": {"uid": 1000, "gid": 1000, "additionalGids": [10]}},
    {"process__args": ["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj"],
     "process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 800}], "process__oomScoreAdj": 300},
    {"process__args": ["sh", "-c", "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward"],
     "linux__sysctl": {"kernel.shmmni": "1000", "net.ipv4.ip_forward": "1"}},
    {"process__args": ["sh", "-c", "wc -c < /proc/kcore; echo x > /proc/sys/kernel/domainname; echo $?"]},
    {"process__args": ["sh", "-c", "grep ' /data ' /proc/mounts | cut -d' ' -f3,4; touch /data/x; echo $?"],
     "mounts": "+tmpfs"},
    {"process__args": ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"],
     "linux__uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
     "linux__gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}], "namespaces": "+user"},
    {"process__args": ["sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                       "cat /proc/self/cgroup | grep -c memory"],
     "linux__resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}},
    {"process__args": ["sh", "-c", "ls -ln /dev/mynull | cut -c1-10; stat -c '%t:%T %u:%g' /dev/mynull; "
                       "echo hi > /dev/mynull; echo $?; head -c 3 /dev/zero | wc -c"],
     "linux__devices": [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
                         "uid": 0, "gid": 0}],
     "linux__resources": {"devices": [{"allow": False, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                                      {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]}},
    {"process__args": ["sh", "-c", "awk '$5 == \"/hostdir\" {print $6}' /proc/self/mountinfo; cat /hostdir/f; "
                       "touch /hostdir/g 2>/dev/null; echo $?"],
     "mounts": "+bind"},
    {"process__args": ["sh", "-c", "wc -c < /etc/passwd; touch /etc/x 2>/dev/null; echo $?; touch /tmp/x; echo $?"],
     "linux__maskedPaths": ["/etc/passwd"], "linux__readonlyPaths": ["/etc"]},
    {"process__args": ["sh", "-c", "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"],
     "process__capabilities": {k: ["CAP_CHOWN", "CAP_NET_RAW"] for k in
                               ("bounding", "effective", "permitted", "inheritable", "ambient")},
     "process__noNewPrivileges": False},
], ids=["user-cwd-env-caps", "rlimits-oom", "sysctl", "masked-readonly", "mounts", "userns", "resources",
        "devices", "bind-ro-rprivate", "custom-masked-readonly", "caps-no-nnp"])
def test_inside_view_matches_runc(runtimes, tmp_path, rootfs, changes):
    changes = dict(changes)
    b0 = bundle(tmp_path, rootfs, ["true"])
    cfg = json.loads((b0 / "config.json").read_text())
    kind = changes.pop("mounts", None)
    if kind == "+tmpfs":
        changes["mounts"] = cfg["mounts"] + [{"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                              "options": ["nosuid", "nodev", "ro", "size=1m"]}]
    elif kind == "+bind":
        shared = tmp_path / "shared"
        shared.mkdir()
        (shared / "f").write_text("from the host\n")
        changes["mounts"] = cfg["mounts"] + [{"destination": "/hostdir", "type": "bind", "source": str(shared),
                                              "options": ["rbind", "ro", "rprivate"]}]
    if changes.pop("namespaces", None) == "+user":
        changes["linux__namespaces"] = cfg["linux"]["namespaces"] + [{"type": "user"}]
    (runc_rc, runc_out, runc_err), (our_rc, our_out, our_err) = run_both(runtimes, tmp_path, rootfs,
                                                                         changes.pop("process__args"), **changes)
    assert (our_rc, our_out) == (runc_rc, runc_out), (runc_err, our_err)


def test_namespace_path_joins_an_existing_one(runtimes, tmp_path, rootfs):
    """linux.namespaces[].path: the container joins the network namespace of a process we made."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        time.sleep(0.2)
        path = f"/proc/{holder.pid}/ns/net"
        b0 = bundle(tmp_path, rootfs, ["true"])
        spaces = [n if n["type"] != "network" else {"type": "network", "path": path}
                  for n in json.loads((b0 / "config.json").read_text())["linux"]["namespaces"]]
        results = run_both(runtimes, tmp_path, rootfs, ["readlink", "/proc/self/ns/net"], linux__namespaces=spaces)
        expected = os.readlink(path) + "\n"
        assert [(rc, out) for rc, out, _ in results] == [(0, expected), (0, expected)], results
    finally:
        holder.kill()
        holder.wait()


def _cgroup_file(pid: int, controller: str, name: str) -> str:
    """A v1 cgroup file of process ``pid`` (the controller's hierarchy, as /proc/PID/cgroup names it)."""
    for line in open(f"/proc/{pid}/cgroup").read().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            return (Path("/sys/fs/cgroup") / ctrls / path.lstrip("/") / name).read_text().strip()
    pytest.skip(f"no v1 {controller} controller here (the v2 case is covered in the guest)")


def test_cpu_resources_land_in_the_cgroup_as_runc_puts_them(runtimes, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"],
               linux__resources={"cpu": {"quota": 25000, "period": 50000, "shares": 512}})
    seen = []
    for rt in runtimes:
        cid = new_id(rt)
        rt("run", "-d", "--bundle", str(b), cid, check=True)
        pid = rt.state(cid)["pid"]
        seen.append(tuple(_cgroup_file(pid, "cpu", f) for f in ("cpu.cfs_quota_us", "cpu.cfs_period_us",
                                                                 "cpu.shares")))
        rt("delete", "--force", cid, check=True)
    assert seen[1] == seen[0] == ("25000", "50000", "512")


@pytest.mark.parametrize("kind,unshare,probe", [
    ("uts", ["unshare", "--uts", "sh", "-c", "hostname from-the-holder; exec sleep 30"], ["hostname"]),
    ("ipc", ["unshare", "--ipc", "sleep", "30"], ["readlink", "/proc/self/ns/ipc"]),
])
def test_other_namespace_paths_join_as_in_runc(runtimes, tmp_path, rootfs, kind, unshare, probe):
    holder = subprocess.Popen(unshare)
    try:
        time.sleep(0.3)
        path = f"/proc/{holder.pid}/ns/{kind}"
        b0 = bundle(tmp_path, rootfs, ["true"])
        spaces = [n if n["type"] != kind else {"type": kind, "path": path}
                  for n in json.loads((b0 / "config.json").read_text())["linux"]["namespaces"]]
        cfg_changes = {"linux__namespaces": spaces}
        if kind == "uts":
            cfg_changes["hostname"] = ""          # a joined UTS namespace keeps its own name
        results = run_both(runtimes, tmp_path, rootfs, probe, **cfg_changes)
        expected = "from-the-holder\n" if kind == "uts" else os.readlink(path) + "\n"
        assert [(rc, out) for rc, out, _ in results] == [(0, expected), (0, expected)], results
    finally:
        holder.kill()
        holder.wait()


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("breakage", ["no-config", "bad-json", "bad-namespace", "escape", "version", "id-chars",
                                      "id-in-use"])
def test_bad_input_one_line_status_1_nothing_left(runtimes, tmp_path, rootfs, breakage):
    for rt in runtimes:
        b = bundle(tmp_path, rootfs, ["sleep", "5"])
        cfg = json.loads((b / "config.json").read_text())
        cid = new_id(rt)
        if breakage == "no-config":
            (b / "config.json").unlink()
        elif breakage == "bad-json":
            (b / "config.json").write_text("{nope")
        elif breakage == "bad-namespace":
            cfg["linux"]["namespaces"].append({"type": "bogus"})
        elif breakage == "escape":
            cfg["root"]["path"] = "../../../../etc"
        elif breakage == "version":
            cfg["ociVersion"] = "9.0.0"
        elif breakage == "id-chars":
            cid = "bad/id"
        elif breakage == "id-in-use":
            rt("create", "--bundle", str(b), cid, check=True)
        if breakage in ("bad-namespace", "escape", "version"):
            (b / "config.json").write_text(json.dumps(cfg))
        res = rt("create", "--bundle", str(b), cid)
        if rt.binary == RUNC and breakage in ("escape", "version"):
            continue   # runc 1.1 accepts these two: the comparison is with the rule, below
        assert res.returncode == 1, (rt.binary, breakage, res)
        if rt.binary == OURS:
            assert len(res.stderr.strip().splitlines()) == 1, res.stderr
            expected = [cid] if breakage == "id-in-use" else []
            assert sorted(p.name for p in rt.root.iterdir()) == expected if rt.root.exists() else not expected


def _memory_limit(pid: int) -> int:
    for line in open(f"/proc/{pid}/cgroup").read().splitlines():
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            return int((Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.limit_in_bytes").read_text())
    pytest.skip("no v1 memory controller here")


def test_ps_update_and_list_match_runc(runtimes, tmp_path, rootfs):
    b = bundle(tmp_path, rootfs, ["sleep", "30"])
    res_file = tmp_path / "res.json"
    res_file.write_text(json.dumps({"memory": {"limit": 48 << 20}, "pids": {"limit": 30}}))
    seen = []
    for rt in runtimes:
        cid = new_id(rt)
        rt("run", "-d", "--bundle", str(b), cid, check=True)
        pid = rt.state(cid)["pid"]
        ps = json.loads(rt("ps", "--format", "json", cid, check=True).stdout)
        rt("update", "--resources", str(res_file), cid, check=True)
        listed = json.loads(rt("list", "--format", "json", check=True).stdout)
        seen.append((ps == [pid], _memory_limit(pid), [(c["id"], c["status"]) for c in listed],
                     rt("update", "--resources", str(tmp_path / "missing.json"), cid).returncode))
        rt("delete", "--force", cid, check=True)
    assert seen[1] == (seen[0][0], seen[0][1], [(runtimes[1].ids[-1], "running")], seen[0][3])
    assert seen[0][:2] == (True, 48 << 20)
