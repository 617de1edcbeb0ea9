"""Networks and volumes through docker-py: CRUD, Docker's statuses for errors, and the stores afterwards."""

from __future__ import annotations

import subprocess
import time

import docker
import pytest

from minicontainer import network as mcnet
from minicontainer.runtime import Runtime, RunOptions
from minicontainer.runtime.volumes import VolumeStore


@pytest.fixture
def netname(request):
    """A network name unique to this test run (bridges are host-wide); removed afterwards if left."""
    name = f"mcn{int(time.time() * 1000) % 10**8}"
    yield name


def _cleanup_network(root, name):
    try:
        mcnet.remove_network(root, name)
    except Exception:  # noqa: BLE001 - already gone
        pass


def test_network_crud_and_errors(client, engine, netname):
    try:
        net = client.networks.create(netname, driver="bridge")
        assert len(net.id) == 64
        store = mcnet.NetworkStore(engine.root)
        assert store.inspect(netname).id == net.id
        names = {n.name: n.attrs["Driver"] for n in client.networks.list()}
        assert names == {"bridge": "bridge", "host": "host", "none": "null", netname: "bridge"}
        data = client.api.inspect_network(net.id[:12])
        assert data["Name"] == netname and data["IPAM"]["Config"][0]["Subnet"] == store.inspect(netname).subnet
        assert [n["Name"] for n in client.api.networks(filters={"type": "custom"})] == [netname]
        with pytest.raises(docker.errors.APIError) as err:
            client.networks.create(netname)
        assert err.value.status_code == 409
        for kw, needle in (({"driver": "overlay"}, "driver"), ({"attachable": True}, "Attachable"),
                           ({"enable_ipv6": True}, "EnableIPv6"), ({"options": {"mtu": "9000"}}, "mtu")):
            with pytest.raises(docker.errors.APIError) as err:
                client.networks.create(netname + "x", **kw)
            assert err.value.status_code == 400 and needle in str(err.value), kw
        with pytest.raises(docker.errors.APIError) as err:         # overlaps the default network's subnet
            client.networks.create(netname + "x", ipam=docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet="10.76.5.0/24")]))
        assert err.value.status_code == 409 and "overlaps" in str(err.value)
        assert store.record(netname + "x") is None
        inner = client.networks.create(netname + "i", internal=True)
        assert inner.attrs["Internal"] is True and store.inspect(netname + "i").internal is True
        client.api.remove_network(netname + "i")
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("nosuchnet")
        for builtin in ("bridge", "host", "none"):
            with pytest.raises(docker.errors.APIError) as err:
                client.api.remove_network(builtin)
            assert err.value.status_code == 403
        cid = Runtime(engine.root).create(RunOptions(image="busybox", command=["true"], network=netname)).id
        with pytest.raises(docker.errors.APIError) as err:
            client.api.remove_network(netname)
        assert err.value.status_code == 409 and store.record(netname) is not None
        Runtime(engine.root).remove(cid)
        client.api.remove_network(netname)
        assert store.record(netname) is None
        with pytest.raises(docker.errors.NotFound):
            client.api.remove_network(netname)
    finally:
        _cleanup_network(engine.root, netname)
        _cleanup_network(engine.root, netname + "i")


def test_network_create_rejects_bad_json(client, engine):
    from test_engine_images import raw_request
    for body in (b"{not json", b"[1, 2]", b'{"Name": ""}'):
        head = (f"POST /v1.41/networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        code, reply = raw_request(engine.sock, head, body)
        assert code == 400 and reply["message"], body
    assert [n.name for n in mcnet.NetworkStore(engine.root).ls()] in ([], ["bridge"])


def test_connect_disconnect(client, engine, netname):
    rt = Runtime(engine.root)
    try:
        net = client.networks.create(netname)
        probe = "ip -4 -o addr show eth0 2>&1 || echo no-eth0; grep -c . /etc/resolv.conf 2>/dev/null || echo none"
        created = rt.create(RunOptions(image="busybox", command=["sh", "-c", probe], network="none", name="idle"))
        net.connect("idle")
        assert rt.containers.get("idle").network == netname       # in config.json, which start reads
        with pytest.raises(docker.errors.APIError) as err:
            net.connect("idle")
        assert err.value.status_code == 409
        subnet = client.networks.get(netname).attrs["IPAM"]["Config"][0]["Subnet"]
        idle = client.containers.get("idle")
        idle.start()
        assert idle.wait(timeout=30)["StatusCode"] == 0
        first = idle.logs().decode()
        prefix = subnet.rsplit(".", 1)[0] + "."
        assert f"inet {prefix}" in first, first                  # its next start wired it there
        net.disconnect("idle")
        assert rt.containers.get("idle").network == "none"
        idle.start()
        assert idle.wait(timeout=30)["StatusCode"] == 0
        second = idle.logs().decode()[len(first):]
        assert "no-eth0" in second and f"inet {prefix}" not in second, second
        rt.remove(created.id)

        # a running container with no network gets a veth on the bridge now
        r = rt.run(RunOptions(image="busybox", command=["sleep", "30"], network="none", name="live", detach=True))
        net.connect("live")
        net.reload()
        eps = net.attrs["Containers"]
        assert list(eps) == [r.container.id] and eps[r.container.id]["IPv4Address"].startswith(
            mcnet.NetworkStore(engine.root).inspect(netname).subnet.rsplit(".", 1)[0])
        ip = eps[r.container.id]["IPv4Address"].split("/")[0]
        ping = subprocess.run(["ping", "-c", "1", "-W", "2", ip], capture_output=True) \
            if subprocess.run(["which", "ping"], capture_output=True).returncode == 0 else None
        if ping is not None:
            assert ping.returncode == 0, ping.stdout
        net.disconnect("live")
        net.reload()
        assert net.attrs["Containers"] == {}
        with pytest.raises(docker.errors.APIError) as err:
            net.disconnect("live")
        assert err.value.status_code == 409
        with pytest.raises(docker.errors.NotFound):
            net.connect("nosuchcontainer")
        rt.remove("live", force=True)
    finally:
        for c in rt.containers.list():
            rt.remove(c.id, force=True)
        _cleanup_network(engine.root, netname)


def test_network_prune(client, engine, netname):
    rt = Runtime(engine.root)
    try:
        client.networks.create(netname)
        client.networks.create(netname + "k")
        cid = rt.create(RunOptions(image="busybox", command=["true"], network=netname + "k")).id
        res = client.networks.prune()
        assert res["NetworksDeleted"] == [netname]
        assert [n.name for n in mcnet.NetworkStore(engine.root).ls() if not n.default] == [netname + "k"]
        rt.remove(cid)
    finally:
        _cleanup_network(engine.root, netname)
        _cleanup_network(engine.root, netname + "k")


def test_volume_crud_and_errors(client, engine):
    store = VolumeStore(engine.root)
    vol = client.volumes.create("data1")
    assert vol.name == "data1" and vol.attrs["Mountpoint"] == str(store.get("data1").data)
    assert client.api.create_volume("data1")["Name"] == "data1"        # creating an existing one is fine
    anon = client.api.create_volume()
    assert len(anon["Name"]) == 64
    assert sorted(v.name for v in client.volumes.list()) == sorted(["data1", anon["Name"]])
    assert [v["Name"] for v in client.api.volumes(filters={"name": "data"})["Volumes"]] == ["data1"]
    assert client.api.inspect_volume("data1")["Driver"] == "local"
    with pytest.raises(docker.errors.NotFound):
        client.api.inspect_volume("nosuch")
    for kw, needle in (({"driver": "nfs"}, "driver"), ({"driver_opts": {"type": "tmpfs"}}, "type"),
                       ({"labels": {"a": "b"}}, "labels")):
        with pytest.raises(docker.errors.APIError) as err:
            client.api.create_volume("other", **kw)
        assert err.value.status_code == 400 and needle in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_volume("bad/name")
    assert err.value.status_code == 400
    assert sorted(v.name for v in store.ls()) == sorted(["data1", anon["Name"]])

    cid = Runtime(engine.root).create(RunOptions(image="busybox", command=["true"], network="none",
                                                 volumes=["data1:/data"])).id
    with pytest.raises(docker.errors.APIError) as err:
        client.api.remove_volume("data1")
    assert err.value.status_code == 409 and store.get("data1")
    with pytest.raises(docker.errors.NotFound):
        client.api.remove_volume("nosuch")
    # force: a missing one is no error (docker-py's remove_volume drops its force parameter: by hand)
    assert client.api._delete(client.api._url("/volumes/nosuch"), params={"force": "1"}).status_code == 204
    rt = Runtime(engine.root)
    scratch = rt.create(RunOptions(image="busybox", command=["true"], network="none", volumes=["/scratch"]))
    anonymous = scratch.config["volumes"][0]["name"]
    rt.remove(scratch.id)                             # without -v: its anonymous volume stays, unused
    res = client.volumes.prune()
    assert res["VolumesDeleted"] == [anonymous]       # only anonymous ones (API 1.42's rule): not anon["Name"]
    res = client.volumes.prune(filters={"all": "true"})
    assert res["VolumesDeleted"] == [anon["Name"]]    # data1 is in use
    rt.remove(cid)
    res = client.volumes.prune(filters={"all": "true"})
    assert res["VolumesDeleted"] == ["data1"] and store.ls() == []
