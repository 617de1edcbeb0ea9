"""The recording double keeps each call's arguments as values (youki's TestHelperSyscall keeps
MountArgs the same way), beside the rendered steps that --explain prints; a failure it was told to
inject is recorded too."""

import errno

import pytest

from minicontainer.errors import KernelError
from minicontainer.kernel import Call, RecordingSyscalls
from minicontainer.kernel import constants as C


def test_calls_keep_typed_arguments_beside_the_rendered_step():
    rec = RecordingSyscalls()
    rec.mount("proc", "/proc", "proc", C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC, None, "the container's /proc")
    rec.unshare(C.CLONE_NEWNS | C.CLONE_NEWUTS, "new namespaces")
    rec.write_file("/sys/fs/cgroup/x/cgroup.procs", "42", "join")
    rec.seccomp_filter(b"\x06\x00\x00\x00\x00\x00\xff\x7f", "allow all")
    assert rec.calls_of("mount") == [Call("mount", {"source": "proc", "target": "/proc", "fstype": "proc",
                                                    "flags": C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC,
                                                    "data": None}, "the container's /proc")]
    assert rec.calls_of("unshare")[0].args["flags"] & C.CLONE_NEWUTS
    assert rec.calls_of("write")[0].args == {"path": "/sys/fs/cgroup/x/cgroup.procs", "data": "42"}
    assert rec.calls_of("seccomp")[0].args["program"][:2] == b"\x06\x00"          # bytes, not a repr
    # the people-readable side is unchanged
    assert [(s.call, s.args) for s in rec.steps][:2] == [
        ("mount", "proc, /proc, proc, MS_NOSUID|MS_NODEV|MS_NOEXEC"), ("unshare", "CLONE_NEWNS|CLONE_NEWUTS")]


def test_an_injected_failure_is_recorded_with_its_arguments():
    rec = RecordingSyscalls(fail={"rmdir": errno.EBUSY})
    with pytest.raises(KernelError) as err:
        rec.rmdir("/cg/x", "remove the cgroup")
    assert err.value.errno == errno.EBUSY
    assert rec.calls_of("rmdir") == [Call("rmdir", {"path": "/cg/x"}, "remove the cgroup")]
    assert rec.steps[0].error and "busy" in rec.steps[0].error
    rec.rmdir("/cg/x", "again")                        # the failure was for the first call only
    assert len(rec.calls_of("rmdir")) == 2 and rec.steps[1].error is None
