"""The real implementation: system calls through ctypes on the C library.

Python 3.11 has no ``os.unshare``, ``os.setns`` or ``os.mount``, so these are called
through libc with ``use_errno=True``; a failure becomes a :class:`KernelError` carrying
the call, the path and the errno (see errno(3)). pivot_root(2) has no glibc wrapper and
goes through syscall(2) with the architecture's number.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import socket
import struct

from ..errors import KernelError
from . import constants as C
from .base import Syscalls

# pivot_root has no libc wrapper; its number differs per architecture (asm/unistd.h).
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


class LinuxSyscalls(Syscalls):
    """Calls the kernel for real. Needs Linux and, for most calls, root."""

    def __init__(self) -> None:
        super().__init__()
        try:  # glibc's soname; find_library would run ldconfig(8) in a subprocess to learn the same
            self._libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            from ctypes.util import find_library
            self._libc = ctypes.CDLL(find_library("c"), use_errno=True)
        self._libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_ulong, ctypes.c_void_p]
        self._libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self._libc.unshare.argtypes = [ctypes.c_int]
        self._libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        self._libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self._libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

    def _check(self, ret: int, op: str, path=None) -> int:
        if ret == -1:
            code = ctypes.get_errno()
            raise KernelError.from_oserror(op, OSError(code, os.strerror(code)), path)
        return ret

    @staticmethod
    def _b(value: str | None):
        return value.encode() if value is not None else None

    def _sys_unshare(self, flags):
        self._check(self._libc.unshare(flags), "unshare")

    def _sys_setns(self, fd, nstype):
        self._check(self._libc.setns(fd, nstype), "setns")

    def _sys_fork(self):
        try:
            pid = os.fork()
        except OSError as err:
            raise KernelError.from_oserror("fork", err) from err
        return pid

    def _sys_mount(self, source, target, fstype, flags, data):
        data_b = self._b(data)
        self._check(self._libc.mount(self._b(source), self._b(target), self._b(fstype), flags,
                                     ctypes.c_char_p(data_b) if data_b is not None else None),
                    "mount", target)

    def _sys_umount2(self, target, flags):
        self._check(self._libc.umount2(self._b(target), flags), "umount2", target)

    def _sys_pivot_root(self, new_root, put_old):
        number = _SYS_PIVOT_ROOT.get(os.uname().machine)
        if number is None:
            raise KernelError(f"unsupported architecture {os.uname().machine}", op="pivot_root")
        self._check(self._libc.syscall(number, self._b(new_root), self._b(put_old)), "pivot_root", new_root)

    def _os(self, op, path, fn, *args):
        try:
            return fn(*args)
        except OSError as err:
            raise KernelError.from_oserror(op, err, path) from err

    def _sys_chroot(self, path):
        self._os("chroot", path, os.chroot, path)

    def _sys_chdir(self, path):
        self._os("chdir", path, os.chdir, path)

    def _sys_mkdir(self, path, mode):
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            if not os.path.isdir(path):
                raise KernelError("exists and is not a directory", op="mkdir", path=path) from None
        except OSError as err:
            raise KernelError.from_oserror("mkdir", err, path) from err

    def _sys_rmdir(self, path):
        self._os("rmdir", path, os.rmdir, path)

    def _sys_mknod(self, path, mode, major, minor):
        self._os("mknod", path, os.mknod, path, mode, os.makedev(major, minor))

    def _sys_symlink(self, target, path):
        self._os("symlink", path, os.symlink, target, path)

    def _sys_write_file(self, path, data):
        def write():
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, data.encode())
            finally:
                os.close(fd)
        self._os("write", path, write)

    def _sys_setxattr(self, path, name, value):
        self._os("setxattr", path, lambda: os.setxattr(path, name, value, follow_symlinks=False))

    def _sys_sethostname(self, name):
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), "sethostname")

    def _sys_prctl(self, option, arg, arg3=0):
        self._check(self._libc.prctl(option, arg, arg3, 0, 0), "prctl")

    def _sys_capset(self, effective, permitted, inheritable):
        # struct __user_cap_header_struct {u32 version; int pid} and two
        # struct __user_cap_data_struct {u32 effective, permitted, inheritable}: low 32 bits, then high
        header = struct.pack("Ii", C.LINUX_CAPABILITY_VERSION_3, 0)
        lo, hi = 0xFFFFFFFF, 32
        data = struct.pack("6I", effective & lo, permitted & lo, inheritable & lo,
                           effective >> hi, permitted >> hi, inheritable >> hi)
        hdr_buf = ctypes.create_string_buffer(header, len(header))
        data_buf = ctypes.create_string_buffer(data, len(data))
        self._check(self._libc.capset(hdr_buf, data_buf), "capset")

    def _sys_seccomp_filter(self, program):
        # struct sock_fprog {unsigned short len; struct sock_filter *filter}
        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        buf = ctypes.create_string_buffer(bytes(program), len(program))
        prog = SockFprog(len(program) // 8, ctypes.addressof(buf))
        self._check(self._libc.prctl(C.PR_SET_SECCOMP, C.SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0),
                    "seccomp")

    def _sys_run_helper(self, argv):
        import subprocess
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except OSError as err:
            raise KernelError.from_oserror("spawn", err, argv[0]) from err
        except subprocess.TimeoutExpired as err:
            raise KernelError("timed out", op="spawn", path=argv[0]) from err
        if res.returncode != 0:
            text = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
            raise KernelError(text.lower().rstrip("."), op="spawn", path=argv[0])

    def _sys_link_up(self, ifname):
        def up():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                req = struct.pack("16sH14x", ifname.encode(), 0)
                flags = struct.unpack("16sH14x", fcntl.ioctl(s, C.SIOCGIFFLAGS, req))[1]
                fcntl.ioctl(s, C.SIOCSIFFLAGS, struct.pack("16sH14x", ifname.encode(), flags | C.IFF_UP))
        self._os("ioctl", ifname, up)

    def _sys_setsid_ctty(self, fd):
        def ctty():
            os.setsid()
            fcntl.ioctl(fd, C.TIOCSCTTY, 0)
        self._os("setsid", None, ctty)

    def _sys_kill(self, pid, sig):
        self._os("kill", str(pid), os.kill, pid, sig)

    def _sys_pidfd_open(self, pid):
        return self._os("pidfd_open", str(pid), os.pidfd_open, pid)

    def _sys_switch_user(self, uid, gid, groups):
        def switch():
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
        self._os("setuid", None, switch)

    def _sys_execve(self, path, argv, env):
        try:
            os.execve(path, list(argv), env)
        except OSError as err:
            raise KernelError.from_oserror("execve", err, path) from err

    def _sys_setrlimit(self, number, soft, hard):
        self._os("setrlimit", str(number), resource.setrlimit, number, (soft, hard))

    def _sys_umask(self, mask):
        os.umask(mask)
