"""Where the security steps sit in a container start (RecordingSyscalls, no root), and rootless plans."""

import pytest

from minicontainer.cgroups.limits import Limits
from minicontainer.errors import UsageError
from minicontainer.kernel import RecordingSyscalls
from minicontainer.kernel import constants as C
from minicontainer.runtime import RunOptions, Runtime
from minicontainer.security import rootless
from minicontainer.security.caps import NAMES
from minicontainer.security.userns import plan_for, read_map, subordinate_ranges


def plan(fake_host, image_root, rootless_mode=False, **kw):
    proc, cg = fake_host
    rt = Runtime(image_root, RecordingSyscalls(), proc_root=proc, cgroup_root=cg)
    rt.rootless = rootless_mode
    kw.setdefault("network", "none")
    return rt.explain_plan(RunOptions(image="busybox", command=["true"], **kw))


def container_calls(steps):
    return [(s.call, s.args) for s in steps if s.where == "container"]


def test_security_comes_last_and_seccomp_right_before_execve(fake_host, image_root):
    calls = container_calls(plan(fake_host, image_root))
    names = [c for c, _ in calls]
    drops = [a for c, a in calls if c == "prctl" and a.startswith("PR_CAPBSET_DROP")]
    assert len(drops) == 41 - 14                       # every capability but Docker's 14
    # ambient, process.user, then its capability sets (runc's order), no_new_privs, seccomp
    assert names[names.index("setuid") - 1:] == ["prctl", "setuid", "capset", "prctl", "seccomp", "execve"]
    assert dict(calls)["capset"] == "eff=0xa80425fb, prm=0xa80425fb, inh=0xa80425fb"
    assert ("prctl", "PR_SET_NO_NEW_PRIVS, 1") in calls


def recorded(fake_host, image_root, **kw) -> RecordingSyscalls:
    """The double after a dry run: its calls with typed arguments."""
    proc, cg = fake_host
    rt = Runtime(image_root, RecordingSyscalls(), proc_root=proc, cgroup_root=cg)
    rt.rootless = False
    kw.setdefault("network", "none")
    rt.explain_plan(RunOptions(image="busybox", command=["true"], **kw))
    return rt.sys


def test_masks_follow_pivot_root(fake_host, image_root):
    rec = recorded(fake_host, image_root)
    names = [c.call for c in rec.records]
    after = [c.args for c in rec.records[names.index("pivot_root"):] if c.call == "mount"]
    sys_mounts = [a for a in after if a["target"] == "/proc/sys"]
    # readonlyPaths (runtime-spec config-linux.md): a bind of the path onto itself, then a read-only remount
    assert sys_mounts[0]["source"] == "/proc/sys" and sys_mounts[0]["flags"] == C.MS_BIND | C.MS_REC
    remount = sys_mounts[1]["flags"]
    assert remount & C.MS_REMOUNT and remount & C.MS_BIND and remount & C.MS_RDONLY
    assert remount & (C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC) == C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC


def test_read_only_root_and_privileged(fake_host, image_root):
    ro = plan(fake_host, image_root, read_only=True)
    mounts = [s.args for s in ro if s.call == "mount"]
    assert any(a.startswith("tmpfs, ") and "/merged/tmp, tmpfs" in a for a in mounts)   # before pivot_root
    assert any(a.startswith("none, /, none, MS_RDONLY|MS_REMOUNT|MS_BIND") for a in mounts)
    priv = plan(fake_host, image_root, privileged=True)
    names = [s.call for s in priv]
    assert "seccomp" not in names and not any(s.args.startswith("PR_CAPBSET_DROP") for s in priv)
    assert names[-4:] == ["setuid", "capset", "prctl", "execve"]   # no_new_privs stays on unless asked


def test_no_new_privs_false_installs_seccomp_first(fake_host, image_root):
    names = [c for c, _ in container_calls(plan(fake_host, image_root,
                                                security_opt=["no-new-privileges=false"]))]
    assert "PR_SET_NO_NEW_PRIVS" not in str(names)
    assert names.index("seccomp") < names.index("capset")   # while CAP_SYS_ADMIN is still ours


def test_user_switch_sits_between_capset_and_no_new_privs(fake_host, image_root):
    names = [c for c, _ in container_calls(plan(fake_host, image_root, user="1000"))]
    assert names[-6:] == ["prctl", "setuid", "capset", "prctl", "seccomp", "execve"]   # KEEPCAPS first


def test_rootless_plan_user_namespace_first_and_no_cgroup(fake_host, image_root):
    steps = plan(fake_host, image_root, rootless_mode=True)
    monitor = [(s.call, s.args) for s in steps if s.where == "monitor"]
    assert monitor[1] == ("unshare", "CLONE_NEWUSER")
    assert monitor[2] == ("unshare", "CLONE_NEWPID")
    writes = [s.args for s in steps if s.call == "write"]
    assert any("/<monitor>/uid_map <- '0 " in w for w in writes)
    assert not any("cgroup" in w for w in writes)
    mknods = [s.args for s in steps if s.call == "mknod"]
    assert all(", file," in a for a in mknods)        # no device nodes in a user namespace: binds instead
    assert any(s.call == "mount" and s.args.startswith("/dev/null, ") for s in steps)


@pytest.mark.parametrize("kw, message", [
    ({"limits": Limits(memory=64 << 20)}, "resource limits need a cgroup"),
    ({"network": "bridge"}, "--network bridge needs root"),
    ({"network": "host", "publish": ["8080:80"]}, "publishing ports needs a bridge"),
])
def test_rootless_refuses_clearly(kw, message):
    opts = RunOptions(image="busybox", **{"network": "none", **kw})
    with pytest.raises(UsageError, match=message) as info:
        rootless.check(opts, True)
    assert "\n" not in str(info.value)


def test_userns_private_as_root_is_refused():
    with pytest.raises(UsageError, match="only available in rootless mode"):
        rootless.check(RunOptions(image="busybox", userns="private"), False)


def test_subordinate_ranges_and_maps(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "subuid").write_text("alice:100000:65536\n1001:200000:1000\nbroken\nbob:x:1\n")
    (etc / "subgid").write_text("alice:100000:65536\n")
    assert subordinate_ranges(etc / "subuid", "alice", 1000) == [(100000, 65536)]
    assert subordinate_ranges(etc / "subuid", "carol", 1001) == [(200000, 1000)]
    assert subordinate_ranges(etc / "nope", "alice", 1000) == []
    found = lambda name: f"/usr/bin/{name}"  # noqa: E731
    single = plan_for(5000, 5000, etc_root=etc, which=found)
    assert single.single and single.deny_setgroups and single.uid_map == [(0, 5000, 1)]
    assert read_map("         0       1000          1\n") == [(0, 1000, 1)]


def test_helpers_used_only_when_range_and_binaries_exist(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "subuid").write_text("4242:100000:65536\n")
    (etc / "subgid").write_text("4242:100000:65536\n")
    with_helpers = plan_for(4242, 4242, etc_root=etc, which=lambda n: "/usr/bin/" + n)
    assert with_helpers.helper and with_helpers.uid_map == [(0, 4242, 1), (1, 100000, 65536)]
    without = plan_for(4242, 4242, etc_root=etc, which=lambda n: None)
    assert not without.helper and without.single


def test_cap_names_cover_cap_last_cap():
    assert len(NAMES) == 41   # CAP_CHECKPOINT_RESTORE is 40 in Linux 5.9+
