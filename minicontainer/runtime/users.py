"""``-u/--user``: resolving ``name``, ``uid`` or ``uid:gid`` the way the image sees it.

Users and groups are looked up in the container's own /etc/passwd and /etc/group (read
after entering its root), never the host's: uid 1000 may be "alice" on the host and
nobody at all in the image. A numeric uid that the image does not list is still
allowed, with gid 0 unless one is given, as Docker does.
"""

from __future__ import annotations

from ..errors import UsageError


def _table(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(spec: str, passwd: str = "/etc/passwd", group: str = "/etc/group") -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary gids, home) for ``spec``; UsageError if a name is unknown."""
    user, _, grp = spec.partition(":")
    users = _table(passwd)
    home = "/"
    if user.isdigit():
        uid = int(user)
        entry = next((u for u in users if len(u) > 3 and u[2] == user), None)
    else:
        entry = next((u for u in users if u and u[0] == user), None)
        if entry is None:
            raise UsageError(f"unable to find user {user}: no matching entries in passwd file", op="user")
        uid = int(entry[2])
    gid = int(entry[3]) if entry and len(entry) > 3 and entry[3].isdigit() else 0
    if entry and len(entry) > 5:
        home = entry[5] or "/"
    groups_table = _table(group)
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            g = next((g for g in groups_table if g and g[0] == grp), None)
            if g is None:
                raise UsageError(f"unable to find group {grp}: no matching entries in group file", op="user")
            gid = int(g[2])
    name = entry[0] if entry else None
    extra = sorted({int(g[2]) for g in groups_table
                    if name and len(g) > 3 and name in g[3].split(",") and g[2].isdigit()} - {gid})
    return uid, gid, [gid, *extra], home
