"""Docker's JSON seccomp profile format, read, checked and resolved as Docker resolves it.

A profile (``docker run --security-opt seccomp=profile.json``) looks like::

    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
     "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
     "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}

Each rule names system calls, an action, and optionally conditions on their arguments.
``includes``/``excludes`` make a rule depend on the container, and Docker (moby's
``profiles/seccomp``) settles them *before* anything reaches the runtime:

* ``caps``: includes need *every* listed capability in the container's bounding set,
  excludes drop the rule if *any* is there (Docker's own profile allows mount(2) only to a
  container given CAP_SYS_ADMIN);
* ``arches``: compared with the machine's architecture in libseccomp's *short* spelling,
  ``amd64``, ``x86``, ``x32``, ``arm64``, ``arm``, ``ppc64le``, ``s390x``, ``riscv64``... On an
  x86_64 host the name is ``amd64``; ``SCMP_ARCH_X86_64`` there matches nothing, as in Docker;
* ``minKernel`` (``"5.8"``): the host kernel's major.minor must be at least that (excludes:
  drop the rule when it is).

``archMap`` is read the same way: only the entry whose ``architecture`` is this machine's
counts, giving the architectures the filter covers (x86_64 plus the i386 and x32 ABIs);
without a matching entry the filter covers this machine's own ABI only.

:func:`resolve` does all that and returns a :class:`Profile` with no includes or excludes
left, only the rules that apply. That form is exactly the OCI runtime spec's
``linux.seccomp`` (:meth:`Profile.to_oci`; config.md, "Seccomp"), which runc receives from
Docker; :mod:`minicontainer.security.seccomp` compiles it to BPF. A malformed document is
refused with one clear line. See seccomp(2) and Docker's "Seccomp security profiles" page.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import re
from dataclasses import dataclass, field

from ..errors import UsageError

#: action name -> the filter's return value without its data part (seccomp(2), SECCOMP_RET_*)
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
}
#: the actions whose return value carries an errno (errnoRet; EPERM when it is not given, as in runc)
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
#: libseccomp's short architecture names (Docker's includes/excludes "arches") -> SCMP_ARCH_* names
SHORT_ARCHES = {
    "x86": "SCMP_ARCH_X86", "amd64": "SCMP_ARCH_X86_64", "x32": "SCMP_ARCH_X32", "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64", "mips": "SCMP_ARCH_MIPS", "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32", "mipsel": "SCMP_ARCH_MIPSEL", "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32", "ppc": "SCMP_ARCH_PPC", "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE", "s390": "SCMP_ARCH_S390", "s390x": "SCMP_ARCH_S390X",
    "parisc": "SCMP_ARCH_PARISC", "parisc64": "SCMP_ARCH_PARISC64", "riscv64": "SCMP_ARCH_RISCV64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
}
KNOWN_ARCHES = frozenset(SHORT_ARCHES.values())
#: os.uname().machine -> libseccomp's short name for it
MACHINES = {"x86_64": "amd64", "i386": "x86", "i686": "x86", "aarch64": "arm64", "armv7l": "arm",
            "armv6l": "arm", "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
            "loongarch64": "loong64", "mips64": "mips64"}
MAX_U64 = (1 << 64) - 1
_KERNEL_VERSION = re.compile(r"^(\d+)\.(\d+)")


def action_value(action: str, errno_ret: int | None) -> int:
    """The filter's return value for an action name and its errnoRet (seccomp(2), SECCOMP_RET_*)."""
    base = ACTIONS[action]
    if action in ERRNO_ACTIONS:
        return base | (_errno.EPERM if errno_ret is None else errno_ret)
    return base


@dataclass
class Arg:
    """A condition on one system-call argument (``SCMP_CMP_*`` in Docker's profile format)."""

    index: int          # which argument, 0..5
    op: str             # one of OPERATORS
    value: int
    value_two: int = 0  # for SCMP_CMP_MASKED_EQ: (arg & value) == value_two


@dataclass
class Rule:
    """System calls that get one action, optionally only when their arguments match."""

    names: list[str]
    action: str                      # SCMP_ACT_*
    errno_ret: int | None = None     # for ERRNO and TRACE; None: EPERM
    args: list[Arg] = field(default_factory=list)

    @property
    def ret(self) -> int:
        """The filter's return value (SECCOMP_RET_* with its data)."""
        return action_value(self.action, self.errno_ret)


@dataclass
class Profile:
    """A resolved profile: the default action, the architectures, and the rules that apply.

    Nothing conditional is left (no includes/excludes): this is OCI's ``linux.seccomp``."""

    default_action: str
    rules: list[Rule]
    default_errno_ret: int | None = None
    architectures: list[str] = field(default_factory=list)   # SCMP_ARCH_*; empty: this machine's only
    source: str = "default"

    @property
    def default_ret(self) -> int:
        return action_value(self.default_action, self.default_errno_ret)

    def to_oci(self) -> dict:
        """The OCI runtime spec's ``linux.seccomp`` object for this profile (config.md, "Seccomp")."""
        out: dict = {"defaultAction": self.default_action}
        if self.default_errno_ret is not None:
            out["defaultErrnoRet"] = self.default_errno_ret
        if self.architectures:
            out["architectures"] = list(self.architectures)
        calls = []
        for rule in self.rules:
            call: dict = {"names": list(rule.names), "action": rule.action}
            if rule.errno_ret is not None:
                call["errnoRet"] = rule.errno_ret
            if rule.args:
                call["args"] = [{"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}
                                for a in rule.args]
            calls.append(call)
        out["syscalls"] = calls
        return out


def _fail(message: str, source: str) -> UsageError:
    return UsageError(message, op="seccomp profile", path=None if source == "default" else source)


def _action(name, source: str, where: str) -> str:
    if name == "SCMP_ACT_NOTIFY":
        raise _fail(f"{where}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which minicontainer does "
                    "not run", source)
    if not isinstance(name, str) or name not in ACTIONS:
        raise _fail(f"{where}: unknown action {name!r}", source)
    return name


def _uint(value, limit: int, source: str, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise _fail(f"{what} must be an integer from 0 to {limit}, not {value!r}", source)
    return value


def _errno_ret(value, source: str, what: str) -> int | None:
    return None if value is None else _uint(value, 0xFFFF, source, what)


def _strings(value, source: str, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise _fail(f"{what} must be a list of strings", source)
    return value


def _min_kernel(value, source: str, what: str) -> tuple[int, int] | None:
    """moby's KernelVersion: a string "<kernel>.<major>" ("5.8"); anything after is ignored."""
    if value is None or value == "":
        return None
    found = _KERNEL_VERSION.match(value) if isinstance(value, str) else None
    if found is None:
        raise _fail(f'{what} {value!r} is not a kernel version like "5.8"', source)
    return int(found.group(1)), int(found.group(2))


def _filter(part, source: str, where: str) -> tuple[list[str], list[str], tuple[int, int] | None]:
    """(caps, arches, minKernel) of an includes or excludes object, checked."""
    if part is None:
        return [], [], None
    if not isinstance(part, dict):
        raise _fail(f"{where} must be an object", source)
    return (_strings(part.get("caps"), source, f"{where}.caps"), _strings(part.get("arches"), source,
            f"{where}.arches"), _min_kernel(part.get("minKernel"), source, f"{where}.minKernel"))


def _applies(item: dict, caps: set[str], arch: str, kernel: tuple[int, int], source: str, where: str) -> bool:
    """moby's setupSeccomp: excludes first (arches, caps, minKernel), then includes in the same order."""
    exc_caps, exc_arches, exc_kernel = _filter(item.get("excludes"), source, f"{where} excludes")
    inc_caps, inc_arches, inc_kernel = _filter(item.get("includes"), source, f"{where} includes")
    if arch in exc_arches or any(c in caps for c in exc_caps) or (exc_kernel and kernel >= exc_kernel):
        return False
    if inc_arches and arch not in inc_arches:
        return False
    return all(c in caps for c in inc_caps) and not (inc_kernel and kernel < inc_kernel)


def _args(items, source: str, where: str) -> list[Arg]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise _fail(f"{where}: args must be a list", source)
    out = []
    for n, item in enumerate(items):
        here = f"{where} args[{n}]"
        if not isinstance(item, dict):
            raise _fail(f"{here} must be an object", source)
        index = item.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 5:
            raise _fail(f"{here}: index must be 0 to 5 (a system call has at most six arguments)", source)
        op = item.get("op")
        if op not in OPERATORS:
            raise _fail(f"{here}: unknown operator {op!r}", source)
        out.append(Arg(index, op, _uint(item.get("value", 0), MAX_U64, source, f"{here} value"),
                       _uint(item.get("valueTwo", 0), MAX_U64, source, f"{here} valueTwo")))
    return out


def _names(item: dict, source: str, where: str) -> list[str]:
    if "name" in item and item.get("names"):
        raise _fail(f"{where}: 'name' and 'names' were both given, use either 'name' or 'names'", source)
    names = [item["name"]] if "name" in item else item.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(x, str) and x for x in names):
        raise _fail(f"{where}: names must be a non-empty list of system call names", source)
    return list(names)


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of a kernel release such as ``6.18.44-fc`` or ``3.12-1-amd64``."""
    found = _KERNEL_VERSION.match(release or os.uname().release)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def native_arch(arch: str | None = None) -> tuple[str, str]:
    """(libseccomp short name, SCMP_ARCH_* name) of ``arch``: a machine name (``x86_64``), a short
    name (``amd64``) or an SCMP name; this machine's when None."""
    arch = arch or os.uname().machine
    short = MACHINES.get(arch, arch)
    if short in SHORT_ARCHES:
        return short, SHORT_ARCHES[short]
    for name, scmp in SHORT_ARCHES.items():
        if scmp == arch:
            return name, scmp
    raise UsageError(f"seccomp does not know the architecture {arch!r}", op="seccomp profile")


def _architectures(doc: dict, native: str, source: str) -> list[str]:
    """The architectures the filter covers, as moby picks them (``architectures`` or ``archMap``)."""
    legacy, arch_map = doc.get("architectures"), doc.get("archMap")
    if legacy and arch_map:
        raise _fail("'architectures' and 'archMap' were both given, use either 'architectures' or 'archMap'",
                    source)
    arches = list(_strings(legacy, source, "architectures"))
    if arch_map is not None and not isinstance(arch_map, list):
        raise _fail("archMap must be a list", source)
    for entry in arch_map or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise _fail("each archMap entry needs an architecture", source)
        subs = _strings(entry.get("subArchitectures"), source, "archMap subArchitectures")
        if entry["architecture"] == native:    # only this machine's entry counts
            arches = [native, *subs]
            break
    for name in arches:
        if name not in KNOWN_ARCHES:
            raise _fail(f"unknown architecture {name!r}", source)
    return arches


def resolve(doc, caps=(), *, source: str = "default", arch: str | None = None,
            kernel: tuple[int, int] | None = None) -> Profile:
    """Check a Docker profile (already decoded from JSON) and resolve it for one container.

    ``caps``: the container's capability names (its bounding set); ``arch``: the machine
    (default: this one, see :func:`native_arch`); ``kernel``: (major, minor) of the host's
    kernel (default: this one). The result has only the rules that apply to that container,
    in the profile's order, and maps one to one onto OCI's ``linux.seccomp``
    (:meth:`Profile.to_oci`). An OCI ``linux.seccomp`` object is itself a valid input.
    """
    short, native = native_arch(arch)
    kernel = kernel or kernel_version()
    if not isinstance(doc, dict):
        raise _fail("a profile must be a JSON object", source)
    if "defaultAction" not in doc:
        raise _fail("defaultAction is missing", source)
    default = _action(doc["defaultAction"], source, "defaultAction")
    default_errno = _errno_ret(doc.get("defaultErrnoRet"), source, "defaultErrnoRet")
    arches = _architectures(doc, native, source)
    items = doc.get("syscalls") or []
    if not isinstance(items, list):
        raise _fail("syscalls must be a list", source)
    caps, rules = set(caps), []
    for n, item in enumerate(items):
        where = f"syscalls[{n}]"
        if not isinstance(item, dict):
            raise _fail(f"{where} must be an object", source)
        names = _names(item, source, where)
        action = _action(item.get("action"), source, where)
        errno_ret = _errno_ret(item.get("errnoRet"), source, f"{where}: errnoRet")
        args = _args(item.get("args"), source, where)
        if _applies(item, caps, short, kernel, source, where):
            rules.append(Rule(names, action, errno_ret, args))
    return Profile(default, rules, default_errno, arches, source)


#: the older name of :func:`resolve`
parse = resolve


def read(path: str | os.PathLike):
    """The decoded JSON document of a profile file (one clear error when unreadable or not JSON)."""
    source = os.fspath(path)
    try:
        with open(source) as f:
            return json.load(f)
    except OSError as err:
        raise UsageError(f"cannot read the profile: {os.strerror(err.errno).lower()}", op="seccomp profile",
                         path=source) from err
    except ValueError as err:
        raise UsageError(f"not valid JSON: {str(err).lower()}", op="seccomp profile", path=source) from err


def load(path: str | os.PathLike, caps=(), *, arch: str | None = None,
         kernel: tuple[int, int] | None = None) -> Profile:
    """Read, check and resolve a profile file (``--security-opt seccomp=PATH``)."""
    return resolve(read(path), caps, source=os.fspath(path), arch=arch, kernel=kernel)
