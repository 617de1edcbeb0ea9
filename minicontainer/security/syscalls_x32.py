"""System call numbers of the x32 ABI (the kernel's UAPI header ``asm/unistd_x32.h``).

x32 is a third x86 calling convention: 64-bit registers, 32-bit pointers. Its programs
enter the kernel exactly like x86_64 ones (``seccomp_data.arch`` is ``AUDIT_ARCH_X86_64``)
but set bit 30 in the call number (``__X32_SYSCALL_BIT``). It shares x86_64's table except
for a few calls it does not have and the calls whose arguments point at pointer-sized data,
which x32 numbers from 512 on. A filter that forgot the bit would let an x32 ``mount``
through as an unknown x86_64 number. Docker's profile covers x32 (``SCMP_ARCH_X32``).
Checked once against /usr/include/x86_64-linux-gnu/asm/unistd_x32.h (Linux UAPI headers).
"""

from .syscalls_x86_64 import NUMBERS as _X86_64

BIT = 0x40000000   # __X32_SYSCALL_BIT

#: x86_64 calls the x32 ABI does not have
_NOT_IN_X32 = frozenset({
    "uselib", "_sysctl", "create_module", "get_kernel_syms", "query_module", "nfsservctl", "set_thread_area",
    "get_thread_area", "epoll_ctl_old", "epoll_wait_old", "vserver", "map_shadow_stack",
})
#: x32's own numbers (512 and up) for calls whose x86_64 numbers it does not use
_OWN = {
    "rt_sigaction": 512, "rt_sigreturn": 513, "ioctl": 514, "readv": 515, "writev": 516, "recvfrom": 517,
    "sendmsg": 518, "recvmsg": 519, "execve": 520, "ptrace": 521, "rt_sigpending": 522, "rt_sigtimedwait": 523,
    "rt_sigqueueinfo": 524, "sigaltstack": 525, "timer_create": 526, "mq_notify": 527, "kexec_load": 528,
    "waitid": 529, "set_robust_list": 530, "get_robust_list": 531, "vmsplice": 532, "move_pages": 533,
    "preadv": 534, "pwritev": 535, "rt_tgsigqueueinfo": 536, "recvmmsg": 537, "sendmmsg": 538,
    "process_vm_readv": 539, "process_vm_writev": 540, "setsockopt": 541, "getsockopt": 542, "io_setup": 543,
    "io_submit": 544, "execveat": 545, "preadv2": 546, "pwritev2": 547,
}
#: what seccomp_data.nr holds for each call: the number with the x32 bit set
NUMBERS: dict[str, int] = {name: BIT | _OWN.get(name, nr) for name, nr in _X86_64.items() if name not in _NOT_IN_X32}
