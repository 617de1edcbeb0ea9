"""``network connect`` / ``network disconnect``: change which network a container is on.

A minicontainer container has at most one network interface besides ``lo``: one veth
pair, whose far end sits in the container's network namespace (see
:mod:`minicontainer.network`). So a container is on one network at a time, and
"connect" means:

* a container that is not running (created or exited) has the network recorded in its
  config.json (the ``org.minicontainer.network`` annotation its start reads); its next start
  plugs it in there. Its default network (``bridge``) or ``none``
  is replaced; a container already given another user network is refused;
* a running container with no network yet (``none``) is plugged in now: a veth pair is
  made and its end moved into the container's namespace (setns(2) through the kernel
  object, as at start);
* a running container already on a bridge network is refused (disconnect it first).

"disconnect" takes the veth away from a running container (it keeps ``lo``) or records
``none`` for a stopped one. Errors say which rule was hit (ConflictError), so the engine
answers 409 and the CLI prints one line.
"""

from __future__ import annotations

from ..errors import ConflictError
from .state import Status


def connect(rt, ref: str, network: str):
    """Put container ``ref`` on ``network`` (see the module docstring); the updated container."""
    from .. import network as net
    target = net.NetworkStore(rt.root).inspect(network)      # NotFoundError for an unknown network
    c = rt.containers.get(ref)
    with rt.containers.lock(c):
        c = rt.settle(rt.containers.load(c.id))
        current = c.network
        if current == target.name:
            raise ConflictError(f"container {c.name} is already connected to network {target.name}",
                                op="network connect")
        if current == "host":
            raise ConflictError(f"container {c.name} shares the host's network namespace: it cannot join "
                                f"{target.name}", op="network connect")
        running = c.state in (Status.RUNNING, Status.PAUSED)
        if current not in ("none", net.DEFAULT_NETWORK) or (running and current != "none"):
            raise ConflictError(f"container {c.name} is on network {current}, and a container is on one network "
                                f"at a time here: disconnect it first", op="network connect")
        if running:
            ep = net.connect(rt.root, c.id, c.name, c.pid, network=target.name,
                             hostname=c.spec().hostname, files_dir=c.dir, syscalls=rt.sys,
                             proc_root=rt.proc_root)
            c.extra["network"] = ep.to_dict()
        _record(rt, c, target.name, "network connect")
    return c


def disconnect(rt, ref: str, network: str):
    """Take container ``ref`` off ``network``; it keeps only its loopback interface."""
    from .. import network as net
    target = net.NetworkStore(rt.root).inspect(network)
    c = rt.containers.get(ref)
    with rt.containers.lock(c):
        c = rt.settle(rt.containers.load(c.id))
        if c.network != target.name:
            raise ConflictError(f"container {c.name} is not connected to network {target.name}",
                                op="network disconnect")
        if c.state in (Status.RUNNING, Status.PAUSED):
            net.disconnect(rt.root, c.id, proc_root=rt.proc_root)
            c.extra.pop("network", None)
        _record(rt, c, "none", "network disconnect")
    return c


def _record(rt, c, network: str, op: str) -> None:
    """The network the container's next start wires, in its config.json, with the /etc binds
    a container on that network gets (:func:`minicontainer.oci.build.etc_mounts`)."""
    from ..oci import annotations as A
    from ..oci.build import etc_mounts
    spec = c.spec()
    old, new = etc_mounts(c.dir, spec.annotations.get(A.NETWORK, "none")), etc_mounts(c.dir, network)
    spec.mounts = [m for m in spec.mounts if m in new or m not in old] + [m for m in new if m not in spec.mounts]
    spec.annotations[A.NETWORK] = network
    c.save_spec(spec, op)
    rt.containers.save(c)
