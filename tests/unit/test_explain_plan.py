"""The exact kernel steps of a container start, recorded without root (RecordingSyscalls)."""

import errno
import os

import pytest

from minicontainer.errors import KernelError
from minicontainer.kernel import RecordingSyscalls
from minicontainer.runtime import RunOptions, Runtime
from minicontainer.runtime.explain import DRY_RUN_ID, aliases_for, format_steps


def plan(tmp_path, fake_host, image_root, **kw):
    proc, cg = fake_host
    rt = Runtime(image_root, RecordingSyscalls(), proc_root=proc, cgroup_root=cg)
    rt.rootless = False  # the root plan, whoever runs the test (rootless plans: test_security_plan.py)
    return rt, rt.explain_plan(RunOptions(image="busybox", command=["echo", "hi"], **kw))


def test_dry_run_steps_in_order(tmp_path, fake_host, image_root):
    rt, steps = plan(tmp_path, fake_host, image_root)
    where = [s.where for s in steps]
    # the runtime prepares and forks; the monitor forks PID 1; the runtime puts it in its cgroup; PID 1 goes on
    runs = [w for i, w in enumerate(where) if i == 0 or where[i - 1] != w]
    assert runs == ["runtime", "monitor", "runtime", "container"]
    container = [(s.call, s.args) for s in steps if s.where == "container"]
    calls = [c for c, _ in container]
    assert calls[:5] == ["prctl", "unshare", "mount", "mount", "mount"]
    assert container[1][1] == "CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET"
    assert container[2][1].endswith("MS_REC|MS_PRIVATE")
    assert container[3][1].startswith("overlay, ") and "lowerdir=" in container[3][1]
    # masked paths (mounts) and the security steps (prctl, capset, seccomp) are checked in test_security_plan.py
    core = [c for c in calls if c not in ("mount", "prctl", "capset", "seccomp")]
    # process.user is always applied (config.json names root's uid, gid and groups too)
    assert core[-10:] == ["chdir", "pivot_root", "umount2", "chdir", "sethostname", "ioctl", "unshare", "chdir",
                          "setuid", "execve"]
    assert calls[-2:] == ["seccomp", "execve"]
    unshares = [a for c, a in container if c == "unshare"]
    assert unshares[-1] == "CLONE_NEWCGROUP"  # after the runtime moved PID 1 into its cgroup
    monitor = [(s.call, s.args) for s in steps if s.where == "monitor"]
    # the monitor only makes a PID namespace for its child: it stays in the host's others
    assert monitor == [("prctl", "PR_SET_PDEATHSIG, 9"), ("unshare", "CLONE_NEWPID"), ("fork", "")]
    runtime = [(s.call, s.args) for s in steps if s.where == "runtime"]
    assert runtime[-1][0] == "write" and runtime[-1][1].endswith("cgroup.procs <- 'PID'")
    assert "fork" in [c for c, _ in runtime] and "mkdir" in [c for c, _ in runtime]


def test_dry_run_mounts_exactly_these(tmp_path, fake_host, image_root):
    _, steps = plan(tmp_path, fake_host, image_root)
    steps = steps[:[s.call for s in steps].index("pivot_root")]  # the masks after it: test_security_plan.py
    kinds = [s.args.split(",")[0] for s in steps if s.call == "mount"]
    assert kinds[0] == "none"        # the private remount of /
    assert kinds[1:6] == ["overlay", "proc", "sysfs", "tmpfs", "devpts"]
    assert kinds[6] == "shm"
    assert len(kinds) == 10          # plus the binds of /etc/hosts, /etc/hostname, /etc/resolv.conf
    mknods = [(s.args.split(",")[0].rsplit("/", 2)[-2:], s.args.split(",")[1].strip())
              for s in steps if s.call == "mknod"]
    # the image has /etc/hosts and /etc/hostname to bind over, not /etc/resolv.conf: an empty
    # *file* is made for it (the generated source is a file, though a dry run never writes it)
    assert mknods[0] == (["etc", "resolv.conf"], "file")
    assert [kind for _, kind in mknods[1:]] == ["c 1:3", "c 1:5", "c 1:7", "c 1:8", "c 1:9", "c 5:0"]
    assert not [s for s in steps if s.call == "mkdir" and "resolv.conf" in s.args]


def test_dry_run_touches_nothing(tmp_path, fake_host, image_root):
    proc, cg = fake_host
    before = sorted(p.name for p in cg.iterdir())
    plan(tmp_path, fake_host, image_root)
    assert sorted(p.name for p in cg.iterdir()) == before
    assert not (image_root / "containers").exists()


def test_explain_text_uses_aliases(tmp_path, fake_host, image_root):
    rt, steps = plan(tmp_path, fake_host, image_root)
    text = format_steps(steps, aliases_for(rt, DRY_RUN_ID))
    assert "pivot_root(., .)" in text
    assert DRY_RUN_ID not in text.split("\n\n", 1)[1]
    assert "# the overlay becomes '/'" in text


def test_init_and_tty_change_the_plan_only_where_expected(tmp_path, fake_host, image_root):
    _, plain = plan(tmp_path, fake_host, image_root)
    _, with_init = plan(tmp_path, fake_host, image_root, init=True)
    # --init: PID 1 forks the command as PID 2, which is what execs (PID 1 stays behind and reaps)
    assert [s.call for s in with_init] == [s.call for s in plain][:-1] + ["fork", "execve"]
    assert "--init" in with_init[-2].why and "PID 2" in with_init[-1].why
    assert with_init[-1].args == plain[-1].args


def test_injected_failure_stops_the_plan(tmp_path, fake_host, image_root):
    proc, cg = fake_host
    sys = RecordingSyscalls(fail={"pivot_root": errno.EINVAL})
    rt = Runtime(image_root, sys, proc_root=proc, cgroup_root=cg)
    with pytest.raises(KernelError, match="invalid argument"):
        rt.explain_plan(RunOptions(image="busybox", command=["true"]))
    assert sys.steps[-1].call == "pivot_root" and sys.steps[-1].error


@pytest.mark.parametrize("kw", [{}, {"detach": True}, {"detach": True, "tty": True, "interactive": True},
                                {"tty": True, "interactive": True}, {"init": True}])
def test_a_dry_run_keeps_no_descriptor_and_touches_no_stream(tmp_path, fake_host, image_root, kw):
    """The same start-up code as a real run, with no dry-run branch: the recording double skips the
    process plumbing (pipes, dup2 over our own stdout, setsid...) and says so in its records."""
    before = sorted(os.listdir("/proc/self/fd"))
    rt, steps = plan(tmp_path, fake_host, image_root, **kw)
    assert sorted(os.listdir("/proc/self/fd")) == before
    plumbed = [c.args["name"] for c in rt.sys.calls_of("plumb")]
    assert "setsid" in plumbed and "stdio" in plumbed and "find the program" in plumbed
    assert ("openpty" in plumbed) == bool(kw.get("tty"))
    # (with --init PID 2's first) PID 1's _exit(2), then the monitor's: each reached as a raise
    assert [c.args["code"] for c in rt.sys.calls_of("exit")] == [126] * bool(kw.get("init")) + [125, 125]
    assert steps[-1].call == "execve"
