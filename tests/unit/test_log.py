"""The debug log channel: --log-level / $MINICONTAINER_LOG_LEVEL, the logfmt lines, and that
tolerated failures (cleanup steps, a container removed meanwhile) are recorded there, while
errors that are not the tolerated kind still propagate."""

import errno
import io
import logging
import subprocess
import sys

import pytest

from minicontainer import log
from minicontainer.cli import main
from minicontainer.errors import CgroupError, MiniContainerError, NotFoundError, UsageError
from minicontainer.kernel import RecordingSyscalls


def test_parse_level_spellings():
    assert [log.parse_level(t) for t in ("debug", "INFO", "warn", "warning", "error")] == [10, 20, 30, 30, 40]
    with pytest.raises(UsageError, match="invalid log level 'loud'"):
        log.parse_level("loud")


def test_configure_without_level_or_env_does_nothing(unconfigured):
    assert log.configure(None) is None and log._handler is None


def test_swallowed_is_a_logfmt_line_with_op_path_error(debug_stream, caplog):
    err = CgroupError("cannot remove: device or resource busy (EBUSY)", op="rmdir", path="/cg/minicontainer/abc")
    with caplog.at_level(logging.DEBUG, logger="minicontainer"):
        logging.getLogger(log.ROOT).propagate = True     # so caplog sees it too
        log.swallowed("runtime", "remove cgroup", err)
    line = debug_stream.getvalue().strip()
    assert line.startswith('time="') and " level=debug logger=minicontainer.runtime " in line
    assert 'msg="remove cgroup: /cg/minicontainer/abc: rmdir: /cg/minicontainer/abc: cannot remove' in line
    rec = caplog.records[-1]
    assert (rec.op, rec.path) == ("remove cgroup", "/cg/minicontainer/abc") and "EBUSY" in rec.error


def test_level_filters(unconfigured):
    buf = io.StringIO()
    log.configure("warn", stream=buf)
    log.swallowed("runtime", "remove cgroup", OSError(errno.EBUSY, "busy"))
    log.warn("runtime", "shown %s", "once")
    assert buf.getvalue().count("\n") == 1 and "level=warning" in buf.getvalue()
    assert log.os.environ[log.ENV] == "warning"     # inherited by helper processes (the reaper)


def test_quotes_and_newlines_are_escaped(debug_stream):
    log.debug("x", 'say "hi"\nthen')
    assert r'msg="say \"hi\"\nthen"' in debug_stream.getvalue()


def test_nothing_imports_logging_unless_asked(tmp_path):
    """A debug record with nobody listening costs no import of logging (the start path stays light)."""
    code = ("import sys; from minicontainer import log; "
            "log.swallowed('runtime', 'remove cgroup', OSError(16, 'busy'), path='/x'); "
            "log.debug('runtime', 'nothing'); print('logging' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, check=True)
    assert out.stdout.strip() == "False" and out.stderr == ""


# ----------------------------------------------------------------------------- the CLI flag
def test_cli_log_level_flag_and_env(tmp_path, monkeypatch, capsys, unconfigured):
    assert main(["--log-level", "loud", "ps"]) == 125
    assert "invalid log level 'loud'" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "--log-level=debug", "ps", "-q"]) == 0
    assert logging.getLogger(log.ROOT).level == logging.DEBUG
    assert main(["--log-level"]) == 125 and "--log-level needs a value" in capsys.readouterr().err
    monkeypatch.setenv(log.ENV, "error")
    assert main(["--root", str(tmp_path), "ps", "-q"]) == 0
    assert logging.getLogger(log.ROOT).level == logging.ERROR


# ----------------------------------------------------------------------------- swallowed failures
def _container(rt):
    c = rt.containers.create(name="c1", image="busybox", image_id="sha256:x", command=["true"], config={})
    return c


def test_rm_records_a_failed_cgroup_removal(tmp_path, fake_host, debug_stream):
    from minicontainer.runtime import Runtime
    proc, cg = fake_host
    rt = Runtime(tmp_path / "state", RecordingSyscalls(fail={"rmdir": errno.EPERM}), proc_root=proc,
                 cgroup_root=cg)
    rt.rootless = False
    c = _container(rt)
    for path in rt.cgroup_manager(c.id, rt.sys).paths():
        path.mkdir(parents=True)
    rt.remove(c.id)                         # tolerated: the container is removed all the same
    out = debug_stream.getvalue()
    assert f"remove cgroup of {c.id[:12]}" in out and "operation not permitted" in out
    with pytest.raises(NotFoundError):
        rt.containers.load(c.id)


def _on_network(c, network: str) -> None:
    """Give the record a config.json whose annotation says which network its start wires."""
    from minicontainer.oci import annotations as A
    from minicontainer.oci.spec import Spec
    c.save_spec(Spec(annotations={A.NETWORK: network}), "test")


def test_finish_records_a_failed_disconnect(tmp_path, fake_host, debug_stream, monkeypatch):
    from minicontainer import network
    from minicontainer.errors import NetworkError
    from minicontainer.runtime import Runtime
    proc, cg = fake_host
    rt = Runtime(tmp_path / "state", RecordingSyscalls(), proc_root=proc, cgroup_root=cg)
    c = _container(rt)
    _on_network(c, "bridge")

    def refuse(*args, **kwargs):
        raise NetworkError("cannot delete veth: no such device", op="disconnect", path="mcabc")
    monkeypatch.setattr(network, "disconnect", refuse)
    rt._finish(c, None, 0, rm=False, oom=False)
    assert f"disconnect {c.id[:12]}: mcabc: disconnect: mcabc: cannot delete veth" in debug_stream.getvalue()


def test_disconnect_lets_other_errors_through(tmp_path, fake_host, monkeypatch):
    from minicontainer import network
    from minicontainer.runtime import Runtime
    proc, cg = fake_host
    rt = Runtime(tmp_path / "state", RecordingSyscalls(), proc_root=proc, cgroup_root=cg)
    c = _container(rt)
    _on_network(c, "bridge")

    def bug(*args, **kwargs):
        raise TypeError("a programming error is not a tolerated cleanup failure")
    monkeypatch.setattr(network, "disconnect", bug)
    with pytest.raises(TypeError):
        rt.disconnect_networks(c)


class _Removed:
    """A runtime whose container record is gone (or broken) by the time it is read again."""

    def __init__(self, error):
        self.error = error
        self.root = "/nonexistent"
        self.containers = self

    def load(self, cid):
        raise self.error

    def refresh(self, c):
        return c


def test_wait_exit_tolerates_only_a_removed_container(debug_stream):
    from minicontainer.runtime import lifecycle
    from minicontainer.runtime.containers import Container
    c = Container(id="f" * 64, name="gone", image="busybox", image_id="sha256:x", command=["true"],
                  created=0.0)
    removed = _Removed(NotFoundError("no such container: fff", op="load"))
    assert lifecycle.wait_exit(removed, c) is c
    assert lifecycle._settled(removed, c) is c
    assert "wait for ffffffffffff: load: no such container" in debug_stream.getvalue()
    broken = _Removed(MiniContainerError("unreadable state: Expecting value", op="load", path="/s/state.json"))
    with pytest.raises(MiniContainerError, match="unreadable state"):
        lifecycle.wait_exit(broken, c)
    with pytest.raises(PermissionError):
        lifecycle._settled(_Removed(PermissionError(errno.EACCES, "denied")), c)


def test_follow_stops_when_removed_and_says_so(tmp_path, debug_stream):
    from minicontainer.runtime import logs
    from minicontainer.runtime.containers import Container
    c = Container(id="e" * 64, name="gone", image="busybox", image_id="sha256:x", command=["true"],
                  created=0.0)
    c.dir = tmp_path
    (tmp_path / logs.LOG_FILE).write_text('{"log":"hi\\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}\n')
    got = list(logs.follow(_Removed(NotFoundError("no such container", op="load")), c, poll=0))
    assert [r["log"] for r in got] == ["hi\n"]
    assert "follow the log of eeeeeeeeeeee" in debug_stream.getvalue()
    with pytest.raises(ValueError):
        list(logs.follow(_Removed(ValueError("bug")), c, poll=0))


# ----------------------------------------------------------------------------- other tolerated failures
def test_cgroup_undo_records_a_failed_rmdir(fake_host, debug_stream):
    from minicontainer.cgroups import detect, new_manager
    proc, cg = fake_host
    mgr = new_manager(detect(cg, proc), "c" * 64, RecordingSyscalls(fail={"rmdir": errno.EBUSY}), proc_root=proc)
    mgr.wait_timeout = 0
    path = mgr.paths()[0]
    path.mkdir(parents=True)
    mgr._rmdir_retry(path, quiet=True)                   # undoing a failed create: tolerated, recorded
    assert f"remove the cgroup: {path}: rmdir" in debug_stream.getvalue()
    mgr.syscalls.fail["rmdir"] = errno.EBUSY
    with pytest.raises(CgroupError, match="busy"):       # not quiet: the error is the caller's
        mgr._rmdir_retry(path)


def test_write_json_reports_the_write_error_and_logs_the_cleanup(tmp_path, debug_stream, monkeypatch):
    import os
    from pathlib import Path
    from minicontainer import records

    def no_replace(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def no_unlink(self, missing_ok=False):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))
    monkeypatch.setattr(os, "replace", no_replace)
    monkeypatch.setattr(Path, "unlink", no_unlink)
    with pytest.raises(MiniContainerError, match="cannot save: invalid cross-device link"):
        records.write_json(tmp_path / "x.json", {"a": 1}, "cannot save")
    assert "remove the temporary file" in debug_stream.getvalue() and "Permission denied" in debug_stream.getvalue()


def test_ambient_clear_tolerates_only_einval():
    from minicontainer.errors import KernelError
    from minicontainer.security import SecuritySpec, _caps, confine
    spec = SecuritySpec(keep_caps=list(_caps.NUMBERS), last_cap=len(_caps.NAMES) - 1)
    sys_ = RecordingSyscalls(fail={"prctl": errno.EINVAL})
    confine(sys_, spec)                                   # an old kernel without ambient capabilities
    assert "capset" in sys_.calls()
    with pytest.raises(KernelError, match="EPERM"):
        confine(RecordingSyscalls(fail={"prctl": errno.EPERM}), spec)
    odd = RecordingSyscalls()

    def not_a_kernel_answer(*args, **kwargs):
        raise OSError(errno.EINVAL, "raised outside the Syscalls boundary")
    odd.prctl = not_a_kernel_answer
    with pytest.raises(OSError, match="outside"):        # only the kernel's EINVAL means "no ambient set"
        confine(odd, spec)


def test_image_prune_records_an_unreadable_kept_image(tmp_path, image_root, debug_stream, monkeypatch):
    import shutil
    from minicontainer.images.store import ImageStore
    state = tmp_path / "s"
    shutil.copytree(image_root, state, symlinks=True)
    store = ImageStore(state)
    image_id = store.resolve("busybox").id

    def broken(self, ref):
        raise ValueError("not json")
    monkeypatch.setattr(ImageStore, "config_bytes", broken)
    with store.lock():
        store._collect(store._index(), {})
    assert f"read the layers of kept image {image_id}: not json" in debug_stream.getvalue()


def test_volume_listing_records_a_damaged_record(tmp_path, debug_stream):
    from minicontainer.runtime.volumes import VolumeStore
    store = VolumeStore(tmp_path)
    (store.dir / "broken").mkdir(parents=True)
    (store.dir / "broken" / "volume.json").write_text("{not json")
    assert store.ls() == []
    assert f"read volume: {store.dir / 'broken'}: volume: {store.dir / 'broken' / 'volume.json'}: unreadable" \
        in debug_stream.getvalue()


def test_failed_network_create_undo_is_recorded_and_the_first_error_raised(tmp_path, debug_stream, monkeypatch):
    from minicontainer import network
    from minicontainer.errors import NetworkError
    from minicontainer.network import nat
    from minicontainer.network.store import NetworkStore

    def no_nat(self, net):
        raise NetworkError("cannot install the NAT rules", op="nat")

    def no_rm(self, name):
        raise NetworkError("store is read-only", op="network rm", path=str(tmp_path))
    monkeypatch.setattr(nat.Nat, "attach", no_nat)
    monkeypatch.setattr(NetworkStore, "rm", no_rm)
    with pytest.raises(NetworkError, match="cannot install the NAT rules"):
        network.create_network(tmp_path, "web", "10.99.0.0/24")
    assert "undo the creation of network web" in debug_stream.getvalue()
    assert "store is read-only" in debug_stream.getvalue()


def test_reaper_logs_to_the_state_root_only_when_asked(tmp_path, unconfigured, monkeypatch):
    from minicontainer.runtime import reaper
    reaper.configure_log(str(tmp_path))
    assert not (tmp_path / reaper.LOG_FILE).exists() and log._handler is None
    monkeypatch.setenv(log.ENV, "debug")
    reaper.configure_log(str(tmp_path))
    log.swallowed("runtime", "reap abc: remove cgroup", CgroupError("busy", op="rmdir", path="/cg/x"))
    log._handler.stream.close()
    assert "reap abc: remove cgroup: /cg/x: rmdir: /cg/x: busy" in (tmp_path / reaper.LOG_FILE).read_text()


def test_the_start_path_does_not_load_logging(image_root):
    """A dry run walks the start path (create, prepare, launch) without root: logging stays unloaded."""
    code = ("import sys, io, contextlib; from minicontainer.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main(['--root', {str(image_root)!r}, 'run', '--explain', '--dry-run', '--network', 'none',"
            " 'busybox', 'true'])\n"
            "print(rc, 'logging' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                         timeout=60)
    assert out.stdout.split() == ["0", "False"], out.stderr
