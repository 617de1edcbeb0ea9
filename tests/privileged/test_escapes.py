"""The escape suite: what a process in a default container tries, and why each attempt fails.

Each test runs a real container (busybox) with the default security settings. System calls
busybox cannot make are made by ``mcprobe``, a small static C program compiled here with cc
and bind-mounted read-only at /probe. The classic chroot breakout is also run under a plain
chroot(1) on the host, where it *succeeds*: the contrast is the point of pivot_root.
"""

import os
import shutil
import subprocess
import uuid

import pytest

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static int report(const char *name, long ret) {
    if (ret < 0) printf("%s %s\n", name, strerrorname_np(errno));
    else printf("%s ok\n", name);
    return 0;
}

/* a raw system call returns -errno */
static int report_raw(const char *name, long ret) {
    if (ret < 0 && ret > -4096) printf("%s %s\n", name, strerrorname_np((int)-ret));
    else printf("%s ok\n", name);
    return 0;
}

/* the i386 ABI from a 64-bit process: int 0x80 with i386's numbers (seccomp sees AUDIT_ARCH_I386) */
static long i386_call(long nr) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(0L), "c"(0L), "d"(0L) : "memory");
    return ret;
}

/* the x32 ABI: the x86_64 entry with bit 30 set in the number */
static long x32_call(long nr) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(0x40000000L | nr), "D"(0L), "S"(0L), "d"(0L)
                     : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "breakout") == 0) {
        /* the classic: chroot into a subdirectory, climb with chdir(".."), chroot(".") */
        mkdir("mcjail", 0755);
        if (chroot("mcjail") != 0) { printf("chroot %s\n", strerrorname_np(errno)); return 2; }
        for (int i = 0; i < 64; i++) chdir("..");
        if (chroot(".") != 0) { printf("chroot %s\n", strerrorname_np(errno)); return 2; }
        printf(access(argv[2], F_OK) == 0 ? "escaped\n" : "contained\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *n = argv[i];
        struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
        unsigned char handle[16] = {8, 0, 0, 0, 1, 0, 0, 0};
        if (!strcmp(n, "keyctl")) report(n, syscall(SYS_keyctl, 0, -3, 0));
        else if (!strcmp(n, "add_key")) report(n, syscall(SYS_add_key, "user", "mc", "x", 1, -2));
        else if (!strcmp(n, "init_module")) report(n, syscall(SYS_init_module, NULL, 0, ""));
        else if (!strcmp(n, "finit_module")) report(n, syscall(SYS_finit_module, -1, "", 0));
        else if (!strcmp(n, "delete_module")) report(n, syscall(SYS_delete_module, "mc_nope", 0));
        else if (!strcmp(n, "reboot"))
            report(n, syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_ON, 0));
        else if (!strcmp(n, "mount")) report(n, syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
        else if (!strcmp(n, "unshare")) report(n, syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS));
        else if (!strcmp(n, "open_by_handle_at")) report(n, syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY));
        else if (!strcmp(n, "mknod_block")) report(n, mknod("/tmp/mc-sda", S_IFBLK | 0600, makedev(8, 0)));
        else if (!strcmp(n, "mknod_char")) report(n, mknod("/tmp/mc-mem", S_IFCHR | 0600, makedev(1, 1)));
        else if (!strcmp(n, "mknod_fifo")) report(n, mknod("/tmp/mc-fifo", S_IFIFO | 0600, 0));
        else if (!strcmp(n, "bpf")) report(n, syscall(SYS_bpf, 0, NULL, 0));
        else if (!strcmp(n, "clock_settime")) report(n, syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
        else if (!strcmp(n, "swapon")) report(n, syscall(SYS_swapon, "/mc-nope", 0));
        else if (!strcmp(n, "userfaultfd")) report(n, syscall(SYS_userfaultfd, 0));
        else if (!strcmp(n, "i386_getpid")) report_raw(n, i386_call(20));
        else if (!strcmp(n, "i386_mount")) report_raw(n, i386_call(21));
        else if (!strcmp(n, "i386_unshare")) report_raw(n, i386_call(310));
        else if (!strcmp(n, "x32_mount")) report_raw(n, x32_call(165));
        else if (!strcmp(n, "x32_keyctl")) report_raw(n, x32_call(250));
        else printf("%s unknown\n", n);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler (cc) to build the probe")
    d = tmp_path_factory.mktemp("probe")
    (d / "mcprobe.c").write_text(PROBE_C)
    res = subprocess.run([cc, "-static", "-O1", "-o", str(d / "mcprobe"), str(d / "mcprobe.c")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return d


@pytest.fixture
def marker(tmp_path):
    """A file only the host can see: any container that reads it has escaped."""
    path = tmp_path / f"host-only-{uuid.uuid4().hex}"
    path.write_text("host\n")
    return path


def run(cli, root, *args, timeout=60):
    return subprocess.run([cli, "--root", str(root), "run", "--rm", "--network", "none", *args],
                          capture_output=True, text=True, timeout=timeout)


def probe(cli, root, probe_dir, *names, flags=()):
    res = run(cli, root, "-v", f"{probe_dir}:/probe:ro", *flags, "busybox", "/probe/mcprobe", *names)
    assert res.returncode == 0, res.stderr
    return dict(line.split(" ", 1) for line in res.stdout.splitlines())


def test_host_pids_are_invisible(cli, state_root):
    res = run(cli, state_root, "busybox", "sh", "-c", "ls /proc | grep '^[0-9]*$'; cat /proc/1/cmdline")
    assert res.returncode == 0, res.stderr
    assert res.stdout.endswith("\ncat\0/proc/1/cmdline\0"), res.stdout   # PID 1 is the container's own (sh exec'd cat)
    pids = [int(p) for p in res.stdout.split()[:-1] if p.isdigit()]
    assert 1 in pids and max(pids) < 10
    assert str(os.getpid()) not in res.stdout.split()


@pytest.mark.parametrize("name", ["mount", "keyctl", "add_key", "init_module", "finit_module", "delete_module",
                                  "reboot", "unshare", "bpf", "clock_settime", "swapon", "userfaultfd",
                                  "open_by_handle_at", "mknod_block", "mknod_char"])
def test_dangerous_system_calls_are_denied(cli, state_root, probe_dir, name):
    assert probe(cli, state_root, probe_dir, name) == {name: "EPERM"}


def test_the_32_bit_abis_do_not_bypass_the_filter(cli, state_root, probe_dir):
    """int 0x80 reaches the kernel with i386's numbers (mount is 21 there, access on x86_64) and x32
    calls set bit 30: a filter that knew only x86_64's numbers would let them through. Both ABIs
    get the same rules (this host's kernel has no x32 support, so refused means EPERM, not ENOSYS)."""
    got = probe(cli, state_root, probe_dir, "i386_getpid", "i386_mount", "i386_unshare", "x32_mount", "x32_keyctl")
    assert got == {"i386_getpid": "ok", "i386_mount": "EPERM", "i386_unshare": "EPERM", "x32_mount": "EPERM",
                   "x32_keyctl": "EPERM"}


def test_ordinary_mknod_of_a_fifo_still_works(cli, state_root, probe_dir):
    assert probe(cli, state_root, probe_dir, "mknod_fifo") == {"mknod_fifo": "ok"}


def test_mount_from_busybox_is_denied(cli, state_root):
    res = run(cli, state_root, "busybox", "sh", "-c", "echo started; mount -t tmpfs none /mnt; echo rc=$?; "
              "grep -c ' /mnt ' /proc/self/mountinfo")
    assert res.returncode == 1, res.stderr          # grep found no /mnt mount
    assert res.stdout.split() == ["started", "rc=1", "0"], res.stdout + res.stderr
    assert "mount: permission denied" in res.stderr


@pytest.mark.parametrize("path", ["/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname",
                                  "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"])
def test_raw_writes_to_proc_sys_are_denied(cli, state_root, path):
    before = open(path).read() if path.startswith("/proc/sys/kernel") else None
    res = run(cli, state_root, "busybox", "sh", "-c", f"echo started; echo 3 > {path} && echo written")
    assert res.stdout.split() == ["started"], res.stdout + res.stderr
    assert res.returncode != 0
    if os.path.exists(path) and path.startswith("/proc/sys/"):
        assert "Read-only file system" in res.stderr
    if before is not None:
        assert open(path).read() == before


def test_masked_paths_read_as_empty(cli, state_root):
    res = run(cli, state_root, "busybox", "sh", "-c",
              "for p in /proc/keys /proc/timer_list /proc/sched_debug; do [ -e $p ] && wc -c < $p; done; "
              "ls -A /sys/firmware | wc -l")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() and set(res.stdout.split()) <= {"0"}, res.stdout   # at least the ls count


def test_new_user_and_mount_namespace_cannot_remount(cli, state_root):
    res = run(cli, state_root, "busybox", "sh", "-c",
              "echo started; unshare -U -r -m sh -c 'mount -o remount,rw /proc/sys && echo remounted'; "
              "echo 1 > /proc/sys/kernel/sysrq && echo written")
    assert res.stdout.split() == ["started"], res.stdout + res.stderr
    assert "unshare" in res.stderr and "Operation not permitted" in res.stderr


def test_proc_pid_root_does_not_reach_the_host(cli, state_root, marker):
    res = run(cli, state_root, "busybox", "sh", "-c",
              f"readlink /proc/1/root; for p in /proc/[0-9]*; do cat $p/root{marker} 2>/dev/null; done; "
              f"cat /proc/1/root/../../..{marker} 2>/dev/null; echo done")
    assert res.stdout.split() == ["/", "done"]


def test_chroot_breakout_escapes_a_plain_chroot(probe_dir, marker, tmp_path):
    """The contrast: chroot(2) alone changes only '/' of one process, so root climbs out."""
    jail = tmp_path / "jail"
    jail.mkdir()
    shutil.copy2(probe_dir / "mcprobe", jail / "mcprobe")
    res = subprocess.run(["chroot", str(jail), "/mcprobe", "breakout", str(marker)],
                         capture_output=True, text=True, timeout=30)
    assert res.stdout.strip() == "escaped", res.stderr


def test_chroot_breakout_fails_after_pivot_root(cli, state_root, probe_dir, marker):
    """Same program, same capability (CAP_SYS_CHROOT is in the default set), but the host's
    root is not in this mount namespace any more: '..' of '/' is '/'."""
    res = run(cli, state_root, "-v", f"{probe_dir}:/probe:ro", "-w", "/tmp", "busybox",
              "/probe/mcprobe", "breakout", str(marker))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "contained"
