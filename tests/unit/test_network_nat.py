"""Outbound NAT without root: the rules each backend generates, and the host-wide refcount
(two state roots on one bridge, stale users, failures leave nothing), with a recording runner."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from minicontainer.errors import NetworkError
from minicontainer.kernel.recording import RecordingSyscalls
from minicontainer.network import hosts as H
from minicontainer.network import nat as N
from minicontainer.network import nft, iptables
from minicontainer.network.endpoint import create_network
from minicontainer.network.runner import RecordingRunner
from minicontainer.network.store import Network, NetworkStore

NO_TABLE = (1, "", "Error: No such file or directory; did you mean table 'filter' in family ip?\n")


class FakeNft:
    """Answers like nft: keeps the rules of our table, numbered by handle."""

    def __init__(self):
        self.rules: list[dict] = []
        self.next = 4
        self.fail_script = False

    def __call__(self, argv, stdin):
        if argv[1:3] == ["-j", "list"]:
            if not self.rules and not getattr(self, "table", False):
                return NO_TABLE
            items = [{"metainfo": {}}, {"table": {"family": "ip", "name": "minicontainer"}}]
            items += [{"rule": r} for r in self.rules]
            return 0, json.dumps({"nftables": items}), ""
        if argv[1:] == ["-f", "-"]:
            if self.fail_script:
                return 1, "", "Error: Could not process rule: Operation not supported\n"
            for line in stdin.splitlines():
                w = line.split()
                if w[:2] == ["add", "table"]:
                    self.table = True
                elif w[:2] == ["add", "rule"]:
                    comment = line.rsplit("comment ", 1)[1].strip('"')
                    self.rules.append({"family": "ip", "table": "minicontainer", "chain": w[4],
                                       "handle": self.next, "comment": comment})
                    self.next += 1
                elif w[:2] == ["delete", "rule"]:
                    self.rules = [r for r in self.rules if r["handle"] != int(w[-1])]
                elif w[:2] == ["delete", "table"]:
                    self.rules, self.table = [], False
            return 0, "", ""
        raise AssertionError(argv)


def test_nft_script_for_a_nat_network():
    text = nft.install_script("mc0", ["10.76.0.0/16"], internal=False)
    assert text.splitlines() == [
        "add table ip minicontainer",
        "add chain ip minicontainer forward { type filter hook forward priority filter; policy accept; }",
        "add chain ip minicontainer postrouting { type nat hook postrouting priority srcnat; policy accept; }",
        'add rule ip minicontainer forward oifname "mc0" iifname != "mc0" ct state established,related accept '
        'comment "minicontainer:mc0"',
        'add rule ip minicontainer forward oifname "mc0" iifname != "mc0" drop comment "minicontainer:mc0"',
        'add rule ip minicontainer postrouting ip saddr 10.76.0.0/16 oifname != "mc0" masquerade '
        'comment "minicontainer:mc0"']


def test_nft_script_for_an_internal_network_has_no_masquerade():
    text = nft.install_script("mcbr-1", ["10.89.0.0/24"], internal=True)
    assert "masquerade" not in text and "established" not in text
    assert 'iifname "mcbr-1" oifname != "mcbr-1" drop' in text
    assert 'oifname "mcbr-1" iifname != "mcbr-1" drop' in text


def test_nft_refuses_a_name_that_would_break_the_script():
    with pytest.raises(NetworkError, match="invalid interface name"):
        nft.install_script('x" drop', ["10.0.0.0/24"], False)


def test_nft_remove_deletes_by_handle_and_the_table_with_the_last_bridge():
    fake = FakeNft()
    backend = nft.Nftables(RecordingRunner(fake))
    backend.install("mc0", ["10.76.0.0/16"], False)
    backend.install("mcbr-a", ["10.89.0.0/24"], False)
    assert backend.bridges() == {"mc0", "mcbr-a"}
    backend.runner.calls.clear()
    backend.remove("mc0")
    assert backend.runner.scripts() == [
        "delete rule ip minicontainer forward handle 4\n"
        "delete rule ip minicontainer forward handle 5\n"
        "delete rule ip minicontainer postrouting handle 6\n"]
    backend.remove("mc0")                              # idempotent: nothing of mc0 left, no script
    assert len(backend.runner.scripts()) == 1
    backend.remove("mcbr-a")
    assert backend.runner.scripts()[-1] == "delete table ip minicontainer\n"
    assert backend.bridges() == set()


def test_nft_install_replaces_a_bridges_old_rules():
    fake = FakeNft()
    backend = nft.Nftables(RecordingRunner(fake))
    backend.install("mc0", ["10.76.0.0/16"], False)
    backend.install("mc0", ["10.76.0.0/16"], False)
    assert len(fake.rules) == 3
    assert backend.runner.scripts()[-1].startswith("delete rule ip minicontainer forward handle 4\n")


def test_nft_error_is_one_line():
    fake = FakeNft()
    fake.fail_script = True
    with pytest.raises(NetworkError, match="nft -f -: could not process rule: operation not supported"):
        nft.Nftables(RecordingRunner(fake)).install("mc0", ["10.76.0.0/16"], False)


def test_iptables_rules_and_removal():
    rules = iptables.rules_for("mc0", ["10.76.0.0/16"], False)
    assert ("nat", "MINICONTAINER-POSTROUTING",
            ["-s", "10.76.0.0/16", "!", "-o", "mc0", "-m", "comment", "--comment", "minicontainer:mc0",
             "-j", "MASQUERADE"]) in rules
    assert not any("MASQUERADE" in r[2] for r in iptables.rules_for("b", ["10.89.0.0/24"], True))
    listing = {"filter": ["-A MINICONTAINER-FORWARD -o mc0 ! -i mc0 -m comment --comment minicontainer:mc0 -j DROP"],
               "nat": ["-A MINICONTAINER-POSTROUTING -s 10.76.0.0/16 ! -o mc0 -m comment "
                       "--comment minicontainer:mc0 -j MASQUERADE"]}

    def answer(argv, stdin):
        if "-S" in argv:
            table = argv[argv.index("-t") + 1]
            return 0, f"-N {argv[-1]}\n" + "\n".join(listing[table]) + "\n", ""
        return 0, "", ""
    runner = RecordingRunner(answer)
    backend = iptables.Iptables(runner)
    assert backend.bridges() == {"mc0"}
    backend.remove("mc0")
    done = [c[0][2:] for c in runner.calls if "-S" not in c[0]]
    assert ["-t", "filter", "-D", "MINICONTAINER-FORWARD", "-o", "mc0", "!", "-i", "mc0", "-m", "comment",
            "--comment", "minicontainer:mc0", "-j", "DROP"] in done
    assert ["-t", "filter", "-D", "FORWARD", "-j", "MINICONTAINER-FORWARD"] in done
    assert ["-t", "nat", "-X", "MINICONTAINER-POSTROUTING"] in done


def test_detect_prefers_nft_then_iptables(monkeypatch):
    monkeypatch.delenv("MINICONTAINER_NAT_BACKEND", raising=False)
    assert N.detect(which=lambda p: "/usr/sbin/" + p).name == "nftables"
    assert N.detect(which=lambda p: "/usr/sbin/iptables" if p == "iptables" else None).name == "iptables"
    assert N.detect(which=lambda p: None) is None
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "none")
    assert N.detect(which=lambda p: "/x") is None


# -- the refcount --------------------------------------------------------------

class WritingSyscalls(RecordingSyscalls):
    """Records, and writes the fake /proc file too (so a second read sees the new value)."""

    def write_file(self, path, data, why):
        super().write_file(path, data, why)
        with open(path, "w") as f:
            f.write(data)


@pytest.fixture
def host(tmp_path):
    """A fake /proc with ip_forward=0 and a private run root."""
    proc = tmp_path / "proc"
    (proc / "sys/net/ipv4").mkdir(parents=True)
    (proc / "sys/net/ipv4/ip_forward").write_text("0\n")
    return {"proc": proc, "run": tmp_path / "run", "fake": FakeNft(), "sys": WritingSyscalls()}


def nat_for(host, root, name="web", **kw):
    store = NetworkStore(root, run_root=host["run"], proc_root=host["proc"])
    runner = RecordingRunner(host["fake"])
    chosen = nft.Nftables(runner)
    nat = N.Nat(store, syscalls=host["sys"], runner=runner, proc_root=host["proc"], chosen=chosen)
    return store, nat, runner


def forward_writes(host):
    return [s.args for s in host["sys"].steps if "ip_forward" in s.args]


def test_two_state_roots_share_one_bridges_rules(host, tmp_path):
    s1, nat1, r1 = nat_for(host, tmp_path / "root1")
    s2, nat2, r2 = nat_for(host, tmp_path / "root2")
    n1 = s1.create("web", "10.99.0.0/24", bridge="mctest")
    n2 = s2.create("web", "10.99.0.0/24", bridge="mctest")
    assert nat1.attach(n1) and nat1.attached(n1)
    assert nat2.attach(n2)
    assert nat1.attach(n1)                               # again: recorded, nothing sent
    assert len(r1.scripts()) == 1 and r2.scripts() == []  # installed once, by the first user
    assert host["fake"].rules and forward_writes(host) == [f"{host['proc']}/sys/net/ipv4/ip_forward <- '1'"]
    nat1.detach(n1)
    assert host["fake"].rules                            # root2 still uses the bridge
    nat2.detach(n2)
    assert host["fake"].rules == [] and not getattr(host["fake"], "table")
    assert forward_writes(host)[-1].endswith("<- '0'")   # we switched it on, so we switch it off
    assert list((host["run"] / "nat").glob("*")) == [host["run"] / "nat" / ".lock"]


def test_one_bridge_two_subnets_masquerades_both_until_one_goes(host, tmp_path):
    s1, nat1, _ = nat_for(host, tmp_path / "root1")
    s2, nat2, _ = nat_for(host, tmp_path / "root2")
    n1 = s1.create("web", "10.99.0.0/24", bridge="mctest")
    n2 = s2.create("web", "10.99.1.0/24", bridge="mctest")   # same name, same bridge, another subnet
    nat1.attach(n1)
    nat2.attach(n2)
    masq = [r for r in host["fake"].rules if r["chain"] == "postrouting"]
    assert len(masq) == 2 and len(host["fake"].rules) == 4
    nat1.detach(n1)
    assert len([r for r in host["fake"].rules if r["chain"] == "postrouting"]) == 1
    record = json.loads((host["run"] / "nat" / "mctest.json").read_text())
    assert record["subnets"] == ["10.99.1.0/24"] and [u["root"] for u in record["users"]] == [str(tmp_path / "root2")]


def test_a_record_of_the_first_format_is_still_read(host, tmp_path):
    store, nat, runner = nat_for(host, tmp_path / "r")
    net = store.create("web", "10.99.0.0/24", bridge="mctest")
    (host["run"] / "nat").mkdir(parents=True)
    (host["run"] / "nat" / "mctest.json").write_text(json.dumps(
        {"backend": "nftables", "subnet": "10.99.0.0/24", "internal": False,
         "users": [{"root": str(tmp_path / "r"), "network": "web"}]}))
    assert nat.attached(net) and nat.attach(net) and runner.scripts() == []


def test_a_deleted_state_root_stops_holding_the_rules(host, tmp_path):
    s1, nat1, _ = nat_for(host, tmp_path / "gone")
    nat1.attach(s1.create("web", "10.99.0.0/24", bridge="mctest"))
    shutil.rmtree(tmp_path / "gone")
    s2, nat2, _ = nat_for(host, tmp_path / "other")
    assert nat2.sweep() == ["mctest"]
    assert host["fake"].rules == []


def test_a_failed_install_leaves_nothing(host, tmp_path):
    store, nat, _ = nat_for(host, tmp_path / "r")
    host["fake"].fail_script = True
    with pytest.raises(NetworkError):
        nat.attach(store.create("web", "10.99.0.0/24", bridge="mctest"))
    assert not (host["run"] / "nat" / "mctest.json").exists()
    assert not (host["run"] / "nat" / "ip_forward").exists()
    assert forward_writes(host)[-1].endswith("<- '0'")


def test_internal_network_installs_no_masquerade_and_keeps_forwarding(host, tmp_path):
    store, nat, runner = nat_for(host, tmp_path / "r")
    net = store.create("quiet", "10.99.1.0/24", bridge="mcint", internal=True)
    assert net.internal and N.bridge_forwarding(net) == "0"
    nat.attach(net)
    assert "masquerade" not in runner.scripts()[0]
    assert forward_writes(host) == []


def test_failed_create_network_removes_the_record(tmp_path, monkeypatch):
    fake = FakeNft()
    fake.fail_script = True
    monkeypatch.setenv("MINICONTAINER_RUN_ROOT", str(tmp_path / "run"))
    monkeypatch.setenv("MINICONTAINER_NAT_BACKEND", "nftables")
    proc = tmp_path / "proc"
    (proc / "sys/net/ipv4").mkdir(parents=True)
    (proc / "sys/net/ipv4/ip_forward").write_text("1\n")
    store = NetworkStore(tmp_path / "root", proc_root=proc)
    with pytest.raises(NetworkError):
        create_network(tmp_path / "root", "web", "10.99.0.0/24", store=store, runner=RecordingRunner(fake))
    assert [n.name for n in store.ls()] == ["bridge"]


def test_network_record_without_internal_reads_as_not_internal():
    assert Network(name="n", bridge="b", subnet="10.0.0.0/24", gateway="10.0.0.1").internal is False


# -- resolv.conf ---------------------------------------------------------------

def test_resolv_conf_only_loopback_warns_and_invents_nothing(tmp_path, caplog):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\noptions edns0\n")
    with caplog.at_level(logging.WARNING, logger="minicontainer.network"):
        path = H.write_resolv_conf(tmp_path, host)
    text = path.read_text()
    assert H.nameservers(text) == [] and "options edns0" in text
    assert "only nameservers (127.0.0.53" in caplog.text


def test_resolv_conf_host_network_is_the_hosts_file(tmp_path, caplog):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\n")
    with caplog.at_level(logging.WARNING, logger="minicontainer.network"):
        out = H.write_resolv_conf(tmp_path / "", host, host_network=True)
    assert out.read_text() == "nameserver 127.0.0.53\n" and caplog.text == ""


def test_resolv_conf_reachable_nameserver_kept_without_warning(tmp_path, caplog):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nnameserver 10.1.2.3\n")
    with caplog.at_level(logging.WARNING, logger="minicontainer.network"):
        out = H.write_resolv_conf(tmp_path, host)
    assert H.nameservers(out.read_text()) == ["10.1.2.3"] and caplog.text == ""


def test_unit_tests_never_reach_the_hosts_packet_filter(tmp_path, monkeypatch):
    """tests/unit/conftest.py sets MINICONTAINER_NAT_BACKEND=none: a network create here runs no nft."""
    from minicontainer.network.runner import Runner

    def refuse(self, argv, stdin=None, *, check=True):
        raise AssertionError(f"a unit test ran {argv}")
    monkeypatch.setattr(Runner, "run", refuse)
    assert create_network(tmp_path / "root", "web", "10.99.0.0/24").name == "web"
