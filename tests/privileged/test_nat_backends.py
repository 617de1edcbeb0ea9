"""Both NAT backends against the real kernel, each inside a private network namespace
(``unshare --net``: a netns has its own netfilter tables, so the host's are never touched):
a NAT bridge and an internal one are installed, read back from the kernel, and removed, and
afterwards nothing of ours is left in the namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, subprocess, sys
from minicontainer.network.nat import backend
b = backend(sys.argv[1])
b.install("mctst0", ["10.77.0.0/24"], False)
b.install("mctst1", ["10.77.1.0/24"], True)
b.install("mctst0", ["10.77.0.0/24"], False)          # again: replaced, not doubled
dump = [sys.argv[2], "list", "ruleset"] if sys.argv[1] == "nftables" else ["iptables-save"]
during = subprocess.run(dump, capture_output=True, text=True, check=True).stdout
seen = sorted(b.bridges())
b.remove("mctst0")
half = sorted(b.bridges())
b.remove("mctst1")
b.remove("mctst1")                                    # idempotent
after = subprocess.run(dump, capture_output=True, text=True, check=True).stdout
print(json.dumps({"during": during, "seen": seen, "half": half, "left": sorted(b.bridges()), "after": after}))
"""


def run_in_netns(name: str, tool: str) -> dict:
    res = subprocess.run(["unshare", "--net", sys.executable, "-c", SCRIPT, name, tool],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_nftables_backend_in_a_private_netns():
    out = run_in_netns("nftables", shutil.which("nft"))
    assert out["seen"] == ["mctst0", "mctst1"] and out["half"] == ["mctst1"] and out["left"] == []
    assert out["during"].count('masquerade comment "minicontainer:mctst0"') == 1
    assert "mctst1" in out["during"] and 'saddr 10.77.1.0/24' not in out["during"]
    assert "minicontainer" not in out["after"]               # the table went with the last bridge


@pytest.mark.skipif(shutil.which("iptables") is None or shutil.which("iptables-save") is None,
                    reason="iptables is not installed")
def test_iptables_backend_in_a_private_netns():
    out = run_in_netns("iptables", "iptables")
    assert out["seen"] == ["mctst0", "mctst1"] and out["half"] == ["mctst1"] and out["left"] == []
    assert out["during"].count("-j MASQUERADE") == 1 and "-A FORWARD -j MINICONTAINER-FORWARD" in out["during"]
    assert "MINICONTAINER" not in out["after"]               # chains and jumps removed


NETWORKS = r"""
import json, os, subprocess, sys
from minicontainer import network
from minicontainer.network.nat import backend
root = sys.argv[1]
dump = [sys.argv[3], "list", "ruleset"] if sys.argv[2] == "nftables" else ["iptables-save"]
ruleset = lambda: subprocess.run(dump, capture_output=True, text=True, check=True).stdout
a = network.create_network(root, "nata")
b = network.create_network(root, "natb")
both = sorted(backend(sys.argv[2]).bridges())
network.remove_network(root, "nata")
half = ruleset()
network.remove_network(root, "natb")
print(json.dumps({"bridges": [a.bridge, b.bridge], "both": both, "half": half, "after": ruleset()}))
"""


@pytest.mark.parametrize("name,tool", [("nftables", "nft"), ("iptables", "iptables")])
def test_the_rules_go_with_the_last_network_through_network_create_and_rm(tmp_path, name, tool):
    """The whole path (network create / network rm), in a namespace where no other network exists,
    so 'nothing of ours left' can be checked exactly."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    env = {**os.environ, "MINICONTAINER_NAT_BACKEND": name, "MINICONTAINER_RUN_ROOT": str(tmp_path / "run")}
    res = subprocess.run(["unshare", "--net", sys.executable, "-c", NETWORKS, str(tmp_path / "root"), name,
                          shutil.which(tool)], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["both"] == sorted(out["bridges"])
    gone, kept = out["bridges"]
    assert kept in out["half"] and gone not in out["half"]          # rm took only its own bridge's rules
    assert "minicontainer" not in out["after"].lower()             # the last one took the table or chains
