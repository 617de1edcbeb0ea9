"""Real engines drive minicontainer-runc: podman (through conmon) and containerd (through its runc shim).

Each engine runs with its own storage and state under the test's temporary directory
(never the system's), and is given minicontainer-runc as its runtime with a private
``--root``. The busybox image comes from minicontainer itself (``minicontainer save``), so
no registry is involved. Whatever a test leaves is removed, and then checked to be gone.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from podman_host import libpod_cgroups, podman_leftovers_removed

BIN = Path(sys.executable).parent
OURS = str(BIN / "minicontainer-runc")
#: no CAP_SYS_RESOURCE on this kind of host: podman cannot raise these limits itself
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


@pytest.fixture(scope="module")
def busybox_tar(tmp_path_factory):
    """busybox as an image archive (docker's manifest.json in an OCI layout), made by minicontainer."""
    work = tmp_path_factory.mktemp("image")
    env = {**os.environ, "MINICONTAINER_RUN_ROOT": str(work / "run")}
    mc = [str(BIN / "minicontainer"), "--root", str(work / "state")]
    subprocess.run(mc + ["pull", "busybox"], check=True, capture_output=True, env=env)
    subprocess.run(mc + ["save", "-o", str(work / "busybox.tar"), "busybox"], check=True, env=env)
    return work / "busybox.tar"


def _leftover_runc_containers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# ----------------------------------------------------------------------------- podman
@pytest.fixture
def podman(tmp_path, busybox_tar):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (Debian package podman)")
    # podman 4.3 drops --runtime-flag (and the environment) on the "delete" of its cleanup
    # process, so the runtime keeps its default root here; the check is on the ids this test made
    from minicontainer import paths
    runc_root = paths.RUNC_ROOT
    before = set(_leftover_runc_containers(runc_root))
    runroot = tempfile.mkdtemp(prefix="mcp-", dir="/tmp")   # podman wants it under 50 characters
    base = ["podman", "--root", str(tmp_path / "storage"), "--runroot", runroot,
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--tmpdir", str(tmp_path / "tmp"), "--runtime", OURS]

    def run(*args, timeout=60, check=True):
        res = subprocess.run(base + list(args), capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise AssertionError(f"podman {args}: {res.returncode} {res.stderr}")
        return res

    cgroups = libpod_cgroups()
    with podman_leftovers_removed():
        run("load", "-i", str(busybox_tar))
        yield run
        run("rm", "--all", "--force", "--time", "0", check=False)
        left = sorted(set(_leftover_runc_containers(runc_root)) - before)
        # what minicontainer-runc made (libpod-<id>) is gone before podman's own parents go
        ours = sorted(p for p in libpod_cgroups() - cgroups if p.name.startswith("libpod-"))
        run("rmi", "--all", "--force", check=False)
        subprocess.run(["umount", "-R", runroot], capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)
    assert not left, f"minicontainer-runc containers left behind: {left}"
    assert not ours, f"container cgroups left behind: {ours}"


def test_podman_run_rm(podman):
    res = podman("run", "--rm", *ULIMITS, "busybox", "echo", "hi")
    assert res.stdout == "hi\n"
    res = podman("run", "--rm", *ULIMITS, "busybox", "sh", "-c", "exit 7", check=False)
    assert res.returncode == 7


def test_podman_detached_exec_stop_rm(podman):
    cid = podman("run", "-d", *ULIMITS, "busybox", "sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait").stdout.strip()
    state = json.loads(podman("inspect", cid).stdout)[0]["State"]
    assert state["Status"] == "running" and state["Pid"] > 0
    res = podman("exec", cid, "sh", "-c", "echo in $(hostname); cat /proc/1/cmdline | tr '\\0' ' '")
    assert res.stdout.splitlines()[0] == f"in {cid[:12]}"
    assert "sleep 300" in res.stdout
    assert podman("exec", cid, "sh", "-c", "exit 5", check=False).returncode == 5
    started = time.monotonic()
    podman("stop", "-t", "10", cid)
    assert time.monotonic() - started < 8   # the TERM trap ended it: no wait for the SIGKILL
    assert json.loads(podman("inspect", cid).stdout)[0]["State"]["Status"] == "exited"
    podman("rm", cid)


# ----------------------------------------------------------------------------- containerd
CONTAINERD_CONFIG = """version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
{handler}"""

#: docs/kubernetes.md: minicontainer-runc as the CRI plugin's runtime handler "minicontainer"
#: (a RuntimeClass with handler: minicontainer selects it); the runc shim is told its binary
HANDLER = """[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.minicontainer]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.minicontainer.options]
  BinaryName = "{runc}"
  Root = "{runc_root}"
"""


@pytest.fixture
def containerd(tmp_path, busybox_tar):
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (Debian package containerd)")
    sock = tmp_path / "c.sock"
    cfg = tmp_path / "config.toml"
    handler = HANDLER.format(runc=OURS, runc_root=tmp_path / "runc-root")
    cfg.write_text(CONTAINERD_CONFIG.format(root=tmp_path / "root", state=tmp_path / "state", sock=sock,
                                            handler=handler))
    log = open(tmp_path / "containerd.log", "w")
    daemon = subprocess.Popen(["containerd", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    ctr = ["ctr", "--address", str(sock), "--namespace", "mctest"]

    def run(*args, timeout=60, check=True):
        res = subprocess.run(ctr + list(args), capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise AssertionError(f"ctr {args}: {res.returncode} {res.stderr}")
        return res

    run.runc_root, run.config = tmp_path / "runc-root", cfg
    try:
        deadline = time.monotonic() + 20
        while run("version", check=False).returncode != 0:
            assert daemon.poll() is None and time.monotonic() < deadline, (tmp_path / "containerd.log").read_text()
            time.sleep(0.2)
        run("images", "import", "--no-unpack=false", str(busybox_tar))
        yield run
    finally:
        for line in run("tasks", "ls", "-q", check=False).stdout.split():
            run("tasks", "kill", "-s", "SIGKILL", line, check=False)
            run("tasks", "delete", "-f", line, check=False)
        for line in run("containers", "ls", "-q", check=False).stdout.split():
            run("containers", "delete", line, check=False)
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=20)
        log.close()
        subprocess.run(["umount", "-R", str(tmp_path / "state")], capture_output=True)
        subprocess.run(["umount", "-R", str(tmp_path / "root")], capture_output=True)


def test_containerd_ctr_run_with_minicontainer_runc(containerd):
    images = containerd("images", "ls", "-q").stdout.split()
    ref = next(i for i in images if "busybox" in i)
    res = containerd("run", "--rm", "--runc-binary", OURS, "--runc-root", str(containerd.runc_root), ref,
                     "mc-ctr-1", "echo", "hi from ctr")
    assert res.stdout.replace("\r", "") == "hi from ctr\n"
    assert _leftover_runc_containers(containerd.runc_root / "mctest") == []   # the shim adds the namespace
    from minicontainer import paths
    left = [os.path.join(d, n) for d, names, _ in os.walk(paths.CGROUP_ROOT) for n in names if n == "mctest"]
    assert left == []          # cgroupsPath is /mctest/mc-ctr-1: the namespace's parent cgroups go too


def test_containerd_loads_the_runtime_handler_fragment(containerd):
    """The fragment of docs/kubernetes.md, as containerd itself reads it back."""
    dump = subprocess.run(["containerd", "--config", str(containerd.config), "config", "dump"], capture_output=True,
                          text=True, timeout=30, check=True).stdout
    section = dump.split("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.minicontainer]", 1)[1]
    assert 'runtime_type = "io.containerd.runc.v2"' in section.split("[plugins", 2)[0]
    assert f'BinaryName = "{OURS}"' in section
