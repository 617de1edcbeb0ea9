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

This module is a tiny assembler: it compiles a :class:`~.profile.Profile` into BPF
instructions (``struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}``, 8 bytes each).
The program first checks the architecture (a 32-bit ``int 0x80`` call or the x32 ABI
would otherwise reach the kernel under *different* numbers), then tests the number
against each rule in order; the first rule that matches decides. Arguments are 64-bit
but BPF registers are 32-bit, so each comparison looks at the high word, then the low.
See also Documentation/userspace-api/seccomp_filter.rst and bpf(4) in FreeBSD's manual.
"""

from __future__ import annotations

import os

import struct
from dataclasses import dataclass

from ..errors import UsageError
from .profile import ACTIONS, Profile

# classic BPF opcodes (linux/bpf_common.h)
LD_W_ABS = 0x20   # A <- u32 at offset k of seccomp_data
ALU_AND_K = 0x54  # A <- A & k
JEQ_K = 0x15      # if A == k jump jt else jf
JGT_K = 0x25
JGE_K = 0x35
JA = 0x05         # jump k forward
RET_K = 0x06      # return k
BPF_MAXINSNS = 4096

OFF_NR, OFF_ARCH = 0, 4
RET_KILL_PROCESS = ACTIONS["SCMP_ACT_KILL_PROCESS"]
RET_ERRNO = ACTIONS["SCMP_ACT_ERRNO"]


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

    def emit(self, code: int, k: int = 0, jt=0, jf=0) -> None:
        self.code.append([code, jt, jf, k & 0xFFFFFFFF])

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


@dataclass
class Compiled:
    """A seccomp profile assembled into a classic BPF program for this architecture."""

    program: bytes
    syscalls: int          # how many system call numbers the rules name on this architecture
    skipped: list[str]     # names this architecture does not have (as Docker, we skip them)

    @property
    def instructions(self) -> int:
        return len(self.program) // 8


def native_table() -> tuple[int, int, dict[str, int]]:
    """(AUDIT_ARCH value, bit marking another ABI's numbers, name -> number) for this machine."""
    machine = os.uname().machine
    if machine == "x86_64":
        from . import syscalls_x86_64 as t
        return t.AUDIT_ARCH, t.X32_SYSCALL_BIT, t.NUMBERS
    raise UsageError(f"seccomp filters are only built for x86_64 here, not {machine}; "
                     "use --security-opt seccomp=unconfined", op="seccomp")


def compile_profile(profile: Profile, table: tuple[int, int, dict[str, int]] | None = None) -> Compiled:
    """The BPF program for ``profile`` (first matching rule wins; else the default action)."""
    audit_arch, foreign_bit, numbers = table or native_table()
    asm = Assembler()
    # 1. only this architecture's calling convention; anything else is killed
    asm.emit(LD_W_ABS, OFF_ARCH)
    asm.emit(JEQ_K, audit_arch, 1, 0)
    asm.emit(RET_K, RET_KILL_PROCESS)
    asm.emit(LD_W_ABS, OFF_NR)
    if foreign_bit:
        asm.emit(JGE_K, foreign_bit, 0, 1)     # x32 numbers have bit 30 set
        asm.emit(RET_K, RET_KILL_PROCESS)
    skipped: list[str] = []
    seen: set[int] = set()
    # 2. the rules, in order; consecutive rules without conditions share one return
    pending: list[int] = []
    pending_action = None

    def flush():
        nonlocal pending, pending_action
        for start in range(0, len(pending), 200):   # keep every jump within 255 instructions
            chunk = pending[start:start + 200]
            asm.emit(LD_W_ABS, OFF_NR)
            for i, nr in enumerate(chunk):
                asm.emit(JEQ_K, nr, len(chunk) - i, 0)
            asm.emit(JA, 1)
            asm.emit(RET_K, pending_action)
        pending, pending_action = [], None

    for rule in profile.rules:
        nrs = []
        for name in rule.names:
            if name in numbers:
                nrs.append(numbers[name])
            elif name not in skipped:
                skipped.append(name)
        seen.update(nrs)
        if not rule.args:
            if pending and pending_action != rule.action:
                flush()
            pending += nrs
            pending_action = rule.action
            continue
        flush()
        for nr in nrs:
            nxt = asm.new_label()
            asm.emit(LD_W_ABS, OFF_NR)
            asm.emit(JEQ_K, nr, 0, nxt)
            for arg in rule.args:
                _compare(asm, arg.index, arg.op, arg.value, arg.value_two, nxt)
            asm.emit(RET_K, rule.action)
            asm.label(nxt)
    if pending:
        flush()
    # 3. nothing matched
    asm.emit(RET_K, profile.default_action)
    if len(asm.code) > BPF_MAXINSNS:
        raise UsageError(f"the profile compiles to {len(asm.code)} BPF instructions, over the kernel's "
                         f"limit of {BPF_MAXINSNS}", op="seccomp", path=None if profile.source == "default"
                         else profile.source)
    return Compiled(asm.assemble(), len(seen), skipped)


def disassemble(program: bytes) -> list[str]:
    """One line per instruction, for a notebook or --explain (``jeq #165 jt 3 jf 0`` style)."""
    names = {LD_W_ABS: "ld", ALU_AND_K: "and", JEQ_K: "jeq", JGT_K: "jgt", JGE_K: "jge", JA: "ja", RET_K: "ret"}
    out = []
    for i in range(0, len(program), 8):
        code, jt, jf, k = struct.unpack("=HBBI", program[i:i + 8])
        name = names.get(code, hex(code))
        if code == LD_W_ABS:
            what = {0: "nr", 4: "arch"}.get(k, f"args[{(k - 16) // 8}].{'hi' if k % 8 else 'lo'}")
            out.append(f"{i // 8:4}  ld   {what}")
        elif code in (JEQ_K, JGT_K, JGE_K):
            out.append(f"{i // 8:4}  {name}  #{k:#x}  jt {jt} jf {jf}")
        elif code == RET_K:
            out.append(f"{i // 8:4}  ret  {describe_action(k)}")
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
