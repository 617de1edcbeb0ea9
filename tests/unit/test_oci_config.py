"""The OCI runtime-spec config.json: built from image + flags (golden files), read, checked, refused."""

import json
import os
import re
from pathlib import Path

import pytest

from minicontainer.cgroups import Limits
from minicontainer.errors import UsageError
from minicontainer.kernel import RecordingSyscalls
from minicontainer.oci import Spec, validate
from minicontainer.runtime import RunOptions, Runtime

GOLDEN = Path(__file__).parent / "golden"


def _runtime(fake_host, root):
    proc, cg = fake_host
    rt = Runtime(root, RecordingSyscalls(), proc_root=proc, cgroup_root=cg)
    rt.rootless = False
    return rt


def _normalized(rt, c) -> dict:
    """config.json with the paths of this test's state root and the container's id made stable."""
    text = (c.dir / "config.json").read_text()
    text = text.replace(str(c.dir), "$CTR").replace(str(rt.root / "images" / "layers"), "$LAYERS")
    text = re.sub(r"\$LAYERS/[0-9a-f]{64}", "$LAYERS/<busybox layer>", text)   # the host's busybox decides it
    return json.loads(text.replace(c.id, "$ID").replace(c.short_id, "$SHORT"))


@pytest.fixture
def state(tmp_path, image_root):
    """A private copy of the busybox state root (containers are created in it)."""
    import shutil
    root = tmp_path / "state"
    shutil.copytree(image_root, root, symlinks=True)
    return root


@pytest.mark.parametrize("name,opts", [
    ("busybox-default", dict(command=[])),
    ("busybox-flags", dict(command=["id"], user="1000", cap_drop=["ALL"], read_only=True, hostname="box",
                           env=["A=1"], workdir="/tmp", limits=Limits(memory=64 << 20, pids_limit=10))),
])
def test_golden_config(fake_host, state, name, opts):
    rt = _runtime(fake_host, state)
    c = rt.create(RunOptions(image="busybox", network="none", **opts))
    got = _normalized(rt, c)
    # linux.seccomp is the security package's default profile resolved for these capabilities
    from minicontainer.security.defaults import DEFAULT_PROFILE
    from minicontainer.security.profile import resolve
    caps = got["process"].get("capabilities", {}).get("bounding", [])
    assert got["linux"].pop("seccomp") == resolve(DEFAULT_PROFILE, caps).to_oci()
    path = GOLDEN / f"oci-{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(path.read_text())
    spec = Spec.from_json((c.dir / "config.json").read_text())
    assert Spec.from_json(spec.to_json()) == spec          # a lossless round trip
    validate(spec, str(c.dir))


def test_update_rewrites_resources(fake_host, state):
    from minicontainer.runtime.update import update
    rt = _runtime(fake_host, state)
    c = rt.create(RunOptions(image="busybox", network="none", limits=Limits(memory=64 << 20)))
    update(rt, c.id, Limits(pids_limit=20))
    res = json.loads((c.dir / "config.json").read_text())["linux"]["resources"]
    assert res == {"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}


def test_unknown_user_leaves_nothing(fake_host, state):
    rt = _runtime(fake_host, state)
    with pytest.raises(UsageError, match="unable to find user nosuchuser"):
        rt.create(RunOptions(image="busybox", network="none", user="nosuchuser"))
    assert not [p for p in (state / "containers").iterdir() if not p.name.startswith(".")]


def _doc(**changes) -> dict:
    doc = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"},
           "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}}
    for key, value in changes.items():
        where, *rest = key.split("__")
        target = doc
        for part in [where, *rest][:-1]:
            target = target.setdefault(part, {})
        target[[where, *rest][-1]] = value
    return doc


@pytest.mark.parametrize("changes,message", [
    (dict(ociVersion="2.0.0"), "unsupported ociVersion '2.0.0'"),
    (dict(ociVersion="0.9"), "unsupported ociVersion"),
    (dict(root__path="../../etc"), "root.path '../../etc' leaves the bundle directory"),
    (dict(root__path="missing"), "root.path 'missing': no such directory"),
    (dict(linux__namespaces=[{"type": "mount"}, {"type": "bogus"}]), "unknown namespace type 'bogus'"),
    (dict(linux__namespaces=[{"type": "mount"}, {"type": "pid"}, {"type": "pid"}]), "pid appears twice"),
    (dict(linux__namespaces=[{"type": "pid"}]), "a private mount namespace is required"),
    (dict(linux__namespaces=[{"type": "mount"}, {"type": "user"}]), "needs linux.uidMappings"),
    (dict(linux__uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}]), "id mappings need a user namespace"),
    (dict(hostname="box"), "setting a hostname needs a private uts namespace"),
    (dict(linux__sysctl={"kernel.panic": "1"}), "kernel.panic is not namespaced"),
    (dict(linux__sysctl={"net.ipv4.ip_forward": "1"}), "not allowed in the host's network namespace"),
    (dict(process__args=[]), "process.args must not be empty"),
    (dict(process__cwd="tmp"), "process.cwd 'tmp' must be an absolute path"),
    (dict(process__rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]), "above the hard limit"),
    (dict(process__rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]), "unknown type 'RLIMIT_BOGUS'"),
    (dict(process__capabilities={"bounding": ["CAP_BOGUS"]}), "unknown capability 'CAP_BOGUS'"),
    (dict(mounts=[{"destination": "relative", "type": "tmpfs"}]), "must be an absolute path"),
])
def test_validate_refuses(tmp_path, changes, message):
    (tmp_path / "rootfs").mkdir()
    spec = Spec.from_dict(_doc(**changes))
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate(spec, str(tmp_path))


@pytest.mark.parametrize("changes,field", [
    (dict(hooks={"prestart": [{"path": "/bin/true"}]}), "hooks.prestart"),
    (dict(process__apparmorProfile="docker-default"), "process.apparmorProfile"),
    (dict(linux__intelRdt={"closID": "x"}), "linux.intelRdt"),
    (dict(linux__resources={"blockIO": {"weight": 10}}), "linux.resources.blockIO"),
    (dict(linux__resources={"memory": {"swappiness": 10}}), "linux.resources.memory.swappiness"),
    (dict(linux__seccomp={"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"}), "linux.seccomp.listenerPath"),
    (dict(domainname="example"), "domainname"),
])
def test_unsupported_fields_are_refused_by_name(changes, field):
    with pytest.raises(UsageError, match=f"{field.replace('.', '[.]')} is not supported by minicontainer"):
        Spec.from_dict(_doc(**changes))


@pytest.mark.parametrize("changes,message", [
    (dict(process__user={"uid": "0"}), "process.user.uid: expected an integer"),
    (dict(process__args="sh"), "process.args: expected a list"),
    (dict(linux__namespaces=[{"type": 3}]), r"linux.namespaces\[0\].type: expected a string"),
    (dict(process__terminal="yes"), "process.terminal: expected true or false"),
])
def test_wrong_types_name_the_field(changes, message):
    with pytest.raises(UsageError, match=message):
        Spec.from_dict(_doc(**changes))


def test_invalid_json_and_unknown_properties():
    with pytest.raises(UsageError, match="invalid JSON"):
        Spec.from_json("{not json")
    doc = _doc()
    doc["x-vendor"] = {"anything": 1}             # config.md: unknown properties MUST be ignored
    doc["process"]["somethingNew"] = True
    assert Spec.from_dict(doc).to_dict() == Spec.from_dict(_doc()).to_dict()


def test_mount_options_are_parsed_both_ways():
    from minicontainer.kernel import constants as C
    from minicontainer.oci.mounts import mount_call, options_for, parse_options
    from minicontainer.oci.spec import Mount
    flags, data, prop, bind = parse_options(["nosuid", "noexec", "mode=755", "size=1m", "rslave"])
    assert (flags, data, prop, bind) == (C.MS_NOSUID | C.MS_NOEXEC, "mode=755,size=1m", C.MS_SLAVE | C.MS_REC,
                                         False)
    assert parse_options(options_for(flags, data))[:2] == (flags, data)
    ro_bind = mount_call(Mount("/data", "bind", "/srv", ["rbind", "ro", "nosuid"]))
    assert ro_bind.flags == C.MS_BIND | C.MS_REC | C.MS_NOSUID and ro_bind.readonly_remount
    assert ro_bind.remount_flags() == C.MS_REMOUNT | C.MS_BIND | C.MS_RDONLY | C.MS_NOSUID
    with pytest.raises(UsageError, match="mount option 'tmpcopyup' is not supported"):
        mount_call(Mount("/x", "tmpfs", "tmpfs", ["tmpcopyup"]))


def test_dry_run_plans_from_the_same_config(fake_host, state):
    """--explain --dry-run builds config.json with the same builder (and stores nothing)."""
    rt = _runtime(fake_host, state)
    steps = rt.explain_plan(RunOptions(image="busybox", command=["true"], network="none", user="1000"))
    assert ("setuid", "uid=1000 gid=0 groups=[0]") in [(s.call, s.args) for s in steps]
    assert not (state / "containers").exists() or not list((state / "containers").iterdir())
