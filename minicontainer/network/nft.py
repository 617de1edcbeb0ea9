"""The nftables backend of outbound NAT: one table of our own, ``table ip minicontainer``.

nftables (nft(8)) keeps rules in *tables* that anyone may add; a table's *base chains*
hook into the kernel's packet path (Documentation/networking/nf_tables, the netfilter
hooks: prerouting, input, forward, output, postrouting). Every table sees every packet,
so ours never has to touch the host's own rules, and removing it removes all of ours::

    table ip minicontainer {
        chain forward {                # routed packets: from a bridge to the uplink and back
            type filter hook forward priority filter; policy accept;
            oifname "mc0" iifname != "mc0" ct state established,related accept comment "minicontainer:mc0"
            oifname "mc0" iifname != "mc0" drop comment "minicontainer:mc0"
        }
        chain postrouting {            # leaving the host: rewrite the private source address
            type nat hook postrouting priority srcnat; policy accept;
            ip saddr 10.76.0.0/16 oifname != "mc0" masquerade comment "minicontainer:mc0"
        }
    }

* ``masquerade`` is source NAT to the address of whatever interface the packet leaves by;
  conntrack (``ct``) remembers each flow and rewrites the replies back to the container.
* The two forward rules let replies in and nothing else: a new connection into the
  bridge from the uplink *or from another of our bridges* is dropped. That is Docker's
  isolation between networks, while bridge -> outside stays open.
* An ``--internal`` network gets no masquerade, and a third rule drops everything its
  bridge tries to send out of it (``iifname "B" oifname != "B" drop``).

Every rule carries the comment ``minicontainer:<bridge>``; removing a bridge's rules
looks them up by comment in ``nft -j list table`` (JSON, libnftables-json(5)) and deletes
them by handle, and the table goes in the same transaction when nothing else is left.
A drop in any table is final, so a host whose own forward chain drops everything
(policy drop) still blocks our containers: we do not override the host's firewall.
"""

from __future__ import annotations

import ipaddress
import json

from ..errors import NetworkError
from .runner import Runner

FAMILY, TABLE = "ip", "minicontainer"
PREFIX = "minicontainer:"


def _quote(name: str) -> str:
    if not name or any(c in name for c in '"\\ \n\t'):
        raise NetworkError(f"invalid interface name {name!r}", op="nat")
    return f'"{name}"'


def comment_for(bridge: str) -> str:
    return PREFIX + bridge


def install_script(bridge: str, subnets: list[str], internal: bool) -> str:
    """The nft script that adds one bridge's rules (creating the table and chains if missing);
    ``subnets``: every subnet on the bridge (two state roots may give it different ones)."""
    nets = [ipaddress.ip_network(s) for s in subnets]   # ValueError on nonsense: checked by the caller
    b, c, t = _quote(bridge), _quote(comment_for(bridge)), f"{FAMILY} {TABLE}"
    lines = [f"add table {t}",
             f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
             f"add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}"]
    if not internal:
        lines.append(f"add rule {t} forward oifname {b} iifname != {b} ct state established,related accept "
                     f"comment {c}")
    lines.append(f"add rule {t} forward oifname {b} iifname != {b} drop comment {c}")
    if internal:
        lines.append(f"add rule {t} forward iifname {b} oifname != {b} drop comment {c}")
    else:
        lines += [f"add rule {t} postrouting ip saddr {net} oifname != {b} masquerade comment {c}" for net in nets]
    return "\n".join(lines) + "\n"


def rules_of(listing: dict) -> list[dict]:
    """The rules of ``nft -j list table`` output: dicts with chain, handle, comment."""
    out = []
    for item in listing.get("nftables", []):
        rule = item.get("rule") if isinstance(item, dict) else None
        if isinstance(rule, dict) and rule.get("table") == TABLE and rule.get("family") == FAMILY:
            out.append(rule)
    return out


def remove_script(rules: list[dict], bridge: str) -> str:
    """Delete ``bridge``'s rules by handle; delete the table too when none of ours would remain."""
    mine = [r for r in rules if r.get("comment") == comment_for(bridge)]
    rest = [r for r in rules if r.get("comment") != comment_for(bridge)]
    t = f"{FAMILY} {TABLE}"
    if not rest:
        return f"delete table {t}\n"
    return "".join(f"delete rule {t} {r['chain']} handle {int(r['handle'])}\n" for r in mine)


class Nftables:
    """Outbound NAT rules in ``table ip minicontainer`` (see the module docstring)."""

    name = "nftables"

    def __init__(self, runner: Runner | None = None, nft: str = "nft") -> None:
        self.runner = runner or Runner()
        self.nft = nft

    def _listing(self) -> dict | None:
        """Our table as JSON, or None when it does not exist."""
        code, out, err = self.runner.run([self.nft, "-j", "list", "table", FAMILY, TABLE], check=False)
        if code != 0:
            if "no such file or directory" in err.lower():
                return None
            from .runner import error_line
            raise NetworkError(error_line(err, code), op="nat", path=f"{self.nft} list table")
        try:
            return json.loads(out)
        except ValueError as err:
            raise NetworkError(f"unreadable json from nft: {err}", op="nat", path=self.nft) from err

    def install(self, bridge: str, subnets: list[str], internal: bool) -> None:
        """Add ``bridge``'s rules (its old ones, if any, are replaced) in one transaction."""
        script = install_script(bridge, subnets, internal)
        listing = self._listing()
        if listing is not None:
            old = [r for r in rules_of(listing) if r.get("comment") == comment_for(bridge)]
            t = f"{FAMILY} {TABLE}"
            script = "".join(f"delete rule {t} {r['chain']} handle {int(r['handle'])}\n" for r in old) + script
        self.runner.run([self.nft, "-f", "-"], script)

    def remove(self, bridge: str) -> None:
        """Remove ``bridge``'s rules, and the table with the last of them. Idempotent."""
        listing = self._listing()
        if listing is None:
            return
        rules = rules_of(listing)
        if not any(r.get("comment") == comment_for(bridge) for r in rules) and rules:
            return
        self.runner.run([self.nft, "-f", "-"], remove_script(rules, bridge))

    def bridges(self) -> set[str]:
        """The bridges that have rules of ours."""
        listing = self._listing()
        if listing is None:
            return set()
        return {r["comment"][len(PREFIX):] for r in rules_of(listing)
                if str(r.get("comment", "")).startswith(PREFIX)}
