"""Pure pieces of the runtime: options, PATH lookup, overlay options, state machine, records."""

import os

import pytest

from minicontainer.errors import ConflictError, ExecError, MiniContainerError, NotFoundError, StateError, UsageError
from minicontainer.overlay import lower_count, overlay_options
from minicontainer.runtime.containers import ContainerStore
from minicontainer.runtime.pid1 import find_executable
from minicontainer.runtime.options import RunOptions, command_for, parse_env
from minicontainer.runtime.state import Status, require


def test_parse_env_forms():
    env = parse_env(["A=1", "B=", "C=x=y", "HOME_FROM_HOST", "UNSET_VAR"], host_env={"HOME_FROM_HOST": "h"})
    assert env == {"A": "1", "B": "", "C": "x=y", "HOME_FROM_HOST": "h"}


@pytest.mark.parametrize("bad", ["=value", "", "A B=1"])
def test_parse_env_rejects_malformed(bad):
    with pytest.raises(UsageError, match="invalid environment variable"):
        parse_env([bad], host_env={})


@pytest.mark.parametrize("opts, message", [
    (RunOptions(image="busybox", workdir="relative"), "absolute path"),
    (RunOptions(image="busybox", name="bad name!"), "invalid container name"),
    (RunOptions(image="busybox", hostname="-bad-"), "invalid hostname"),
    (RunOptions(image=""), "an image is required"),
])
def test_options_validate(opts, message):
    with pytest.raises(UsageError, match=message):
        opts.validate()


def test_command_for_follows_docker_rules():
    assert command_for({"Cmd": ["sh"]}, []) == ["sh"]
    assert command_for({"Cmd": ["sh"]}, ["echo", "hi"]) == ["echo", "hi"]
    assert command_for({"Entrypoint": ["/bin/busybox"], "Cmd": ["sh"]}, ["ls"]) == ["/bin/busybox", "ls"]
    with pytest.raises(UsageError, match="no command"):
        command_for({}, [])


def test_find_executable(tmp_path):
    good = tmp_path / "bin" / "tool"
    good.parent.mkdir()
    good.write_text("#!/bin/sh\n")
    good.chmod(0o755)
    plain = tmp_path / "bin" / "data"
    plain.write_text("x")
    plain.chmod(0o644)
    path = f"{tmp_path}/nothing:{tmp_path}/bin"
    assert find_executable("tool", path) == str(good)
    with pytest.raises(ExecError) as err:
        find_executable("missing", path)
    assert err.value.exit_code == 127 and "executable file not found in $PATH" in str(err.value)
    with pytest.raises(ExecError) as err:
        find_executable("data", path)
    assert err.value.exit_code == 126
    with pytest.raises(ExecError) as err:
        find_executable(str(tmp_path / "bin"), path)
    assert err.value.exit_code == 126


def test_overlay_options_top_layer_first():
    data = overlay_options(["/l/base", "/l/mid", "/l/top"], "/c/upper", "/c/work")
    assert data == "lowerdir=/l/top:/l/mid:/l/base,upperdir=/c/upper,workdir=/c/work"
    assert lower_count(data) == 3


def test_overlay_options_too_long_is_a_clear_error():
    layers = [f"/var/lib/minicontainer/images/layers/{i:064x}" for i in range(80)]
    with pytest.raises(UsageError, match="over the kernel's"):
        overlay_options(layers, "/u", "/w")


def test_overlay_options_refuse_separator_characters():
    with pytest.raises(UsageError, match="cannot carry"):
        overlay_options(["/l/a:b"], "/u", "/w")


def test_state_machine():
    assert Status.CREATED.can_start() and Status.EXITED.can_start()
    assert not Status.RUNNING.can_start()
    assert Status.RUNNING.can_pause() and not Status.PAUSED.can_pause()
    require(Status.EXITED, "remove", "x")
    with pytest.raises(StateError, match="stop the container before removing or use -f"):
        require(Status.RUNNING, "remove", "x")
    require(Status.RUNNING, "remove", "x", force=True)
    with pytest.raises(StateError, match="container x is exited"):
        require(Status.EXITED, "exec", "x")


def test_container_store_create_get_remove(tmp_path):
    store = ContainerStore(tmp_path)
    a = store.create(name="web", image="busybox", image_id="sha256:1", command=["sh"], config={})
    b = store.create(name=None, image="busybox", image_id="sha256:1", command=["sh"], config={})
    assert len(a.id) == 64 and a.short_id == a.id[:12]
    assert a.upper_dir.is_dir() and a.work_dir.is_dir() and a.merged_dir.is_dir()
    assert store.get("web").id == a.id
    assert store.get(a.id[:10]).id == a.id
    assert store.get(b.name).id == b.id
    with pytest.raises(ConflictError, match='"web" is already in use'):
        store.create(name="web", image="busybox", image_id="sha256:1", command=["sh"], config={})
    with pytest.raises(NotFoundError, match="no such container: nope"):
        store.get("nope")
    store.remove(a)
    assert not a.dir.exists()
    assert [c.id for c in store.list()] == [b.id]
    assert not [p for p in os.listdir(store.dir) if p.startswith((".new-", ".rm-"))]


def test_ambiguous_prefix(tmp_path):
    store = ContainerStore(tmp_path)
    made = [store.create(name=None, image="i", image_id="sha256:1", command=["sh"], config={}) for _ in range(40)]
    firsts = {}
    for c in made:
        firsts.setdefault(c.id[0], []).append(c)
    prefix = next(k for k, v in firsts.items() if len(v) > 1)
    with pytest.raises(UsageError, match="multiple IDs found"):
        store.get(prefix)


def test_state_written_atomically(tmp_path):
    store = ContainerStore(tmp_path)
    c = store.create(name="x", image="i", image_id="sha256:1", command=["sh"], config={})
    c.status = Status.EXITED.value
    c.exit_code = 3
    store.save(c)
    again = store.load(c.id)
    assert again.exit_code == 3 and again.state is Status.EXITED
    assert sorted(os.listdir(c.dir)) == ["merged", "state.json", "upper", "work"]


def test_unwritable_state_root_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = ContainerStore(blocker)
    with pytest.raises(MiniContainerError, match="state root is not writable: not a directory") as info:
        store.create(name=None, image="i", image_id="sha256:1", command=["sh"], config={})
    assert info.value.path is not None and str(blocker) in str(info.value.path)
    assert isinstance(info.value.__cause__, NotADirectoryError)
