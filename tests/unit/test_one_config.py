"""config.json is the one record of how a container runs: inspect, the network verbs and update
read and change it there, and state.json keeps only what the runtime-spec has no field for."""

import json

from minicontainer.cgroups import Limits
from minicontainer.oci import annotations as A
from minicontainer.oci.build import resources_for
from minicontainer.oci.spec import Linux, Process, Spec
from minicontainer.runtime.containers import ContainerStore
from minicontainer.runtime.inspect import container_json

DECIDING = ("network", "publish", "expose", "tty", "interactive", "init", "hostname", "workdir", "limits")


def _container(tmp_path, **notes):
    store = ContainerStore(tmp_path / "state")
    c = store.create(name="web", image="busybox", image_id="sha256:x", command=["httpd"],
                     config={"rm": True, "labels": {"tier": "front"}, "env": ["A=1"], "stop_signal": "SIGQUIT"})
    spec = Spec(process=Process(args=["httpd"], terminal=True, cwd="/srv"), hostname="webhost",
                annotations={A.NETWORK: "front", A.PUBLISH: json.dumps(["127.0.0.1:8080:80"]),
                             A.EXPOSE: json.dumps(["80/tcp"]), A.INIT: "true", A.INTERACTIVE: "true", **notes},
                linux=Linux(resources=resources_for(Limits(memory=64 << 20, cpus=0.5, pids_limit=50))))
    c.save_spec(spec, "test")
    return store, c


def test_inspect_reads_how_it_runs_from_config_json(tmp_path):
    store, c = _container(tmp_path)
    doc = container_json(store.load(c.id))        # a fresh record: nothing cached from the save
    host, cfg = doc["HostConfig"], doc["Config"]
    assert (host["NetworkMode"], host["Init"], host["PublishAllPorts"]) == ("front", True, True)
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 << 20, 500_000_000, 50)
    assert (cfg["Tty"], cfg["OpenStdin"], cfg["Hostname"], cfg["WorkingDir"]) == (True, True, "webhost", "/srv")
    assert (cfg["Labels"], cfg["Env"], cfg["StopSignal"], host["AutoRemove"]) == (
        {"tier": "front"}, ["A=1"], "SIGQUIT", True)       # Docker's view of the request: the record


def test_the_record_keeps_nothing_that_decides_how_it_runs(tmp_path):
    store, c = _container(tmp_path)
    record = json.loads((c.dir / "state.json").read_text())["config"]
    assert not set(DECIDING) & set(record)
    again = store.load(c.id)
    assert (again.network, again.tty, again.interactive) == ("front", True, True)


def test_a_record_without_config_json_yet_reads_as_no_network(tmp_path):
    """A create in progress (state.json renamed in place, config.json not written yet) lists and
    inspects without an error: no network, no terminal."""
    store = ContainerStore(tmp_path / "state")
    c = store.create(name="new", image="busybox", image_id="sha256:x", command=["true"], config={})
    assert (c.network, c.tty, c.interactive) == ("none", False, False)
    assert container_json(c)["HostConfig"]["NetworkMode"] == "none"
