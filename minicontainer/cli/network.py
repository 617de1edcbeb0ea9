"""Network commands: ``network create/ls/inspect/rm/prune`` and ``port CONTAINER``.

Thin: parse, call minicontainer.network, print.
"""

from __future__ import annotations

import json
import time

from ..paths import state_root

#: ``network ls --format`` fields: docker's NetworkContext and the bridge's own, with column titles
LS_FIELDS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
             "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT", "Bridge": "BRIDGE",
             "Subnet": "SUBNET", "Gateway": "GATEWAY"}
LS_TABLE = "table {{.Name}}\t{{.Bridge}}\t{{.Subnet}}\t{{.Gateway}}"


# -- network ------------------------------------------------------------------
def add_network_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a bridge network")
    create.add_argument("name")
    create.add_argument("--subnet", help="IPv4 subnet in CIDR form (default: a free /24 from 10.89.0.0/16)")
    create.add_argument("--bridge", help="bridge device name, at most 15 characters (default: mcbr-<hash>)")
    create.add_argument("--internal", action="store_true", help="no route out of the network (no outbound NAT)")
    ls = sub.add_parser("ls", help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true", help="only names")
    ls.add_argument("--format", help="'table', 'json', or a Go template such as '{{.Name}}\\t{{.Subnet}}'")
    inspect = sub.add_parser("inspect", help="show a network and its containers as JSON (the course's record; "
                                             "'minicontainer inspect NAME' shows Docker's NetworkResource)")
    inspect.add_argument("-f", "--format", help="a Go template, e.g. '{{.subnet}}' or '{{json .containers}}'")
    inspect.add_argument("names", nargs="+", metavar="NAME")
    rm = sub.add_parser("rm", help="remove networks (refused while containers use them)")
    rm.add_argument("names", nargs="+", metavar="NAME")
    sub.add_parser("prune", help="remove network leftovers of containers that no longer run")


def execute_network(args) -> int:
    from .. import network
    root = state_root(args.root)
    store = network.NetworkStore(root)
    if args.action == "create":
        net = network.create_network(root, args.name, args.subnet, bridge=args.bridge, internal=args.internal,
                                     store=store)
        print(net.name)
    elif args.action == "ls":
        store.inspect(network.DEFAULT_NETWORK)     # the default network always exists
        nets = store.ls()
        if args.quiet:
            print("\n".join(n.name for n in nets))
        else:
            from .formats import listing_lines
            rows = [{"ID": n.id[:12], "Name": n.name, "Driver": "bridge", "Scope": "local", "IPv6": "false",
                     "Internal": str(bool(getattr(n, "internal", False))).lower(), "Labels": "",
                     "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(n.created)),
                     "Bridge": n.bridge, "Subnet": n.subnet, "Gateway": n.gateway} for n in nets]
            for line in listing_lines(args.format, rows, LS_FIELDS, LS_TABLE, "*formatter.networkContext"):
                print(line)
    elif args.action == "inspect":
        from ..network.endpoint import endpoints
        out = []
        for name in args.names:
            data = store.inspect(name).to_dict()
            data["containers"] = {ep.container_id: {"name": ep.name, "ip": network.endpoint.address_of(ep),
                                                    "mac": ep.mac, "host_veth": ep.host_veth}
                                  for ep in endpoints(store) if ep.network == name}
            out.append(data)
        from .formats import inspect_lines
        print("\n".join(inspect_lines(out, args.format)) if args.format else json.dumps(out, indent=2))
    elif args.action == "rm":
        for name in args.names:
            network.remove_network(root, name, store=store)
            print(name)
    elif args.action == "prune":
        from ..runtime.containers import ContainerStore
        removed = network.prune(root, store=store, container_ids=ContainerStore(root).known_ids())
        for kind, items in removed.items():
            for item in items:
                print(f"removed {kind[:-1]} {item}")
    return 0


# -- port ---------------------------------------------------------------------
def add_port_arguments(p):
    p.add_argument("container", help="container name or id (or a unique id prefix)")
    p.add_argument("private", nargs="?", metavar="PORT[/PROTO]", help="only this container port")


def execute_port(args) -> int:
    from .. import network
    ep = network.find(state_root(args.root), args.container)
    mappings = ep.mappings()
    if args.private:
        port, _, proto = args.private.partition("/")
        mappings = [m for m in mappings if str(m.container_port) == port and m.proto == (proto or "tcp")]
    for m in mappings:
        print(m)
    return 0
