"""Security pieces without root: capability sets, Docker seccomp profiles, the BPF they compile to.

The compiled filters are *run* here by a small classic-BPF interpreter (the same semantics
the kernel applies to ``struct seccomp_data``), so a wrong jump offset or a wrong 64-bit
comparison fails a test instead of silently allowing a call.
"""

import errno
import json
import struct

import pytest

from minicontainer.errors import UsageError
from minicontainer.security import caps, config_for, parse_security_opts
from minicontainer.security.defaults import DEFAULT_PROFILE
from minicontainer.security.profile import ACTIONS, parse, load
from minicontainer.security.seccomp import arch_tables, compile_profile, describe_action, disassemble
from minicontainer.security.syscalls_x86_64 import AUDIT_ARCH, NUMBERS

ALLOW = ACTIONS["SCMP_ACT_ALLOW"]
KILL_PROCESS = ACTIONS["SCMP_ACT_KILL_PROCESS"]
X86_TABLE = arch_tables("x86_64")


def errno_ret(code):
    return ACTIONS["SCMP_ACT_ERRNO"] | code


def run_bpf(program: bytes, nr: int, args=(0,) * 6, arch=AUDIT_ARCH) -> int:
    """Interpret a classic BPF seccomp program over one seccomp_data."""
    args = list(args) + [0] * (6 - len(args))
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    insns = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    a, pc = 0, 0
    for _ in range(10000):
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:
            a = struct.unpack_from("=I", data, k)[0]
        elif code == 0x54:
            a &= k
        elif code in (0x15, 0x25, 0x35, 0x45):
            cond = {0x15: a == k, 0x25: a > k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += jt if cond else jf
        elif code == 0x05:
            pc += k
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown opcode {code:#x}")
    raise AssertionError("program did not return")


# --- capabilities -----------------------------------------------------------------------

def test_docker_default_mask_is_a80425fb():
    assert len(caps.DEFAULT) == 14
    assert caps.mask(caps.DEFAULT) == 0xA80425FB   # what `docker run busybox grep CapEff /proc/self/status` shows
    assert caps.decode("00000000a80425fb") == sorted(caps.DEFAULT, key=caps.NUMBERS.get)


def test_cap_add_and_drop_follow_docker():
    keep = caps.resolve(add=["sys_admin"], drop=["CAP_NET_RAW", "mknod"])
    assert "CAP_SYS_ADMIN" in keep and "CAP_NET_RAW" not in keep and "CAP_MKNOD" not in keep
    assert len(keep) == 13
    assert caps.resolve(drop=["ALL"]) == []
    assert caps.resolve(add=["NET_ADMIN"], drop=["all"]) == ["CAP_NET_ADMIN"]
    assert len(caps.resolve(add=["ALL"], last_cap=40)) == 41
    assert len(caps.resolve(privileged=True, last_cap=37)) == 38


@pytest.mark.parametrize("bad", ["CAP_FLY", "sys-admin", ""])
def test_unknown_capability_is_one_clear_error(bad):
    with pytest.raises(UsageError, match="unknown capability"):
        caps.resolve(add=[bad])


def test_read_status_decodes_every_set():
    text = "Name:\tsh\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n" \
           "CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n"
    sets = caps.read_status(text)
    assert sets == {"CapInh": 0, "CapPrm": 0xA80425FB, "CapEff": 0xA80425FB, "CapBnd": 0xA80425FB, "CapAmb": 0}


# --- --security-opt and the container's security config -----------------------------------

def test_security_opts_parse():
    assert parse_security_opts(["no-new-privileges=false", "seccomp=unconfined"]) == \
        {"no_new_privs": False, "seccomp": "unconfined"}
    assert parse_security_opts(["no-new-privileges"]) == {"no_new_privs": True}
    for bad in (["no-new-privileges=maybe"], ["seccomp="], ["colour=blue"], ["apparmor=x"]):
        with pytest.raises(UsageError):
            parse_security_opts(bad)


def test_config_rejects_a_bad_profile_before_anything_is_created(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "DENY"}]}')
    with pytest.raises(UsageError) as info:
        config_for(security_opt=[f"seccomp={bad}"])
    assert str(info.value) == f"seccomp profile: {bad}: syscalls[0]: unknown action 'DENY'"
    assert "\n" not in str(info.value)


def test_default_unconfined_and_privileged_through_the_config(tmp_path):
    proc = tmp_path / "proc"
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "kernel" / "cap_last_cap").write_text("40\n")
    spec = through_the_config(proc)
    assert spec.cap_mask == 0xA80425FB and spec.no_new_privs and spec.seccomp
    assert spec.seccomp_label.startswith("default profile: ")
    free = through_the_config(proc, security_opt=["seccomp=unconfined", "no-new-privileges=false"])
    assert free.seccomp is None and not free.no_new_privs
    priv = through_the_config(proc, privileged=True)
    assert priv.seccomp is None and len(priv.keep_caps) == 41

def through_the_config(proc, **options):
    """Docker's security options the way run and exec take them: into config.json's
    process.capabilities and linux.seccomp (oci.build), then out as the launcher's SecuritySpec."""
    from minicontainer.oci import annotations as A
    from minicontainer.oci.build import confinement
    from minicontainer.oci.launch import security_spec
    from minicontainer.oci.spec import Linux, Process, Spec
    sec = config_for(**options)
    caps, seccomp, label = confinement(sec, proc)
    spec = Spec(process=Process(args=["sh"], capabilities=caps, no_new_privileges=bool(sec["no_new_privs"])),
                annotations={A.SECCOMP: label}, linux=Linux(seccomp=seccomp))
    return security_spec(spec, proc, single_uid_map=False)



# --- Docker JSON profiles -------------------------------------------------------------------

@pytest.mark.parametrize("doc, message", [
    ([], "a profile must be a JSON object"),
    ({}, "defaultAction is missing"),
    ({"defaultAction": "SCMP_ACT_NOPE"}, "defaultAction: unknown action 'SCMP_ACT_NOPE'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}, "unknown architecture"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "use either 'architectures' or 'archMap'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": ["read"]}}, "syscalls must be a list"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]},
     "names must be a non-empty list"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                       "errnoRet": -1}]}, "errnoRet must be an integer"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                       "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "index must be 0 to 5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]},
     "unknown operator 'SCMP_CMP_LIKE'"),
])
def test_bad_profiles_are_rejected_with_one_line(doc, message):
    with pytest.raises(UsageError) as info:
        parse(doc, arch="SCMP_ARCH_X86_64")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_json_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        load(path)


def test_includes_and_excludes_follow_capabilities_and_kernel():
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_BOOT"]}},
        {"name": "read", "action": "SCMP_ACT_ALLOW"}]}
    plain = parse(doc, [], arch="SCMP_ARCH_X86_64", kernel=(4, 4))
    assert [r.names for r in plain.rules] == [["reboot"], ["read"]]
    admin = parse(doc, ["CAP_SYS_ADMIN", "CAP_SYS_BOOT"], arch="SCMP_ARCH_X86_64", kernel=(6, 1))
    assert [r.names for r in admin.rules] == [["mount"], ["ptrace"], ["read"]]
    assert plain.default_ret == errno_ret(errno.EPERM) and plain.default_action == "SCMP_ACT_ERRNO"


# --- the compiled filter, executed ------------------------------------------------------------

def default_program(keep=caps.DEFAULT):
    return compile_profile(parse(DEFAULT_PROFILE, keep, arch="SCMP_ARCH_X86_64"), X86_TABLE)


@pytest.mark.parametrize("name", ["mount", "umount2", "pivot_root", "unshare", "setns", "keyctl", "add_key",
                                  "request_key", "kexec_load", "init_module", "finit_module", "delete_module",
                                  "bpf", "perf_event_open", "open_by_handle_at", "clock_settime", "reboot",
                                  "swapon", "swapoff", "userfaultfd", "move_mount", "fsopen"])
def test_default_profile_denies_with_eperm(name):
    assert run_bpf(default_program().program, NUMBERS[name]) == errno_ret(errno.EPERM)


@pytest.mark.parametrize("name", ["read", "write", "execve", "openat", "exit_group", "capset", "prctl", "setuid",
                                  "chown", "socket", "wait4", "kill"])
def test_default_profile_allows_ordinary_calls(name):
    assert run_bpf(default_program().program, NUMBERS[name]) == ALLOW


def test_clone_is_allowed_without_namespace_flags_only():
    prog = default_program().program
    SIGCHLD, CLONE_THREAD_ETC = 17, 0x003D0F00
    assert run_bpf(prog, NUMBERS["clone"], [SIGCHLD]) == ALLOW
    assert run_bpf(prog, NUMBERS["clone"], [CLONE_THREAD_ETC]) == ALLOW
    assert run_bpf(prog, NUMBERS["clone"], [0x10000000 | SIGCHLD]) == errno_ret(errno.EPERM)  # CLONE_NEWUSER
    assert run_bpf(prog, NUMBERS["clone"], [0x00020000]) == errno_ret(errno.EPERM)            # CLONE_NEWNS
    assert run_bpf(prog, NUMBERS["clone3"]) == errno_ret(errno.ENOSYS)


def test_given_capability_gives_the_calls_back():
    prog = default_program([*caps.DEFAULT, "CAP_SYS_ADMIN"]).program
    assert run_bpf(prog, NUMBERS["mount"]) == ALLOW
    assert run_bpf(prog, NUMBERS["clone"], [0x10000000]) == ALLOW
    assert run_bpf(prog, NUMBERS["keyctl"]) == errno_ret(errno.EPERM)


def test_foreign_architectures_are_killed_i386_and_x32_get_the_same_rules():
    prog = default_program().program
    assert run_bpf(prog, NUMBERS["read"], arch=0xC00000B7) == KILL_PROCESS    # AUDIT_ARCH_AARCH64
    assert run_bpf(prog, 21, arch=0x40000003) == errno_ret(errno.EPERM)       # i386's mount
    assert run_bpf(prog, 3, arch=0x40000003) == ALLOW                         # i386's read
    assert run_bpf(prog, 0x40000000 | NUMBERS["mount"]) == errno_ret(errno.EPERM)   # the x32 ABI
    assert run_bpf(prog, 0x40000000 | NUMBERS["read"]) == ALLOW


@pytest.mark.parametrize("op, value, two, yes, no", [
    ("SCMP_CMP_EQ", 1 << 33 | 5, 0, [1 << 33 | 5], [5, 1 << 33]),
    ("SCMP_CMP_NE", 40, 0, [41, 1 << 32 | 40], [40]),
    ("SCMP_CMP_GT", 1 << 32, 0, [1 << 32 | 1, 2 << 32], [1 << 32, 5, 0]),
    ("SCMP_CMP_GE", 1 << 32, 0, [1 << 32, 3 << 32], [0xFFFFFFFF]),
    ("SCMP_CMP_LT", 1 << 32 | 7, 0, [1 << 32 | 6, 99], [1 << 32 | 7, 2 << 32]),
    ("SCMP_CMP_LE", 7, 0, [7, 0], [8, 1 << 32]),
    ("SCMP_CMP_MASKED_EQ", 0xFF00000000FF, 0x120000000034, [0x120000000034, 0x1200ABCD0034],
     [0x130000000034, 0x120000000035]),
])
def test_64_bit_argument_comparisons(op, value, two, yes, no):
    doc = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 2, "value": value, "valueTwo": two, "op": op}]}]}
    prog = compile_profile(parse(doc, arch="SCMP_ARCH_X86_64"), X86_TABLE).program
    for arg in yes:
        assert run_bpf(prog, NUMBERS["personality"], [0, 0, arg]) == errno_ret(22), (op, hex(arg))
    for arg in no:
        assert run_bpf(prog, NUMBERS["personality"], [0, 0, arg]) == ALLOW, (op, hex(arg))
    assert run_bpf(prog, NUMBERS["read"], [0, 0, yes[0]]) == ALLOW


def test_an_allow_list_profile_of_300_calls_compiles_and_runs():
    names = sorted(NUMBERS)[:300]
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
           "syscalls": [{"names": names + ["arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW"}]}
    compiled = compile_profile(parse(doc, arch="SCMP_ARCH_X86_64"), X86_TABLE)
    assert compiled.skipped == ["arm_fadvise64_64"]   # another architecture's call: skipped, as Docker does
    for name in names:
        assert run_bpf(compiled.program, NUMBERS[name]) == ALLOW
    outside = next(n for n in sorted(NUMBERS) if n not in names)
    assert run_bpf(compiled.program, NUMBERS[outside]) == errno_ret(errno.ENOSYS)


def test_disassembly_reads_like_bpf_asm():
    lines = disassemble(default_program().program)
    assert lines[0].split() == ["0", "ld", "arch"]
    assert lines[-1].split()[-1] == "ERRNO(EPERM)"      # an allow-list: the default refuses
    assert describe_action(errno_ret(errno.EPERM)) == "ERRNO(EPERM)"


def test_docker_profile_round_trips_through_json(tmp_path):
    path = tmp_path / "default.json"
    path.write_text(json.dumps(DEFAULT_PROFILE))
    assert compile_profile(load(path, caps.DEFAULT), X86_TABLE).program == default_program().program


def test_device_nodes_are_denied_but_fifos_are_not():
    prog = default_program().program
    for call, index in (("mknod", 1), ("mknodat", 2)):
        args = [0, 0, 0]
        for mode, expected in ((0o060600, errno_ret(errno.EPERM)), (0o020600, errno_ret(errno.EPERM)),
                               (0o010600, ALLOW), (0o100644, ALLOW)):
            args[index] = mode
            assert run_bpf(prog, NUMBERS[call], args) == expected, (call, oct(mode))
