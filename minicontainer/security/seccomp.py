"""seccomp: a filter the kernel runs on every system call (seccomp(2)).

Capabilities decide what a privileged operation may do; seccomp decides which system
calls may be made *at all*. A process installs a small program in classic BPF, the
same bytecode tcpdump uses for packets; from then on, at every system call, the kernel
runs the program over a ``struct seccomp_data``::

    offset 0   int   nr                   the system call number
    offset 4   u32   arch                 AUDIT_ARCH_X86_64, ... (the calling convention)
    offset 8   u64   instruction_pointer
    offset 16  u64   args[6]              the arguments (little-endian: low word first)

and obeys the value it returns: ``SECCOMP_RET_ALLOW``, ``SECCOMP_RET_ERRNO | e`` (the
call fails with errno ``e`` without running), ``SECCOMP_RET_KILL_PROCESS``, ... The
filter is inherited by every child and across execve(2), and can never be removed, so
a container cannot take it off. Installing one needs either CAP_SYS_ADMIN or
``no_new_privs`` (prctl(2) PR_SET_NO_NEW_PRIVS), so an unprivileged program cannot use a
filter to confuse a set-user-ID one.

This module is a tiny assembler: it compiles a resolved :class:`~.profile.Profile` (OCI's
``linux.seccomp``) into BPF instructions (``struct sock_filter {u16 code; u8 jt; u8 jf;
u32 k}``, 8 bytes each), giving each profile the meaning runc and libseccomp give it:

1. the architecture first: one branch per ABI the profile covers (on x86_64 Docker's
   profile covers x86_64, i386 and x32, each with its own numbering; x32 shares x86_64's
   ``arch`` and sets bit 30 in the number); any other ABI is killed;
2. with a default action that refuses (not ALLOW, LOG or TRACE), a call numbered above
   every call the profile names fails with ENOSYS, so that a C library tries an older
   call instead of taking EPERM for "forbidden" (runc's ``-ENOSYS`` stub);
3. per system call: a rule whose action is the default action is redundant and dropped
   (runc); an unconditional rule wins over every conditional one for the same call
   (libseccomp); otherwise conditional rules are tried in the profile's order. All the
   ``args`` of one rule must hold, except when two of them test the same argument: then
   each is a rule of its own and any one suffices (runc's "old behaviour");
4. nothing matched: the default action.

Arguments are 64-bit but BPF registers are 32-bit, so each comparison looks at the high
word, then the low. See also Documentation/userspace-api/seccomp_filter.rst and bpf(4)
in FreeBSD's manual.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass

from ..errors import UsageError
from .profile import ACTIONS, Profile, Rule

# classic BPF opcodes (linux/bpf_common.h)
LD_W_ABS = 0x20   # A <- u32 at offset k of seccomp_data
ALU_AND_K = 0x54  # A <- A & k
JEQ_K = 0x15      # if A == k jump jt else jf
JGT_K = 0x25
JGE_K = 0x35
JSET_K = 0x45     # if A & k jump jt else jf
JA = 0x05         # jump k forward
RET_K = 0x06      # return k
BPF_MAXINSNS = 4096

OFF_NR, OFF_ARCH = 0, 4
RET_KILL_PROCESS = ACTIONS["SCMP_ACT_KILL_PROCESS"]
RET_ERRNO = ACTIONS["SCMP_ACT_ERRNO"]
#: default actions that let a call through: no -ENOSYS stub for them (runc's isAllowAction)
PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")


def _arg_lo(index: int) -> int:
    return 16 + 8 * index


def _arg_hi(index: int) -> int:
    return 16 + 8 * index + 4


class Assembler:
    """Instructions with symbolic jump targets, resolved into forward offsets at the end."""

    def __init__(self) -> None:
        self.code: list[list] = []     # [opcode, jt, jf, k]; jt/jf an int or a label name
        self.labels: dict[str, int] = {}
        self._n = 0

    def new_label(self) -> str:
        self._n += 1
        return f"L{self._n}"

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def emit(self, code: int, k=0, jt=0, jf=0) -> None:
        """One instruction; ``k`` may be a label for JA (a 32-bit forward jump)."""
        self.code.append([code, jt, jf, k if isinstance(k, str) else k & 0xFFFFFFFF])

    def jump(self, label: str) -> None:
        self.emit(JA, label)

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.code):
            offsets = []
            for target in (jt, jf):
                off = self.labels[target] - i - 1 if isinstance(target, str) else target
                if not 0 <= off <= 255:
                    raise UsageError(f"a jump of {off} instructions does not fit classic BPF", op="seccomp")
                offsets.append(off)
            if code == JA and isinstance(k, str):
                k = self.labels[k] - i - 1
            out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
        return bytes(out)


def _compare(asm: Assembler, index: int, op: str, value: int, value_two: int, fail: str) -> None:
    """Fall through when ``args[index] op value`` holds, jump to ``fail`` when not (64-bit, unsigned)."""
    ok = asm.new_label()
    hi, lo = value >> 32, value & 0xFFFFFFFF
    if op == "SCMP_CMP_MASKED_EQ":  # (arg & value) == valueTwo
        asm.emit(LD_W_ABS, _arg_hi(index)); asm.emit(ALU_AND_K, hi); asm.emit(JEQ_K, value_two >> 32, 0, fail)
        asm.emit(LD_W_ABS, _arg_lo(index)); asm.emit(ALU_AND_K, lo)
        asm.emit(JEQ_K, value_two & 0xFFFFFFFF, 0, fail)
    elif op == "SCMP_CMP_EQ":
        asm.emit(LD_W_ABS, _arg_hi(index)); asm.emit(JEQ_K, hi, 0, fail)
        asm.emit(LD_W_ABS, _arg_lo(index)); asm.emit(JEQ_K, lo, 0, fail)
    elif op == "SCMP_CMP_NE":
        asm.emit(LD_W_ABS, _arg_hi(index)); asm.emit(JEQ_K, hi, 0, ok)
        asm.emit(LD_W_ABS, _arg_lo(index)); asm.emit(JEQ_K, lo, fail, 0)
    elif op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):   # high word greater: yes; equal: decide on the low word
        asm.emit(LD_W_ABS, _arg_hi(index)); asm.emit(JGT_K, hi, ok, 0); asm.emit(JEQ_K, hi, 0, fail)
        asm.emit(LD_W_ABS, _arg_lo(index)); asm.emit(JGT_K if op == "SCMP_CMP_GT" else JGE_K, lo, 0, fail)
    elif op in ("SCMP_CMP_LT", "SCMP_CMP_LE"):   # the negations of GE and GT
        asm.emit(LD_W_ABS, _arg_hi(index)); asm.emit(JGT_K, hi, fail, 0); asm.emit(JEQ_K, hi, 0, ok)
        asm.emit(LD_W_ABS, _arg_lo(index)); asm.emit(JGE_K if op == "SCMP_CMP_LT" else JGT_K, lo, fail, 0)
    else:
        raise UsageError(f"unknown operator {op!r}", op="seccomp")
    asm.label(ok)


@dataclass(frozen=True)
class ArchTable:
    """One calling convention: its ``seccomp_data.arch`` value and its system call numbers."""

    name: str                 # SCMP_ARCH_*
    audit_arch: int           # AUDIT_ARCH_* (linux/audit.h)
    numbers: dict[str, int]   # name -> seccomp_data.nr
    x32_bit: int = 0          # x86_64 and x32 share one audit arch: x32's numbers carry this bit


@dataclass
class Compiled:
    """A seccomp profile assembled into a classic BPF program for this machine."""

    program: bytes
    syscalls: int          # how many system call numbers the rules name on the native architecture
    skipped: list[str]     # names the native architecture does not have (as Docker, we skip them)
    arches: list[str]      # the SCMP_ARCH_* branches the filter has; every other ABI is killed

    @property
    def instructions(self) -> int:
        return len(self.program) // 8


def arch_tables(machine: str | None = None) -> list[ArchTable]:
    """The ABIs this machine runs: its own first, then those it also runs (x86_64: i386, x32)."""
    machine = machine or os.uname().machine
    if machine == "x86_64":
        from . import syscalls_i386 as i386
        from . import syscalls_x32 as x32
        from . import syscalls_x86_64 as x86_64
        return [ArchTable("SCMP_ARCH_X86_64", x86_64.AUDIT_ARCH, x86_64.NUMBERS, x32.BIT),
                ArchTable("SCMP_ARCH_X86", i386.AUDIT_ARCH, i386.NUMBERS),
                ArchTable("SCMP_ARCH_X32", x86_64.AUDIT_ARCH, x32.NUMBERS, x32.BIT)]
    raise UsageError(f"seccomp filters are only built for x86_64 here, not {machine}; "
                     "use --security-opt seccomp=unconfined", op="seccomp")


def _alternatives(rule: Rule) -> list[list]:
    """The condition sets of a rule, any of which suffices (runc: a repeated index splits the rule)."""
    indexes = [a.index for a in rule.args]
    if len(set(indexes)) < len(indexes):
        return [[arg] for arg in rule.args]
    return [rule.args]


def _decisions(profile: Profile, numbers: dict[str, int]) -> tuple[dict[int, int], dict[int, list]]:
    """({nr: return value} for unconditional calls, {nr: [(conditions, return value)...]} for the rest)."""
    plain: dict[int, int] = {}
    conditional: dict[int, list] = {}
    default = profile.default_ret
    for rule in profile.rules:
        if rule.ret == default:
            continue          # redundant: runc drops it (libseccomp refuses it)
        for name in rule.names:
            nr = numbers.get(name)
            if nr is None or nr in plain:
                continue      # unknown here / an unconditional rule came first
            if not rule.args:
                plain[nr] = rule.ret
                conditional.pop(nr, None)
            else:
                conditional.setdefault(nr, []).extend((alt, rule.ret) for alt in _alternatives(rule))
    return plain, conditional


def _branch(asm: Assembler, profile: Profile, table: ArchTable, done: str, loaded: bool = False) -> None:
    """The rules of one ABI; ends by jumping to ``done`` (the default action). ``loaded``: A holds nr."""
    if not loaded:
        asm.emit(LD_W_ABS, OFF_NR)
    named = [table.numbers[n] for rule in profile.rules for n in rule.names if n in table.numbers]
    if profile.default_action not in PERMISSIVE and named:
        asm.emit(JGT_K, max(named), 0, 1)          # newer than anything the profile knows: ENOSYS
        asm.emit(RET_K, RET_ERRNO | errno.ENOSYS)
    plain, conditional = _decisions(profile, table.numbers)
    groups: dict[int, list[int]] = {}
    for nr, ret in plain.items():
        groups.setdefault(ret, []).append(nr)
    for ret, nrs in groups.items():                # one return per action, at most 200 jumps to it
        nrs.sort()
        for start in range(0, len(nrs), 200):
            chunk = nrs[start:start + 200]
            for i, nr in enumerate(chunk):
                asm.emit(JEQ_K, nr, len(chunk) - i, 0)
            asm.emit(JA, 1)
            asm.emit(RET_K, ret)
    for nr in sorted(conditional):
        other = asm.new_label()
        asm.emit(LD_W_ABS, OFF_NR)
        asm.emit(JEQ_K, nr, 1, 0)
        asm.jump(other)
        for conditions, ret in conditional[nr]:
            nxt = asm.new_label()
            for arg in conditions:
                _compare(asm, arg.index, arg.op, arg.value, arg.value_two, nxt)
            asm.emit(RET_K, ret)
            asm.label(nxt)
        asm.jump(done)
        asm.label(other)
    asm.jump(done)


def compile_profile(profile: Profile, tables: list[ArchTable] | None = None) -> Compiled:
    """The BPF program for a resolved ``profile`` (see the module docstring for its meaning).

    ``tables``: the ABIs of the machine, its own first (default: :func:`arch_tables`).
    """
    tables = tables or arch_tables()
    covered = [tables[0]] + [t for t in tables[1:] if t.name in profile.architectures]
    asm = Assembler()
    done = asm.new_label()
    # 1. which calling convention: one branch per covered ABI, anything else is killed
    entry = {t.name: asm.new_label() for t in covered}
    native = tables[0]
    x32 = next((t for t in covered[1:] if t.x32_bit), None)   # shares the native audit arch
    asm.emit(LD_W_ABS, OFF_ARCH)
    for table in covered:
        if table is not x32:
            asm.emit(JEQ_K, table.audit_arch, 0, 1)
            asm.jump(entry[table.name])
    asm.emit(RET_K, RET_KILL_PROCESS)
    for table in covered:
        asm.label(entry[table.name])
        if table is native and native.x32_bit:        # bit 30 set: an x32 call, never an x86_64 one
            asm.emit(LD_W_ABS, OFF_NR)
            asm.emit(JSET_K, native.x32_bit, 0, 1)
            if x32 is None:
                asm.emit(RET_K, RET_KILL_PROCESS)
            else:
                asm.jump(entry[x32.name])
        _branch(asm, profile, table, done, loaded=table is native and bool(native.x32_bit))
    # 2. nothing matched
    asm.label(done)
    asm.emit(RET_K, profile.default_ret)
    if len(asm.code) > BPF_MAXINSNS:
        raise UsageError(f"the profile compiles to {len(asm.code)} BPF instructions, over the kernel's "
                         f"limit of {BPF_MAXINSNS}", op="seccomp", path=None if profile.source == "default"
                         else profile.source)
    names = [n for rule in profile.rules for n in rule.names]
    known = native.numbers
    return Compiled(asm.assemble(), len({known[n] for n in names if n in known}),
                    list(dict.fromkeys(n for n in names if n not in known)), [t.name for t in covered])


def disassemble(program: bytes) -> list[str]:
    """One line per instruction, for a notebook or --explain (``jeq #165 jt 3 jf 0`` style)."""
    names = {LD_W_ABS: "ld", ALU_AND_K: "and", JEQ_K: "jeq", JGT_K: "jgt", JGE_K: "jge", JSET_K: "jset", JA: "ja",
             RET_K: "ret"}
    out = []
    for i in range(0, len(program), 8):
        code, jt, jf, k = struct.unpack("=HBBI", program[i:i + 8])
        name = names.get(code, hex(code))
        if code == LD_W_ABS:
            what = {0: "nr", 4: "arch"}.get(k, f"args[{(k - 16) // 8}].{'hi' if k % 8 else 'lo'}")
            out.append(f"{i // 8:4}  ld   {what}")
        elif code in (JEQ_K, JGT_K, JGE_K, JSET_K):
            out.append(f"{i // 8:4}  {name}  #{k:#x}  jt {jt} jf {jf}")
        elif code == RET_K:
            out.append(f"{i // 8:4}  ret  {describe_action(k)}")
        elif code == JA:
            out.append(f"{i // 8:4}  ja   {i // 8 + 1 + k}")
        else:
            out.append(f"{i // 8:4}  {name}  #{k:#x}")
    return out


def describe_action(value: int) -> str:
    """``ERRNO(1)``, ``ALLOW``, ``KILL_PROCESS``... for a filter return value."""
    import errno as _errno
    base, data = value & 0xFFFF0000, value & 0xFFFF
    if base == RET_ERRNO:
        return f"ERRNO({_errno.errorcode.get(data, data)})"
    for name, code in ACTIONS.items():
        if code == base:
            return name.removeprefix("SCMP_ACT_")
    return hex(value)
