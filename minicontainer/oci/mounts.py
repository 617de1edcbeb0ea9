"""A config.json mount's ``options`` as mount(2) arguments (runtime-spec config.md "Mounts", mount(8)).

mount(8) mixes three things in one ``-o`` list, and so does config.json:

* flags the kernel takes as bits (``ro``, ``nosuid``, ``nodev``, ``noexec``, ``relatime``...),
  and their opposites (``rw``, ``suid``, ``dev``...) which clear a bit;
* ``bind`` and ``rbind`` (a bind mount, recursive or not), and the propagation kinds
  (``private``, ``rslave``, ``shared``...) which need a second mount(2) call of their own;
* everything else (``mode=755``, ``size=65536k``, ``newinstance``) is the filesystem's own
  data string, passed through unchanged.

The kernel ignores ``MS_RDONLY`` (and the other per-mount flags) on the call that creates
a bind mount, so a read-only bind is a second call with ``MS_REMOUNT|MS_BIND``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..kernel import constants as C

#: option -> (set it?, flag)
FLAGS = {
    "ro": (True, C.MS_RDONLY), "rw": (False, C.MS_RDONLY),
    "nosuid": (True, C.MS_NOSUID), "suid": (False, C.MS_NOSUID),
    "nodev": (True, C.MS_NODEV), "dev": (False, C.MS_NODEV),
    "noexec": (True, C.MS_NOEXEC), "exec": (False, C.MS_NOEXEC),
    "sync": (True, C.MS_SYNCHRONOUS), "async": (False, C.MS_SYNCHRONOUS),
    "dirsync": (True, C.MS_DIRSYNC), "mand": (True, C.MS_MANDLOCK), "nomand": (False, C.MS_MANDLOCK),
    "noatime": (True, C.MS_NOATIME), "atime": (False, C.MS_NOATIME),
    "nodiratime": (True, C.MS_NODIRATIME), "diratime": (False, C.MS_NODIRATIME),
    "relatime": (True, C.MS_RELATIME), "norelatime": (False, C.MS_RELATIME),
    "strictatime": (True, C.MS_STRICTATIME), "nostrictatime": (False, C.MS_STRICTATIME),
    "nosymfollow": (True, C.MS_NOSYMFOLLOW), "symfollow": (False, C.MS_NOSYMFOLLOW),
    "remount": (True, C.MS_REMOUNT),
}
PROPAGATION = {
    "private": C.MS_PRIVATE, "rprivate": C.MS_PRIVATE | C.MS_REC,
    "slave": C.MS_SLAVE, "rslave": C.MS_SLAVE | C.MS_REC,
    "shared": C.MS_SHARED, "rshared": C.MS_SHARED | C.MS_REC,
    "unbindable": C.MS_UNBINDABLE, "runbindable": C.MS_UNBINDABLE | C.MS_REC,
}
UNSUPPORTED = ("tmpcopyup", "idmap", "ridmap", "copy-symlink", "rro")
#: flags that survive into a bind mount's read-only remount (it must repeat them)
PER_MOUNT = C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC | C.MS_NOATIME | C.MS_NODIRATIME | C.MS_RELATIME \
    | C.MS_STRICTATIME | C.MS_NOSYMFOLLOW


@dataclass
class MountCall:
    """One config.json mount turned into what mount(2) needs."""

    destination: str
    fstype: str | None
    source: str | None
    flags: int = 0
    data: str = ""
    propagation: int = 0       # a second call: MS_PRIVATE|MS_REC, MS_SLAVE...
    bind: bool = False
    readonly_remount: bool = False   # a bind with ``ro``: a remount after the bind
    why: str = ""
    # a file the runtime generates (/etc/hosts...): known to be a file even in a dry run,
    # where it has not been written; None: ask the source itself
    source_is_file: bool | None = None

    def remount_flags(self) -> int:
        return C.MS_REMOUNT | C.MS_BIND | C.MS_RDONLY | (self.flags & PER_MOUNT)


def parse_options(options, where: str = "mounts") -> tuple[int, str, int, bool]:
    """(flags, data, propagation flags, is a bind) of a mount's options."""
    flags, data, prop, bind = 0, [], 0, False
    for opt in options:
        if opt in FLAGS:
            setting, bit = FLAGS[opt]
            flags = flags | bit if setting else flags & ~bit
        elif opt in ("bind", "rbind"):
            bind = True
            flags |= C.MS_BIND | (C.MS_REC if opt == "rbind" else 0)
        elif opt in PROPAGATION:
            prop = PROPAGATION[opt]
        elif opt in UNSUPPORTED:
            raise UsageError(f"{where}: mount option {opt!r} is not supported by minicontainer", op="config.json")
        else:
            data.append(opt)
    return flags, ",".join(data), prop, bind


def mount_call(m, where: str = "mounts") -> MountCall:
    """The :class:`MountCall` for a spec :class:`~.spec.Mount`."""
    flags, data, prop, bind = parse_options(m.options, where)
    if m.type == "bind":
        bind = True
        flags |= C.MS_BIND
    call = MountCall(m.destination, None if bind else m.type, m.source, flags, data, prop, bind)
    if bind and flags & C.MS_RDONLY:
        call.flags &= ~C.MS_RDONLY
        call.readonly_remount = True
    return call


def options_for(flags: int, data: str = "", *, bind: bool = False, recursive: bool = False) -> list[str]:
    """The options list that :func:`parse_options` reads back as ``flags`` and ``data``."""
    out = []
    if bind:
        out.append("rbind" if recursive else "bind")
    for name, (setting, bit) in FLAGS.items():
        if setting and name != "remount" and flags & bit:
            out.append(name)
    return out + [d for d in data.split(",") if d]
