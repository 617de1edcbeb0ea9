"""The cgroup detector against fake /proc and cgroup trees under tmp_path (no root needed)."""

from pathlib import Path

import pytest

from minicontainer.cgroups import detect
from minicontainer.cgroups.detect import Hierarchy, cgroup_dir, parse_mountinfo, parse_proc_cgroup
from minicontainer.errors import CgroupError

HYBRID_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]


def write_proc(proc: Path, mounts: list[tuple[str, str, str, str]], cgroup: str) -> None:
    """mounts: (mountpoint, fstype, super options, root)."""
    (proc / "self").mkdir(parents=True)
    lines = ["23 1 0:21 / /proc rw,nosuid - proc proc rw"]
    for i, (mp, fstype, opts, root) in enumerate(mounts):
        lines.append(f"{32 + i} 31 0:{29 + i} {root} {mp} rw,relatime shared:{i} - {fstype} {fstype} {opts}")
    (proc / "self" / "mountinfo").write_text("\n".join(lines) + "\n")
    (proc / "self" / "cgroup").write_text(cgroup)


def hybrid_host(tmp_path: Path) -> tuple[Path, Path]:
    """Like this development machine: v1 controllers, an empty cgroup2 at unified/."""
    cg, proc = tmp_path / "cgroup", tmp_path / "proc"
    mounts = [(str(cg), "tmpfs", "rw,mode=755", "/")]
    for name in HYBRID_CONTROLLERS:
        (cg / name).mkdir(parents=True)
        mounts.append((str(cg / name), "cgroup", f"rw,{name}", "/"))
    (cg / "systemd").mkdir()
    mounts.append((str(cg / "systemd"), "cgroup", "rw,xattr,name=systemd", "/"))
    (cg / "unified").mkdir()
    (cg / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    mounts.append((str(cg / "unified"), "cgroup2", "rw,nsdelegate", "/"))
    write_proc(proc, mounts, "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/29bd\n3:cpuset:/\n0::/\n")
    return cg, proc


def test_hybrid_host_uses_v1_controllers(tmp_path):
    cg, proc = hybrid_host(tmp_path)
    layout = detect(cg, proc)
    assert layout.mode == "hybrid"
    assert layout.backend == "v1"
    assert layout.v1["memory"] == Hierarchy(1, cg / "memory", "/", ("memory",))
    assert layout.v1["name=systemd"].controllers == ("name=systemd",)
    assert layout.unified == Hierarchy(2, cg / "unified", "/", ("hugetlb",))
    assert layout.own["memory"] == "/process_api/29bd"
    assert layout.own["pids"] == "/"
    assert layout.own[""] == "/"
    text = "\n".join(layout.describe())
    assert "mode: hybrid (backend v1)" in text
    assert f"v1 memory: {cg / 'memory'} (we are in /process_api/29bd)" in text
    assert "controllers: hugetlb" in text


def test_v2_only_host(tmp_path):
    cg, proc = tmp_path / "cgroup", tmp_path / "proc"
    cg.mkdir()
    (cg / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    write_proc(proc, [(str(cg), "cgroup2", "rw,nsdelegate,memory_recursiveprot", "/")], "0::/init.scope\n")
    layout = detect(cg, proc)
    assert layout.mode == "v2"
    assert layout.backend == "v2"
    assert layout.v1 == {}
    assert layout.unified.controllers == ("cpuset", "cpu", "io", "memory", "pids")
    assert layout.own == {"": "/init.scope"}


def test_v1_only_with_comounted_cpu_cpuacct(tmp_path):
    cg, proc = tmp_path / "cgroup", tmp_path / "proc"
    mounts = []
    for name, opts in (("cpu,cpuacct", "rw,cpu,cpuacct"), ("memory", "rw,memory"), ("pids", "rw,pids")):
        (cg / name).mkdir(parents=True)
        mounts.append((str(cg / name), "cgroup", opts, "/"))
    write_proc(proc, mounts, "3:cpu,cpuacct:/user\n2:memory:/\n1:pids:/\n")
    layout = detect(cg, proc)
    assert layout.mode == "v1"
    assert layout.v1["cpu"] is layout.v1["cpuacct"]
    assert layout.v1["cpu"].mountpoint == cg / "cpu,cpuacct"
    assert layout.own["cpu"] == layout.own["cpuacct"] == "/user"


def test_mounts_outside_the_cgroup_root_are_ignored(tmp_path):
    cg, proc = tmp_path / "cgroup", tmp_path / "proc"
    (cg / "memory").mkdir(parents=True)
    write_proc(proc, [(str(cg / "memory"), "cgroup", "rw,memory", "/"),
                      (str(tmp_path / "elsewhere"), "cgroup", "rw,pids", "/")], "")
    layout = detect(cg, proc)
    assert set(layout.v1) == {"memory"}


def test_no_cgroup_filesystem_is_a_clear_error(tmp_path):
    cg, proc = tmp_path / "cgroup", tmp_path / "proc"
    cg.mkdir()
    write_proc(proc, [(str(cg), "tmpfs", "rw", "/")], "")
    with pytest.raises(CgroupError) as info:
        detect(cg, proc)
    assert str(info.value) == f"detect: {cg}: no cgroup filesystem is mounted here"


def test_mountinfo_octal_escapes_and_optional_fields():
    text = ("40 31 0:37 / /sys/fs/cgroup/my\\040dir rw,relatime shared:15 master:3 - cgroup cgroup rw,pids\n"
            "garbage line\n")
    assert parse_mountinfo(text) == [("cgroup", "/sys/fs/cgroup/my dir", "/", "rw,pids")]


def test_proc_cgroup_parsing():
    own = parse_proc_cgroup("12:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c\nbad\n")
    assert own == {"cpu": "/a", "cpuacct": "/a", "name=systemd": "/b", "": "/c"}


def test_cgroup_dir_strips_the_mount_root():
    h = Hierarchy(1, Path("/cg/memory"), "/process_api", ("memory",))
    assert cgroup_dir(h, "/process_api/x") == Path("/cg/memory/x")
    assert cgroup_dir(h, "/process_api") == Path("/cg/memory")
    assert cgroup_dir(h, "/other") == Path("/cg/memory")   # outside what the mount shows
    assert cgroup_dir(Hierarchy(1, Path("/cg/pids"), "/", ("pids",)), "/") == Path("/cg/pids")
