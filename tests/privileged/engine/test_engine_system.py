"""/info, /version, /system/df and /events through docker-py, checked against the host and the stores."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import pytest

from minicontainer import paths
from minicontainer.images.store import ImageStore


def test_info_describes_this_host(client, engine):
    from minicontainer.cgroups import detect
    from minicontainer.runtime import Runtime, RunOptions
    Runtime(engine.root).create(RunOptions(image="busybox", command=["true"], network="none"))
    info = client.info()
    layout = detect(paths.CGROUP_ROOT, paths.PROC_ROOT)
    assert info["CgroupVersion"] == ("2" if layout.backend == "v2" else "1")
    assert info["Containers"] == 1 and info["ContainersStopped"] == 1 and info["ContainersRunning"] == 0
    assert info["Images"] == len(ImageStore(engine.root).list()) == 1
    assert info["NCPU"] == os.cpu_count() and info["KernelVersion"] == os.uname().release
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    assert info["MemTotal"] == int(meminfo[1]) * 1024
    assert info["DockerRootDir"] == str(engine.root) and info["OSType"] == "linux"
    assert info["Driver"] == "overlay2" and "name=seccomp,profile=builtin" in info["SecurityOptions"]
    assert info["OperatingSystem"] and info["Name"] == os.uname().nodename
    assert info["ID"] == client.info()["ID"] == (engine.root / "engine-id").read_text().strip()


def test_version_negotiates(client, engine):
    version = client.version()
    assert version["ApiVersion"] >= "1.41" and version["MinAPIVersion"] <= "1.24"
    assert client.api.api_version == version["ApiVersion"]


def test_system_df(client, engine):
    from minicontainer.runtime.volumes import VolumeStore
    store = VolumeStore(engine.root)
    with store.lock():
        vol, _ = store.create("sized")
    (vol.data / "blob").write_bytes(b"x" * 12345)
    df = client.df()
    busybox = ImageStore(engine.root).resolve("busybox")
    assert [(i["Id"], i["Containers"]) for i in df["Images"]] == [(busybox.id, 0)]
    assert df["LayersSize"] >= busybox.size
    assert [(v["Name"], v["UsageData"]) for v in df["Volumes"]] == [("sized", {"Size": 12345, "RefCount": 0})]
    assert df["Containers"] == [] and df["BuildCache"] == []


def _minicontainer(root, *args):
    exe = Path(sys.executable).parent / "minicontainer"
    subprocess.run([str(exe), "--root", str(root), *args], check=True, capture_output=True, timeout=60)


def test_events_window_shows_what_the_cli_did(client, engine):
    since = time.time()
    _minicontainer(engine.root, "volume", "create", "evvol")
    _minicontainer(engine.root, "tag", "busybox", "evimg:1")
    _minicontainer(engine.root, "volume", "rm", "evvol")
    time.sleep(0.05)
    until = time.time()
    time.sleep(0.05)
    _minicontainer(engine.root, "volume", "create", "later")       # after the window: not shown
    got = list(client.events(since=since, until=until, decode=True))
    assert [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in got] == [
        ("volume", "create", "evvol"),
        ("image", "tag", ImageStore(engine.root).resolve("busybox").id),
        ("volume", "destroy", "evvol")]
    assert got[1]["Actor"]["Attributes"]["name"] == "evimg:1"
    assert all(since * 1e9 <= e["timeNano"] <= until * 1e9 for e in got)
    only = list(client.events(since=since, until=until, decode=True, filters={"type": "volume", "event": "destroy"}))
    assert [e["Action"] for e in only] == ["destroy"]
    # docker-py's events() does not check the status: ask by hand
    for params, needle in (({"filters": '{"colour": ["red"]}'}, "invalid filter 'colour'"),
                           ({"filters": '{"type": ["planet"]}'}, "invalid filter 'type=planet'"),
                           ({"since": "yesterday"}, "invalid time")):
        resp = client.api._get(client.api._url("/events"), params={"until": str(until), **params})
        assert resp.status_code == 400 and needle in resp.json()["message"], params


def test_events_streamed_while_a_container_runs(client, engine):
    from minicontainer.runtime import Runtime, RunOptions
    started = threading.Event()
    result = {}

    def run_one():
        started.wait(10)
        time.sleep(0.3)
        with open(os.devnull, "r+b") as null:
            r = Runtime(engine.root).run(RunOptions(image="busybox", command=["sh", "-c", "exit 3"], network="none",
                                                    rm=True), stdin=null, stdout=null, stderr=null)
        result["code"] = r.exit_code
        result["id"] = r.container.id

    t = threading.Thread(target=run_one)
    t.start()
    stream = client.events(decode=True, filters={"type": "container"}, until=time.time() + 20)
    seen = []
    try:
        time.sleep(0.2)
        assert client.info()["NEventsListener"] == 1          # this stream
        started.set()
        for event in stream:
            seen.append(event)
            if event["Action"] == "destroy":
                break
    finally:
        stream.close()
        t.join(30)
    assert result["code"] == 3
    assert [e["Action"] for e in seen] == ["create", "start", "die", "destroy"]
    assert {e["Actor"]["ID"] for e in seen} == {result["id"]}
    assert seen[2]["Actor"]["Attributes"]["exitCode"] == "3" and seen[0]["from"] == "busybox"
