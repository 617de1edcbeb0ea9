"""A network whose subnet another host interface routes too is refused before anything is made:
podman's cni-podman0 on 10.88.0.0/16 took the packets of a bridge on the same subnet, and
connections to published ports hung instead of failing."""

from __future__ import annotations

import pytest

from minicontainer.errors import ConflictError
from minicontainer.network.endpoint import check_routes
from minicontainer.network.store import DEFAULT_SUBNET, Network

HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def fake_proc(tmp_path, *routes):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "route").write_text(HEADER + "".join(
        f"{dev}\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0\n" for dev, dest, mask in routes))
    return tmp_path


def net(subnet, bridge="mc0", default=True):
    return Network(name="bridge" if default else "n1", bridge=bridge, subnet=subnet,
                   gateway=subnet.rsplit(".", 2)[0] + ".0.1", default=default)


def test_a_route_of_another_interface_on_the_subnet_is_refused(tmp_path):
    proc = fake_proc(tmp_path, ("cni-podman0", "0000580A", "0000FFFF"))     # 10.88.0.0/16
    with pytest.raises(ConflictError, match="overlaps the host route 10.88.0.0/16 on cni-podman0"):
        check_routes(net("10.88.0.0/16"), proc)


def test_the_bridges_own_route_and_other_subnets_are_fine(tmp_path):
    proc = fake_proc(tmp_path, ("mc0", "00004C0A", "0000FFFF"),              # 10.76.0.0/16 on mc0 itself
                     ("cni-podman0", "0000580A", "0000FFFF"))
    check_routes(net("10.76.0.0/16"), proc)


def test_the_default_subnet_is_not_podmans_or_dockers():
    import ipaddress
    ours = ipaddress.ip_network(DEFAULT_SUBNET)
    for theirs in ("10.88.0.0/16", "172.17.0.0/16"):
        assert not ours.overlaps(ipaddress.ip_network(theirs))
