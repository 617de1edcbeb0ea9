"""One fork-and-report protocol (runtime/channel.py): a forked helper's answer, or its error as
the same kind of exception, comes back to the parent; the helper is reaped. Real forks, no root."""

from __future__ import annotations

import os

import pytest

from minicontainer.errors import ExecError, MiniContainerError, NotFoundError, UsageError
from minicontainer.kernel import RecordingSyscalls
from minicontainer.kernel.linux import LinuxSyscalls
from minicontainer.runtime.channel import Channel, report_error, reported_error, run_in_child


def _children() -> set[int]:
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        return {int(p) for p in f.read().split()}


def test_the_childs_answer_comes_back_and_the_child_is_reaped():
    before = _children()
    assert run_in_child(LinuxSyscalls(), "a helper", lambda: {"pid": os.getpid(), "n": [1, 2]})["n"] == [1, 2]
    assert _children() == before


@pytest.mark.parametrize("err, kind", [(NotFoundError("no such file", op="cp", path="/x"), NotFoundError),
                                       (UsageError("bad input"), UsageError),
                                       (ValueError("broken"), MiniContainerError)])
def test_the_childs_error_comes_back_as_the_same_kind(err, kind):
    def job():
        raise err
    with pytest.raises(kind) as got:
        run_in_child(LinuxSyscalls(), "a failing helper", job)
    assert str(got.value) == (str(err) if isinstance(err, MiniContainerError) else "broken")
    assert got.value.op is None     # the message already names the operation


def test_a_child_that_dies_without_answering_is_an_error():
    with pytest.raises(MiniContainerError, match="died before it answered"):
        run_in_child(LinuxSyscalls(), "a helper that dies", lambda: os._exit(3))


def test_exec_errors_keep_dockers_exit_codes():
    a, b = Channel.pair()
    try:
        report_error(a, ExecError('exec: "nope": executable file not found in $PATH', exit_code=127))
        msg, _ = b.recv()
    finally:
        a.close(); b.close()
    err = reported_error(msg)
    assert isinstance(err, ExecError) and err.exit_code == 127
    other = reported_error({"message": "mount failed", "exit_code": 125, "kind": "KernelError"}, op="exec")
    assert type(other) is MiniContainerError and str(other) == "exec: mount failed" and other.exit_code == 125


def test_in_a_dry_run_the_job_runs_in_place_and_its_error_is_raised():
    """The recording double's fork returns 0: the job runs here, and exit raises what it reported."""
    with pytest.raises(NotFoundError):
        run_in_child(RecordingSyscalls(), "a helper", lambda: (_ for _ in ()).throw(NotFoundError("gone")))
