"""Security: what a container's root may still do once it is inside.

Namespaces decide what a container *sees*; this package decides what it may *do*. The
container's first process is still root when its root filesystem is ready, so before
it runs the command it gives up power in layers, each covering what the others miss:

1. **masked and read-only paths** (:mod:`.masks`): /proc/kcore, /proc/keys... hidden,
   /proc/sys and /proc/sysrq-trigger read-only (done with the mounts, in :mod:`minicontainer.rootfs`);
2. **capabilities** (:mod:`.caps`): root keeps 14 of about 40 capabilities, and the
   bounding set makes sure it can never regain the others;
3. **the user** (``-u``): setgroups/setgid/setuid to an ordinary user of the image;
4. **no_new_privs** (prctl(2) PR_SET_NO_NEW_PRIVS): execve(2) can no longer *add*
   privileges, so set-user-ID programs such as ``su`` stop working;
5. **seccomp** (:mod:`.seccomp`): a filter that makes the kernel refuse whole system
   calls (mount, keyctl, init_module...) whatever the caller's privileges. It is
   installed last, right before execve(2), since it may deny calls the steps above need.

A **user namespace** (:mod:`.userns`, rootless mode) goes further: the container's root
is an ordinary user of the host, so even an escape would land without privileges.

:class:`SecuritySpec` holds everything computed in advance (the capability masks, the
compiled BPF program), because after pivot_root the container process can no longer
import anything: :func:`confine` only makes kernel calls.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from ..errors import ExecError, KernelError, UsageError
from ..kernel import Syscalls
from ..kernel import constants as C
from . import caps as _caps


@dataclass
class SecuritySpec:
    """The security settings of one container process, ready to apply."""

    keep_caps: list[str] = field(default_factory=lambda: list(_caps.DEFAULT))
    last_cap: int = len(_caps.NAMES) - 1
    no_new_privs: bool = True
    seccomp: bytes | None = None       # a compiled BPF program, or None for unconfined
    seccomp_label: str = "unconfined"
    user: str | None = None            # -u: resolved inside the image after pivot_root
    set_home: bool = True              # HOME from the user's passwd entry (unless -e HOME was given)
    single_uid_map: bool = False       # a user namespace mapping only one uid: setgroups is denied
    # config.json's other capability sets; None: the same as keep_caps (the bounding set)
    effective: list[str] | None = None
    permitted: list[str] | None = None
    inheritable: list[str] | None = None
    ambient: list[str] | None = None

    @property
    def cap_mask(self) -> int:
        return _caps.mask(self.keep_caps)


def parse_security_opts(items) -> dict:
    """``--security-opt`` values: ``no-new-privileges[=true|false]``, ``seccomp=unconfined|PATH``."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            key, sep, value = item.partition(":")   # Docker's older "seccomp:PATH" form
        key = key.strip()
        if key == "no-new-privileges":
            if value in ("", "true"):
                out["no_new_privs"] = True
            elif value == "false":
                out["no_new_privs"] = False
            else:
                raise UsageError(f"invalid --security-opt {item!r}: no-new-privileges takes true or false",
                                 op="security-opt")
        elif key == "seccomp":
            if not value:
                raise UsageError(f"invalid --security-opt {item!r}: seccomp needs unconfined or a profile path",
                                 op="security-opt")
            out["seccomp"] = value
        elif key in ("apparmor", "label"):
            raise UsageError(f"--security-opt {key} is not supported (no LSM support in minicontainer)",
                             op="security-opt")
        else:
            raise UsageError(f"invalid --security-opt {item!r}", op="security-opt")
    return out


def config_for(cap_add=(), cap_drop=(), privileged=False, security_opt=(), read_only=False, user=None,
               userns="host") -> dict:
    """Check the security flags and return what a container record keeps (``c.config["security"]``)."""
    opts = parse_security_opts(security_opt)
    for name in [*cap_add, *cap_drop]:
        _caps.normalize(name)
    if userns not in ("host", "private"):
        raise UsageError(f"invalid --userns {userns!r}: host or private", op="userns")
    if user is not None and (not user or user.startswith(":")):
        raise UsageError(f"invalid user {user!r}: expected NAME|UID[:GROUP|GID]", op="user")
    profile = opts.get("seccomp", "default")
    if profile not in ("default", "unconfined"):
        import os
        profile = os.path.abspath(profile)
        from .profile import load
        load(profile)  # checked now, so that a bad profile fails before anything is created
    return {"cap_add": list(cap_add), "cap_drop": list(cap_drop), "privileged": bool(privileged),
            "no_new_privs": opts.get("no_new_privs", True), "seccomp": profile, "read_only": bool(read_only),
            "user": user, "userns": userns}


def confine(sys: Syscalls, spec: SecuritySpec, ids: tuple[int, int, list[int]] | None = None) -> None:
    """Give up privileges in order, ending with the seccomp filter. The next call must be execve."""
    if spec.seccomp is not None and not spec.no_new_privs:
        # without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we have it
        _install_seccomp(sys, spec)
    keep = {_caps.NUMBERS[name] for name in spec.keep_caps}
    for number in range(spec.last_cap + 1):
        if number not in keep:
            name = _caps.NAMES[number] if number < len(_caps.NAMES) else str(number)
            sys.prctl(C.PR_CAPBSET_DROP, number, f"CAP_{name} leaves the bounding set: not even a set-user-ID "
                      "program can bring it back", label="PR_CAPBSET_DROP")
    try:
        sys.prctl(C.PR_CAP_AMBIENT, C.PR_CAP_AMBIENT_CLEAR_ALL, "no ambient capabilities: an ordinary "
                  "program executed later starts without any", label="PR_CAP_AMBIENT")
    except KernelError as err:  # kernels before 4.3 have no ambient set (in PID 1: no log to write to)
        if err.errno != errno.EINVAL:
            raise
    mask = spec.cap_mask
    sets = [mask if names is None else _caps.mask(names) for names in (spec.effective, spec.permitted,
                                                                       spec.inheritable)]
    oci_order = spec.effective is not None   # config.json: the user first, then its capability sets (runc)
    if not oci_order:
        sys.capset(mask, mask, mask, f"keep {len(keep)} capabilities in the effective, permitted and "
                   "inheritable sets")
    if ids is not None:
        uid, gid, groups = ids
        if oci_order and uid != 0:
            sys.prctl(C.PR_SET_KEEPCAPS, 1, "keep the permitted capabilities across the change of user",
                      label="PR_SET_KEEPCAPS")
        if not spec.single_uid_map:
            sys.switch_user(uid, gid, groups, "process.user: become this user (for a non-zero uid the kernel "
                            "clears the effective capabilities, and execve the permitted ones)")
        elif (uid, gid) != (0, 0):
            raise ExecError(f"user {uid}:{gid} does not exist in this user namespace: only root (0) is mapped; "
                            "give the user subordinate ids in /etc/subuid and /etc/subgid (package uidmap)",
                            op="user", exit_code=126)
    if oci_order:
        sys.capset(*sets, f"process.capabilities: {len(spec.effective)} effective, {len(spec.permitted)} "
                   f"permitted, {len(spec.inheritable or ())} inheritable")
    for name in spec.ambient or ():
        sys.prctl(C.PR_CAP_AMBIENT, C.PR_CAP_AMBIENT_RAISE, f"{name} in the ambient set: kept across execve",
                  label="PR_CAP_AMBIENT", arg3=_caps.NUMBERS[name])
    if spec.no_new_privs:
        sys.prctl(C.PR_SET_NO_NEW_PRIVS, 1, "no_new_privs: execve can never grant privileges again "
                  "(set-user-ID bits and file capabilities are ignored)", label="PR_SET_NO_NEW_PRIVS")
        if spec.seccomp is not None:
            _install_seccomp(sys, spec)


def confine_container(sys: Syscalls, spec: SecuritySpec, env: dict, resolve_user) -> None:
    """The container's last steps before execve: ``-u`` looked up in the image's own /etc/passwd
    (we are inside its root now) with ``resolve_user`` (:func:`minicontainer.runtime.users.resolve_user`,
    imported by the caller before pivot_root), then :func:`confine`."""
    ids = None
    if spec.user:
        # a dry run has no image passwd file to read: the recording double answers with a stand-in
        stand_in = (0, 0, [0], "/root") if spec.user in ("0", "root") else (1000, 1000, [1000], None)
        uid, gid, groups, home = sys.plumb("look up the user", lambda: resolve_user(spec.user), stand_in=stand_in)
        ids = (uid, gid, groups)
        if spec.set_home and home is not None:
            env["HOME"] = home
    confine(sys, spec, ids)


def _install_seccomp(sys: Syscalls, spec: SecuritySpec) -> None:
    sys.seccomp_filter(spec.seccomp, f"seccomp ({spec.seccomp_label}): from now on the kernel refuses the "
                       "denied system calls, whatever our privileges", label="SECCOMP_MODE_FILTER")


__all__ = ["SecuritySpec", "config_for", "confine", "parse_security_opts",
           "confine_container"]
