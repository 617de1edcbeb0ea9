"""``minicontainer network ...`` and ``minicontainer port`` (records only; no root)."""

import json

from minicontainer.cli import main
from minicontainer.network.endpoint import Endpoint, save
from minicontainer.network.store import NetworkStore


def run(capsys, tmp_path, *argv):
    rc = main(["--root", str(tmp_path), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_network_create_ls_inspect_rm(capsys, tmp_path):
    assert run(capsys, tmp_path, "network", "create", "web", "--subnet", "10.99.0.0/24")[:2] == (0, "web\n")
    rc, out, _ = run(capsys, tmp_path, "network", "ls")
    assert rc == 0 and "bridge" in out and "mc0" in out and "10.99.0.0/24" in out
    rc, out, _ = run(capsys, tmp_path, "network", "inspect", "web")
    assert json.loads(out)[0]["gateway"] == "10.99.0.1"
    rc, _, err = run(capsys, tmp_path, "network", "create", "other", "--subnet", "10.99.0.0/25")
    assert rc == 125 and err == "minicontainer: network create: subnet 10.99.0.0/25 overlaps network web " \
                                "(10.99.0.0/24)\n"
    rc, _, err = run(capsys, tmp_path, "network", "rm", "bridge")
    assert rc == 125 and "default network" in err
    rc, _, err = run(capsys, tmp_path, "network", "inspect", "nope")
    assert rc == 125 and err.count("\n") == 1 and "no such network: nope" in err
    assert run(capsys, tmp_path, "network", "rm", "web")[0] == 0
    assert "web" not in run(capsys, tmp_path, "network", "ls", "-q")[1].split()


def test_port_lists_mappings_by_name_or_id_prefix(capsys, tmp_path):
    store = NetworkStore(tmp_path)
    save(store, Endpoint(container_id="0123456789ab", network="bridge", name="web", ip="10.76.0.2", prefix=16,
                         ports=[{"host_ip": "127.0.0.1", "host_port": 8080, "container_port": 80, "proto": "tcp"},
                                {"host_ip": "0.0.0.0", "host_port": 5353, "container_port": 53, "proto": "udp"}]))
    rc, out, _ = run(capsys, tmp_path, "port", "web")
    assert (rc, out) == (0, "80/tcp -> 127.0.0.1:8080\n53/udp -> 0.0.0.0:5353\n")
    assert run(capsys, tmp_path, "port", "0123", "53/udp")[1] == "53/udp -> 0.0.0.0:5353\n"
    rc, _, err = run(capsys, tmp_path, "port", "nothing")
    assert rc == 125 and "no networked container" in err


def test_network_ls_format(capsys, tmp_path):
    run(capsys, tmp_path, "network", "create", "web", "--subnet", "10.99.0.0/24")
    rc, out, _ = run(capsys, tmp_path, "network", "ls", "--format", "{{.Name}} {{.Subnet}} {{.Driver}} {{len .ID}}")
    assert rc == 0 and "web 10.99.0.0/24 bridge 12" in out.splitlines()
    rc, out, _ = run(capsys, tmp_path, "network", "ls", "--format", "table {{.Name}}\\t{{.Gateway}}")
    assert out.splitlines()[0] == "NAME      GATEWAY" and "web       10.99.0.1" in out.splitlines()
    rc, _, err = run(capsys, tmp_path, "network", "ls", "--format", "{{.Nope}}")
    assert rc == 1 and "can't evaluate field Nope" in err
