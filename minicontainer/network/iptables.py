"""The iptables backend of outbound NAT, for hosts without nft(8).

iptables(8) has fixed tables (``filter``, ``nat``) with built-in chains that every user
shares, so we keep our rules in chains of our own and add one jump to each from the
built-in chain, as Docker does with its DOCKER-* chains::

    filter  FORWARD     -j MINICONTAINER-FORWARD
            MINICONTAINER-FORWARD  -o B ! -i B -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
                                   -o B ! -i B -j DROP
                                  (-i B ! -o B -j DROP        for an --internal network)
    nat     POSTROUTING -j MINICONTAINER-POSTROUTING
            MINICONTAINER-POSTROUTING  -s SUBNET ! -o B -j MASQUERADE

The meaning is the nftables backend's (see ``nft.py``): replies come back in, new
connections into a bridge (from the uplink or another of our bridges) are dropped,
masquerade rewrites the source on the way out. Each rule carries
``-m comment --comment minicontainer:<bridge>`` so a bridge's rules can be found and
deleted again (``iptables -S`` prints them back in the form ``-D`` accepts); when our
chains are empty the jumps and the chains go too. ``-w`` waits for the xtables lock.
iptables calls are not one transaction: on a failure the caller removes what was added.
"""

from __future__ import annotations

import ipaddress
import shlex

from .runner import Runner

FORWARD_CHAIN = "MINICONTAINER-FORWARD"
NAT_CHAIN = "MINICONTAINER-POSTROUTING"
PREFIX = "minicontainer:"
_CHAINS = (("filter", "FORWARD", FORWARD_CHAIN), ("nat", "POSTROUTING", NAT_CHAIN))


def rules_for(bridge: str, subnets: list[str], internal: bool) -> list[tuple[str, str, list[str]]]:
    """(table, chain, rule arguments) for one bridge and every subnet on it."""
    nets = [str(ipaddress.ip_network(s)) for s in subnets]
    tag = ["-m", "comment", "--comment", PREFIX + bridge]
    rules = []
    if not internal:
        rules.append(("filter", FORWARD_CHAIN, ["-o", bridge, "!", "-i", bridge, "-m", "conntrack",
                                                "--ctstate", "RELATED,ESTABLISHED", *tag, "-j", "ACCEPT"]))
    rules.append(("filter", FORWARD_CHAIN, ["-o", bridge, "!", "-i", bridge, *tag, "-j", "DROP"]))
    if internal:
        rules.append(("filter", FORWARD_CHAIN, ["-i", bridge, "!", "-o", bridge, *tag, "-j", "DROP"]))
    else:
        rules += [("nat", NAT_CHAIN, ["-s", net, "!", "-o", bridge, *tag, "-j", "MASQUERADE"]) for net in nets]
    return rules


def _tagged(line: str) -> str | None:
    """The bridge named by a ``-A`` line's comment, or None."""
    words = shlex.split(line)
    if "--comment" in words:
        i = words.index("--comment")
        if i + 1 < len(words) and words[i + 1].startswith(PREFIX):
            return words[i + 1][len(PREFIX):]
    return None


class Iptables:
    """Outbound NAT rules in MINICONTAINER-* chains (see the module docstring)."""

    name = "iptables"

    def __init__(self, runner: Runner | None = None, iptables: str = "iptables") -> None:
        self.runner = runner or Runner()
        self.ipt = iptables

    def _run(self, table: str, *args: str, check: bool = True):
        return self.runner.run([self.ipt, "-w", "-t", table, *args], check=check)

    def _listing(self, table: str, chain: str) -> list[str] | None:
        code, out, _ = self._run(table, "-S", chain, check=False)
        if code != 0:
            return None                      # no such chain
        return [ln for ln in out.splitlines() if ln.startswith("-A ")]

    def _ensure_chains(self) -> None:
        for table, builtin, chain in _CHAINS:
            if self._listing(table, chain) is None:
                self._run(table, "-N", chain)
            if self._run(table, "-C", builtin, "-j", chain, check=False)[0] != 0:
                self._run(table, "-I", builtin, "1", "-j", chain)

    def install(self, bridge: str, subnets: list[str], internal: bool) -> None:
        rules = rules_for(bridge, subnets, internal)
        self.remove(bridge, drop_chains=False)
        self._ensure_chains()
        for table, chain, args in rules:
            self._run(table, "-A", chain, *args)

    def remove(self, bridge: str, *, drop_chains: bool = True) -> None:
        """Delete ``bridge``'s rules; with the last of them, our chains and their jumps. Idempotent."""
        for table, builtin, chain in _CHAINS:
            lines = self._listing(table, chain)
            if lines is None:
                continue
            left = []
            for line in lines:
                if _tagged(line) == bridge:
                    self._run(table, "-D", *shlex.split(line)[1:])
                else:
                    left.append(line)
            if drop_chains and not left:
                self._run(table, "-D", builtin, "-j", chain, check=False)
                self._run(table, "-X", chain)

    def bridges(self) -> set[str]:
        found = set()
        for table, _, chain in _CHAINS:
            for line in self._listing(table, chain) or []:
                name = _tagged(line)
                if name:
                    found.add(name)
        return found
