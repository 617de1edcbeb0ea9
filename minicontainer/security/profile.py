"""Docker's JSON seccomp profile format, read and checked.

A profile (``docker run --security-opt seccomp=profile.json``) looks like::

    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
     "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
     "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}

Each rule names system calls, an action, and optionally conditions on their arguments
(all of which must hold). ``includes``/``excludes`` make a rule depend on the
container's capabilities, the architecture or the kernel version: Docker's own profile
allows mount(2) only to a container that was given CAP_SYS_ADMIN. This module turns
such a document into :class:`Profile`, rejecting a malformed one with one clear line;
:mod:`minicontainer.security.seccomp` compiles it to BPF. See seccomp(2) and Docker's
"Seccomp security profiles" page.
"""

from __future__ import annotations

import errno as _errno
import json
import os
from dataclasses import dataclass, field

from ..errors import UsageError

#: action name -> the filter's return value without its data part (seccomp(2), SECCOMP_RET_*)
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
}
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
#: os.uname().machine -> the profile's name for it
NATIVE_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
KNOWN_ARCHES = {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
                "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
                "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
                "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
                "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64"}
MAX_U64 = (1 << 64) - 1


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
    action: int                      # SECCOMP_RET_* with its data (the errno for ERRNO)
    args: list[Arg] = field(default_factory=list)


@dataclass
class Profile:
    """A seccomp profile: the default action and the rules that override it."""

    default_action: int
    rules: list[Rule]
    source: str = "default"


def _fail(message: str, source: str) -> UsageError:
    return UsageError(message, op="seccomp profile", path=None if source == "default" else source)


def _action(name, errno_ret, source: str, where: str) -> int:
    if not isinstance(name, str) or name not in ACTIONS:
        raise _fail(f"{where}: unknown action {name!r}", source)
    base = ACTIONS[name]
    if base in (ACTIONS["SCMP_ACT_ERRNO"], ACTIONS["SCMP_ACT_TRACE"]):
        code = _errno.EPERM if errno_ret is None and base == ACTIONS["SCMP_ACT_ERRNO"] else errno_ret or 0
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 0xFFFF:
            raise _fail(f"{where}: errnoRet must be an integer from 0 to 65535", source)
        return base | code
    return base


def _int(value, source: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_U64:
        raise _fail(f"{where} must be an unsigned 64-bit integer, not {value!r}", source)
    return value


def _applies(rule: dict, caps: set[str], arch: str, kernel: tuple[int, int], source: str, where: str) -> bool:
    """Docker's includes/excludes: the rule counts only if every include holds and no exclude does."""
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    for part, name in ((inc, "includes"), (exc, "excludes")):
        if not isinstance(part, dict):
            raise _fail(f"{where}: {name} must be an object", source)
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if inc.get("minKernel"):
        try:
            wanted = tuple(int(x) for x in str(inc["minKernel"]).split(".")[:2])
        except ValueError:
            raise _fail(f"{where}: minKernel {inc['minKernel']!r} is not a version like 5.8", source) from None
        if kernel < wanted:
            return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    if exc.get("arches") and arch in exc["arches"]:
        return False
    return True


def _args(items, source: str, where: str) -> list[Arg]:
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
        out.append(Arg(index, op, _int(item.get("value", 0), source, f"{here} value"),
                       _int(item.get("valueTwo", 0), source, f"{here} valueTwo")))
    return out


def kernel_version(release: str | None = None) -> tuple[int, int]:
    release = release or os.uname().release
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return 0, 0


def parse(doc, caps=(), *, source: str = "default", arch: str | None = None,
          kernel: tuple[int, int] | None = None) -> Profile:
    """Check a Docker profile (already decoded from JSON) and keep the rules that apply.

    ``caps`` are the container's capability names (for ``includes``/``excludes``).
    """
    arch = arch or NATIVE_ARCH.get(os.uname().machine, os.uname().machine)
    kernel = kernel or kernel_version()
    if not isinstance(doc, dict):
        raise _fail("a profile must be a JSON object", source)
    if "defaultAction" not in doc:
        raise _fail("defaultAction is missing", source)
    default = _action(doc["defaultAction"], doc.get("defaultErrnoRet"), source, "defaultAction")
    arches = list(doc.get("architectures") or [])
    arch_map = doc.get("archMap") or []
    if not isinstance(arch_map, list):
        raise _fail("archMap must be a list", source)
    for entry in arch_map:
        if not isinstance(entry, dict) or "architecture" not in entry:
            raise _fail("each archMap entry needs an architecture", source)
        arches += [entry["architecture"], *(entry.get("subArchitectures") or [])]
    for name in arches:
        if name not in KNOWN_ARCHES:
            raise _fail(f"unknown architecture {name!r}", source)
    if arches and arch not in arches:
        raise _fail(f"the profile does not cover this machine's architecture ({arch})", source)
    items = doc.get("syscalls") or []
    if not isinstance(items, list):
        raise _fail("syscalls must be a list", source)
    rules = []
    for n, item in enumerate(items):
        where = f"syscalls[{n}]"
        if not isinstance(item, dict):
            raise _fail(f"{where} must be an object", source)
        names = item.get("names", [item["name"]] if "name" in item else None)
        if not isinstance(names, list) or not names or not all(isinstance(x, str) and x for x in names):
            raise _fail(f"{where}: names must be a non-empty list of system call names", source)
        action = _action(item.get("action"), item.get("errnoRet"), source, where)
        args = _args(item.get("args") or [], source, where)
        if _applies(item, set(caps), arch, kernel, source, where):
            rules.append(Rule(list(names), action, args))
    return Profile(default, rules, source)


def load(path: str | os.PathLike, caps=()) -> Profile:
    """Read and check a profile file (``--security-opt seccomp=PATH``)."""
    source = os.fspath(path)
    try:
        with open(source) as f:
            doc = json.load(f)
    except OSError as err:
        raise UsageError(f"cannot read the profile: {os.strerror(err.errno).lower()}", op="seccomp profile",
                         path=source) from err
    except ValueError as err:
        raise UsageError(f"not valid JSON: {str(err).lower()}", op="seccomp profile", path=source) from err
    return parse(doc, caps, source=source)
