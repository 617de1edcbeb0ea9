"""Outbound NAT for bridge networks: forwarding plus masquerade, refcounted per bridge.

A container on ``mc0`` has a private address (10.76.0.2) that no outside host can
answer. Two things let it reach the outside anyway, as with Docker and podman:

1. **routing**: the host forwards packets arriving on the bridge to its uplink
   (``net.ipv4.ip_forward = 1`` and ``net.ipv4.conf.<bridge>.forwarding = 1``, see the
   kernel's Documentation/networking/ip-sysctl.rst; both are /proc/sys files, written
   through the Syscalls object);
2. **source NAT** (masquerade): a packet leaving by another interface gets that
   interface's address as its source; conntrack remembers the flow and rewrites the
   replies back. The rules live in the host's packet filter (netfilter), by nftables or
   iptables as the host has them: :func:`detect` picks the backend, ``nft.py`` and
   ``iptables.py`` implement the same three methods (:class:`Backend`).

The rules belong to the *bridge*, a host-wide device that several state roots may share
(every root's default network is ``mc0``), so like the address tables (``ipam.py``) the
bookkeeping is host-wide::

    <run_root>/nat/<bridge>.json   {"backend": "nftables", "subnets": ["10.76.0.0/16"], "internal": false,
                                    "users": [{"root": "/var/lib/minicontainer", "network": "bridge",
                                               "subnet": "10.76.0.0/16", "internal": false}]}
    <run_root>/nat/ip_forward      "0" when we switched ip_forward on (restored with the last bridge)
    <run_root>/nat/.lock           flock(2) for every change

:func:`attach` adds a network as a user of its bridge and installs the rules when it is
the first; :func:`detach` removes it and the rules with the last user. The rules cover
every user's subnet (two state roots may give networks of the same name, hence the same
bridge, different subnets) and are internal only when every user is. A user whose
state root or network record is gone is dropped on every change (:func:`sweep`), so a
deleted state root cannot keep rules alive. ``--network none``/``host`` never come here;
an ``--internal`` network gets isolation rules and no masquerade.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Protocol

from .. import log
from ..errors import MiniContainerError, NetworkError
from ..locks import locked
from ..paths import PROC_ROOT
from ..records import read_json
from .runner import Runner
from .store import Network, NetworkStore, write_json

BACKENDS = ("nftables", "iptables")


class Backend(Protocol):
    """What a packet-filter backend offers (``nft.Nftables``, ``iptables.Iptables``)."""

    name: str

    def install(self, bridge: str, subnets: list[str], internal: bool) -> None: ...   # replaces old rules
    def remove(self, bridge: str) -> None: ...                                  # idempotent
    def bridges(self) -> set[str]: ...                                          # bridges with rules


def backend(name: str, runner: Runner | None = None) -> Backend:
    """The backend called ``name``."""
    if name == "nftables":
        from .nft import Nftables
        return Nftables(runner)
    if name == "iptables":
        from .iptables import Iptables
        return Iptables(runner)
    raise NetworkError(f"unknown nat backend {name!r} (nftables or iptables)", op="nat")


def detect(runner: Runner | None = None, which=shutil.which) -> Backend | None:
    """nftables when ``nft`` is installed, else iptables, else None (no outbound NAT).

    ``$MINICONTAINER_NAT_BACKEND`` (nftables, iptables or none) overrides the choice."""
    forced = os.environ.get("MINICONTAINER_NAT_BACKEND")
    if forced:
        return None if forced == "none" else backend(forced, runner)
    for name, program in (("nftables", "nft"), ("iptables", "iptables")):
        if which(program):
            return backend(name, runner)
    return None


class Nat:
    """The host-wide NAT bookkeeping, seen from one state root."""

    def __init__(self, store: NetworkStore, *, syscalls=None, runner: Runner | None = None,
                 proc_root: Path = PROC_ROOT, chosen: Backend | None = None) -> None:
        self.store = store
        self.dir = store.run_root / "nat"
        self.me = os.path.abspath(store.root.parent)
        self.syscalls = syscalls
        self.runner = runner
        self.proc_root = Path(proc_root)
        self._chosen = chosen

    # -- records ---------------------------------------------------------------
    def _path(self, bridge: str) -> Path:
        return self.dir / f"{bridge}.json"

    def _read(self, bridge: str) -> dict | None:
        data = read_json(self._path(bridge), "cannot read nat record", NetworkError, op="nat")
        if data is None:
            return None
        if not (isinstance(data, dict) and isinstance(data.get("users"), list)
                and all(isinstance(u, dict) for u in data["users"])):
            raise NetworkError("cannot read nat record: not a nat record", op="nat", path=self._path(bridge))
        if "subnets" not in data:                         # a record of the first format: one subnet
            data["subnets"] = [data.get("subnet")]
            for u in data["users"]:
                u.setdefault("subnet", data.get("subnet"))
                u.setdefault("internal", bool(data.get("internal")))
        for u in data["users"]:       # users recorded by a version that wrote "subnets" but no user's subnet
            if not u.get("subnet") and data["subnets"] and data["subnets"][0]:
                u["subnet"] = data["subnets"][0]
        return data

    @staticmethod
    def _who(user: dict) -> tuple:
        return user.get("root"), user.get("network")

    @staticmethod
    def _shape(users: list[dict]) -> tuple[list[str], bool]:
        """What the rules must cover: every user's subnet; internal only when every user is."""
        return sorted({u["subnet"] for u in users}), all(u.get("internal") for u in users)

    def _lock(self):
        return locked(self.dir / ".lock", NetworkError, mode=0o755)

    def _backend(self, name: str | None = None) -> Backend | None:
        if name is not None:
            return backend(name, self.runner)
        if self._chosen is None:
            self._chosen = detect(self.runner)
        return self._chosen

    @staticmethod
    def _live(user: dict) -> bool:
        root = user.get("root")
        name = user.get("network")
        return (isinstance(root, str) and isinstance(name, str)
                and os.path.isfile(os.path.join(root, "networks", f"{name}.json")))

    # -- the public operations ----------------------------------------------------
    def attached(self, net: Network) -> bool:
        """This root's network is a recorded user of its bridge (no nft call: the fast path)."""
        data = self._read(net.bridge)
        return data is not None and self._entry(net) in data["users"]

    def _entry(self, net: Network) -> dict:
        return {"root": self.me, "network": net.name, "subnet": net.subnet, "internal": bool(net.internal)}

    def attach(self, net: Network) -> bool:
        """Make ``net`` a user of its bridge's rules, installing them for the first user
        (or widening them for a new subnet). Returns False when the host has no packet
        filter tool (a warning says so)."""
        entry = self._entry(net)
        with self._lock():
            data = self._read(net.bridge)
            if data is not None and entry in data["users"]:
                return True
            old = data["users"] if data is not None else []
            users = [u for u in old if self._who(u) != self._who(entry) and self._live(u)] + [entry]
            chosen = self._backend(data["backend"]) if data is not None else self._backend()
            if chosen is None:
                if os.environ.get("MINICONTAINER_NAT_BACKEND") == "none":
                    log.debug("network", "no outbound nat for network %s: $MINICONTAINER_NAT_BACKEND is none",
                              net.name)
                else:
                    log.warn("network", "no nft or iptables on this host: containers on network %s cannot "
                             "reach the outside (install nftables)", net.name)
                return False
            self._apply(chosen, net.bridge, data, users)
        return True

    def _apply(self, chosen: Backend, bridge: str, data: dict | None, users: list[dict]) -> None:
        """Make the kernel's rules and the record match ``users`` (``data``: the record before);
        on failure the rules are put back as they were."""
        subnets, internal = self._shape(users)
        before = (data["subnets"], bool(data["internal"])) if data is not None else None
        try:
            if not internal:
                self._forwarding_on()
            if before != (subnets, internal):
                chosen.install(bridge, subnets, internal)
            write_json(self._path(bridge), {"backend": chosen.name, "subnets": subnets, "internal": internal,
                                            "users": users})
        except BaseException:
            try:
                if before is None:
                    chosen.remove(bridge)
                elif before != (subnets, internal):
                    chosen.install(bridge, *before)
            except (MiniContainerError, OSError) as err:
                log.swallowed("network", "put the nat rules back after a failed change", err, bridge)
            if before is None:
                self._forwarding_restore()
            raise

    def detach(self, net: Network) -> None:
        """``net`` no longer uses its bridge; the rules go with the last user. Idempotent."""
        with self._lock():
            self._drop(net.bridge, (self.me, net.name))

    def sweep(self) -> list[str]:
        """Drop every bridge's dead users (state root or network record gone); returns the
        bridges whose rules were removed."""
        removed = []
        with self._lock():
            if not self.dir.is_dir():
                return removed
            for path in sorted(self.dir.glob("*.json")):
                if self._drop(path.stem, None):
                    removed.append(path.stem)
        return removed

    def forget(self, bridge: str) -> bool:
        """Remove a bridge's rules and record whoever still uses it: for when its device was
        deleted by hand (a test session removes the default bridge it created)."""
        with self._lock():
            data = self._read(bridge)
            return data is not None and self._uninstall(bridge, data)

    def _drop(self, bridge: str, who: tuple | None) -> bool:
        data = self._read(bridge)
        if data is None:
            return False
        users = [u for u in data["users"] if self._who(u) != who and self._live(u)]
        if not users:
            return self._uninstall(bridge, data)
        if users != data["users"]:
            self._apply(self._backend(data["backend"]), bridge, data, users)
        return False

    def _uninstall(self, bridge: str, data: dict) -> bool:
        self._backend(data.get("backend", "nftables")).remove(bridge)
        with contextlib.suppress(FileNotFoundError):
            self._path(bridge).unlink()
        if not any(self.dir.glob("*.json")):
            self._forwarding_restore()
        return True

    # -- net.ipv4.ip_forward ---------------------------------------------------------
    def _ip_forward(self) -> Path:
        return self.proc_root / "sys" / "net" / "ipv4" / "ip_forward"

    def _syscalls(self):
        if self.syscalls is None:
            from ..kernel import default
            self.syscalls = default()
        return self.syscalls

    def _forwarding_on(self) -> None:
        """Switch routing on (remembering that we did: it is put back with the last bridge)."""
        path = self._ip_forward()
        try:
            if path.read_text().strip() == "1":
                return
        except OSError as err:
            raise NetworkError(f"cannot read: {(err.strerror or str(err)).lower()}", op="sysctl", path=path) from err
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "ip_forward").write_text("0\n")
        self._syscalls().write_file(str(path), "1", "route packets from container bridges to the uplink "
                                                    "(net.ipv4.ip_forward)")

    def _forwarding_restore(self) -> None:
        mark = self.dir / "ip_forward"
        if not mark.exists() or any(self.dir.glob("*.json")):
            return
        self._syscalls().write_file(str(self._ip_forward()), "0",
                                    "the last NAT bridge is gone: routing back off as we found it")
        mark.unlink()


def bridge_forwarding(net: Network) -> str:
    """The value for net.ipv4.conf.<bridge>.forwarding: routed out unless internal."""
    return "0" if net.internal else "1"
