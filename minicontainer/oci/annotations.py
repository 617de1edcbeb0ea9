"""The annotations minicontainer adds to a container's config.json.

The runtime-spec has no field for what Docker adds on top of runc: the image's layers
(runc is given a ready root directory; minicontainer builds an overlay itself), the
network to wire, ``--init`` and ``-i``. They travel as ``annotations`` (config.md:
"arbitrary metadata", keys in reverse domain notation), so the config stays a valid
runtime-spec document that runc itself would accept (it ignores them). A bundle written
by anyone else has none of them: its root is a plain directory and nothing is wired.
"""

PREFIX = "org.minicontainer."
LAYERS = PREFIX + "rootfs.layers"        # JSON list of layer directories, lowest first: root.path is their overlay
UPPER = PREFIX + "rootfs.upper"          # the overlay's writable upper directory
WORK = PREFIX + "rootfs.work"            # overlay's scratch directory (same filesystem as upper)
NETWORK = PREFIX + "network"             # none | host | bridge | a network's name: what the runtime wires
PUBLISH = PREFIX + "publish"             # JSON list of -p specs
EXPOSE = PREFIX + "expose"               # JSON list of the image's EXPOSEd ports, published by -P
INIT = PREFIX + "init"                   # "true": a minimal init runs the command as its child (--init)
INTERACTIVE = PREFIX + "interactive"     # "true": keep stdin open (-i)
SECCOMP = PREFIX + "seccomp"             # where linux.seccomp came from, for --explain


def flag(annotations: dict, key: str) -> bool:
    return annotations.get(key) == "true"
