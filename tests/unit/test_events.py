"""The event log (minicontainer.events): written by the library, read with Docker's filters."""

import json
import threading
import time

import pytest

from minicontainer import events
from minicontainer.errors import UsageError


def test_record_has_dockers_fields(tmp_path):
    ev = events.record(tmp_path, "container", "start", "c" * 64, {"name": "web", "image": "busybox"})
    line = json.loads((tmp_path / events.LOG).read_text())
    assert line == ev
    assert ev["Type"] == "container" and ev["Action"] == "start" and ev["status"] == "start"
    assert ev["Actor"] == {"ID": "c" * 64, "Attributes": {"name": "web", "image": "busybox"}}
    assert ev["from"] == "busybox" and ev["scope"] == "local"
    assert ev["time"] == ev["timeNano"] // 1_000_000_000


def test_network_events_have_no_legacy_fields(tmp_path):
    ev = events.record(tmp_path, "network", "create", "n" * 64, {"name": "net"})
    assert "status" not in ev and "id" not in ev


def test_unwritable_log_does_not_fail_the_change(tmp_path):
    missing = tmp_path / "no" / "such" / "root"
    ev = events.record(missing, "volume", "create", "v")      # logged at debug level, not raised
    assert ev["Action"] == "create" and not missing.exists()


def test_read_window_and_filters(tmp_path):
    events.record(tmp_path, "container", "create", "a" * 64, {"name": "one"})
    mid = time.time_ns()
    events.record(tmp_path, "container", "start", "a" * 64, {"name": "one"})
    events.record(tmp_path, "image", "tag", "sha256:" + "b" * 64, {"name": "x:latest"})
    events.record(tmp_path, "network", "connect", "n" * 64, {"name": "net", "container": "a" * 64})
    end = time.time_ns()
    events.record(tmp_path, "volume", "create", "vol", {"driver": "local"})
    assert [e["Action"] for e in events.read(tmp_path, since=mid, until=end)] == ["start", "tag", "connect"]
    assert [e["Action"] for e in events.read(tmp_path, filters={"type": ["volume"]})] == ["create"]
    assert [e["Action"] for e in events.read(tmp_path, filters={"container": ["one"]})] == ["create", "start"]
    assert [e["Action"] for e in events.read(tmp_path, filters={"container": ["aaaa"]})] == \
        ["create", "start", "connect"]          # an id prefix, and the network event naming the container
    assert [e["Type"] for e in events.read(tmp_path, filters={"event": ["create"]})] == ["container", "volume"]
    assert events.read(tmp_path, filters={"type": ["container"], "event": ["tag"]}) == []


def test_check_filters():
    assert events.check_filters({"type": ["image"]}) == {"type": ["image"]}
    assert events.check_filters({"event": {"start": True, "die": False}}) == {"event": ["start"]}
    for bad in ({"colour": ["red"]}, {"type": ["planet"]}, {"type": "container"}, ["type"]):
        with pytest.raises(UsageError):
            events.check_filters(bad)


def test_parse_time():
    assert events.parse_time("1700000000") == 1700000000 * 10**9
    assert events.parse_time("1700000000.000000042") == 1700000000 * 10**9 + 42
    assert events.parse_time("") is None
    assert events.parse_time("2023-11-14T22:13:20Z") == 1700000000 * 10**9
    assert events.parse_time("10m", now=1000.0) == 400 * 10**9
    with pytest.raises(UsageError):
        events.parse_time("yesterday")


def test_follow_sees_new_events_and_stops_at_until(tmp_path):
    events.record(tmp_path, "container", "create", "old")
    until = time.time_ns() + 2 * 10**9
    seen = []

    def writer():
        time.sleep(0.2)
        events.record(tmp_path, "container", "start", "new1")
        events.record(tmp_path, "image", "tag", "img")
        events.record(tmp_path, "container", "die", "new1")

    t = threading.Thread(target=writer)
    t.start()
    t0 = time.monotonic()
    for ev in events.follow(tmp_path, until=until, filters={"type": ["container"]}, poll=0.02):
        if ev is not None:
            seen.append(ev["Action"])
    t.join()
    assert seen == ["start", "die"]                   # not the past one (no since), not the image one
    assert 1.0 < time.monotonic() - t0 < 5.0          # it ended because until passed


def test_follow_with_since_replays_without_duplicates(tmp_path):
    start = time.time_ns()
    events.record(tmp_path, "volume", "create", "v1")
    got = []
    for ev in events.follow(tmp_path, since=start, stop=lambda: len(got) >= 1 and ev is None, poll=0.01):
        if ev is not None:
            got.append(ev["Actor"]["ID"])
    assert got == ["v1"]


def test_rotation_keeps_one_generation(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_BYTES", 2000)
    for i in range(40):
        events.record(tmp_path, "volume", "create", f"v{i}")
    assert (tmp_path / events.OLD).exists()
    ids = [e["Actor"]["ID"] for e in events.read(tmp_path)]
    assert ids == sorted(ids, key=lambda s: int(s[1:])) and ids[-1] == "v39"
    assert (tmp_path / events.LOG).stat().st_size <= 2000 + 300


def test_image_store_writes_tag_untag_delete(tmp_path):
    from minicontainer.images.store import ImageStore
    store = ImageStore(tmp_path)
    im = store.add_image({"rootfs": {"type": "layers", "diff_ids": []}, "created": "2026-01-01T00:00:00Z"},
                         ["first:1"])
    store.tag("first:1", "second:2")
    store.remove("second:2")
    store.remove("first:1")
    got = [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in events.read(tmp_path)]
    assert got == [("tag", "first:1"), ("tag", "second:2"), ("untag", "second:2"), ("untag", "first:1"),
                   ("delete", im.id)]
    assert all(e["Actor"]["ID"] == im.id for e in events.read(tmp_path))


def test_volume_store_writes_create_destroy(tmp_path):
    from minicontainer.runtime.volumes import VolumeStore
    store = VolumeStore(tmp_path)
    with store.lock():
        store.create("data")
        store.create("data")                  # exists already: no second event
    store.remove("data")
    got = [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in events.read(tmp_path)]
    assert got == [("volume", "create", "data"), ("volume", "destroy", "data")]


def test_network_create_event(tmp_path):
    from minicontainer.network.store import NetworkStore
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "route").write_text("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n")
    net = NetworkStore(tmp_path, proc_root=proc, run_root=tmp_path / "run").create("backend")
    evs = events.read(tmp_path, filters={"type": ["network"]})
    assert [(e["Action"], e["Actor"]["ID"]) for e in evs] == [("create", net.id)]
    assert len(net.id) == 64 and evs[0]["Actor"]["Attributes"]["name"] == "backend"


def test_image_filter_reads_names_as_docker_does(tmp_path):
    events.record(tmp_path, "image", "tag", "sha256:" + "1" * 64, {"name": "busybox:latest"})
    events.record(tmp_path, "container", "create", "c" * 64, {"name": "web", "image": "busybox"})
    events.record(tmp_path, "image", "tag", "sha256:" + "2" * 64, {"name": "busybox:1.36"})
    for wanted in ("busybox", "busybox:latest", "docker.io/library/busybox"):
        assert [e["Action"] for e in events.read(tmp_path, filters={"image": [wanted]})] == ["tag", "create"]
    assert [e["Actor"]["ID"][-1] for e in events.read(tmp_path, filters={"image": ["busybox:1.36"]})] == ["2"]
