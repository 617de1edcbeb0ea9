"""Docker-format seccomp profiles resolved as Docker (moby's profiles/seccomp) resolves them, and
compiled with the meaning runc and libseccomp give the result: Docker's own default profile, the
architecture names, minKernel, caps, errnoRet, and the rule-combination rules. The filters are run
by the BPF interpreter of test_security_units."""

import errno
import json
import os
from pathlib import Path

import pytest

from minicontainer.errors import UsageError
from minicontainer.security import caps
from minicontainer.security.profile import Profile, load, native_arch, resolve
from minicontainer.security.seccomp import arch_tables, compile_profile
from minicontainer.security.syscalls_i386 import AUDIT_ARCH as I386, NUMBERS as NR32
from minicontainer.security.syscalls_x32 import NUMBERS as NRX32
from minicontainer.security.syscalls_x86_64 import NUMBERS as NR
from test_security_units import ALLOW, KILL_PROCESS, errno_ret, run_bpf

DOCKER_DEFAULT = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "docker-default-seccomp.json"
TABLES = arch_tables("x86_64")
EPERM, ENOSYS = errno_ret(errno.EPERM), errno_ret(errno.ENOSYS)
SIGCHLD, CLONE_NEWUSER, CLONE_NEWNS = 17, 0x10000000, 0x00020000


def docker(keep=caps.DEFAULT, kernel=(6, 1)) -> Profile:
    return load(DOCKER_DEFAULT, keep, arch="x86_64", kernel=kernel)


def program(profile: Profile) -> bytes:
    return compile_profile(profile, TABLES).program


def doc(*syscalls, default="SCMP_ACT_ERRNO", **extra):
    return {"defaultAction": default, "syscalls": list(syscalls), **extra}


# --- Docker's own default profile --------------------------------------------------------------

def test_docker_default_resolves_like_moby_on_x86_64():
    p = docker()
    assert p.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert (p.default_action, p.default_errno_ret) == ("SCMP_ACT_ERRNO", 1)
    named = {n for rule in p.rules for n in rule.names}
    assert {"arch_prctl", "modify_ldt", "ptrace", "personality", "socket", "clone", "clone3"} <= named
    assert not named & {"mount", "unshare", "keyctl", "s390_runtime_instr", "set_tls", "riscv_flush_icache",
                        "swapcontext", "reboot", "bpf", "open_by_handle_at"}
    clones = [r for r in p.rules if "clone" in r.names]
    assert [(r.action, [(a.index, a.op, a.value) for a in r.args]) for r in clones] == [
        ("SCMP_ACT_ALLOW", [(0, "SCMP_CMP_MASKED_EQ", 2114060288)])]       # the s390 variant is gone
    assert "ptrace" not in {n for r in docker(kernel=(4, 4)).rules for n in r.names}   # minKernel 4.8


def test_docker_default_compiled_refuses_and_allows_as_in_docker():
    prog = program(docker())
    for name in ("read", "write", "execve", "arch_prctl", "modify_ldt", "wait4", "openat", "clock_gettime"):
        assert run_bpf(prog, NR[name]) == ALLOW, name
    for name in ("mount", "unshare", "keyctl", "add_key", "umount2", "pivot_root", "setns", "init_module",
                 "reboot", "bpf", "open_by_handle_at", "kexec_load", "swapon", "acct", "settimeofday"):
        assert run_bpf(prog, NR[name]) == EPERM, name
    assert run_bpf(prog, NR["clone"], [SIGCHLD]) == ALLOW
    assert run_bpf(prog, NR["clone"], [CLONE_NEWUSER | SIGCHLD]) == EPERM
    assert run_bpf(prog, NR["clone3"]) == ENOSYS                          # errnoRet 38: glibc falls back
    assert run_bpf(prog, NR["socket"], [2]) == ALLOW                      # AF_INET
    assert run_bpf(prog, NR["socket"], [40]) == EPERM                     # AF_VSOCK: neither < 38, 39 nor > 40
    assert run_bpf(prog, NR["personality"], [0xFFFFFFFF]) == ALLOW        # the query
    assert run_bpf(prog, NR["personality"], [0x0400000]) == EPERM         # READ_IMPLIES_EXEC


def test_cap_sys_admin_gives_mount_and_unshare_back_but_not_keyctl():
    prog = program(docker([*caps.DEFAULT, "CAP_SYS_ADMIN"]))
    for name in ("mount", "umount2", "unshare", "setns", "clone3"):
        assert run_bpf(prog, NR[name]) == ALLOW, name
    assert run_bpf(prog, NR["clone"], [CLONE_NEWUSER | CLONE_NEWNS]) == ALLOW
    assert run_bpf(prog, NR["keyctl"]) == EPERM and run_bpf(prog, NR["pivot_root"]) == EPERM   # not in the list at all


def test_the_i386_and_x32_abis_get_their_own_numbers():
    prog = program(docker())
    assert run_bpf(prog, NR32["read"], arch=I386) == ALLOW                # read is 3 in i386, close on x86_64
    assert run_bpf(prog, NR32["mount"], arch=I386) == EPERM              # 21: access on x86_64, allowed there
    assert run_bpf(prog, NR["access"]) == ALLOW
    assert run_bpf(prog, NR32["socketcall"], arch=I386) == ALLOW
    assert run_bpf(prog, NRX32["read"]) == ALLOW                         # bit 30 set: the x32 table
    assert run_bpf(prog, NRX32["mount"]) == EPERM
    assert run_bpf(prog, NRX32["execve"]) == ALLOW                       # 520: x32's own number
    assert run_bpf(prog, NR["read"], arch=0xC00000B7) == KILL_PROCESS    # AUDIT_ARCH_AARCH64: not covered


def test_calls_newer_than_the_profile_get_enosys_older_unnamed_ones_the_default():
    prog = program(docker())
    assert run_bpf(prog, 1000) == ENOSYS
    assert run_bpf(prog, 1000, arch=I386) == ENOSYS
    assert run_bpf(prog, NR["tuxcall"]) == EPERM                          # below the newest named: default
    allow_default = resolve(doc({"names": ["mount"], "action": "SCMP_ACT_ERRNO"}, default="SCMP_ACT_ALLOW"),
                            arch="x86_64")
    assert run_bpf(program(allow_default), 1000) == ALLOW                 # no stub for a permissive default


def test_resolved_profile_is_oci_linux_seccomp_and_round_trips():
    p = docker([*caps.DEFAULT, "CAP_SYS_ADMIN"])
    oci = p.to_oci()
    assert set(oci) == {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}
    assert all(set(call) <= {"names", "action", "errnoRet", "args"} for call in oci["syscalls"])
    admin = next(call for call in oci["syscalls"] if "mount" in call["names"])
    assert admin["action"] == "SCMP_ACT_ALLOW" and {"unshare", "setns", "clone3"} <= set(admin["names"])
    json.dumps(oci)                                                       # plain JSON
    again = resolve(oci, arch="x86_64")                                   # no caps needed any more
    assert again.rules == p.rules and again.architectures == p.architectures
    assert program(again) == program(p)


def test_busybox_needs_arch_prctl_which_only_the_short_name_keeps():
    """The bug of issue 19: rules naming Docker's architecture names were dropped."""
    rules = docker().rules
    assert any(r.names == ["arch_prctl"] for r in rules)


# --- the pieces, one by one ----------------------------------------------------------------------

@pytest.mark.parametrize("arches, kept", [(["amd64"], True), (["amd64", "x32"], True), (["x86"], False),
                                          (["SCMP_ARCH_X86_64"], False), (["arm64"], False)])
def test_includes_arches_use_libseccomps_short_names(arches, kept):
    p = resolve(doc({"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": arches}}),
                arch="x86_64")
    assert bool(p.rules) is kept


def test_excludes_arches_and_another_machine():
    rule = {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["s390", "s390x"]}}
    assert resolve(doc(rule), arch="x86_64").rules
    assert not resolve(doc(rule), arch="s390x").rules
    assert resolve(doc({"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}}),
                   arch="aarch64").rules
    assert native_arch("x86_64") == native_arch("amd64") == native_arch("SCMP_ARCH_X86_64") == \
        ("amd64", "SCMP_ARCH_X86_64")


def test_arch_map_takes_only_this_machines_entry():
    arch_map = [{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": None}]
    p = resolve(doc(archMap=arch_map), arch="x86_64")
    assert p.architectures == ["SCMP_ARCH_X86_64"]
    compiled = compile_profile(p, TABLES)
    assert compiled.arches == ["SCMP_ARCH_X86_64"]
    assert run_bpf(compiled.program, NR32["read"], arch=I386) == KILL_PROCESS   # i386 not covered: killed
    assert run_bpf(compiled.program, NRX32["read"]) == KILL_PROCESS             # nor x32
    other = resolve(doc(archMap=arch_map[:1]), arch="x86_64")
    assert other.architectures == []                                            # no entry: native only
    assert compile_profile(other, TABLES).arches == ["SCMP_ARCH_X86_64"]


@pytest.mark.parametrize("where, version, kernel, kept", [
    ("includes", "5.8", (5, 8), True), ("includes", "5.8", (5, 7), False), ("includes", "4.8", (6, 18), True),
    ("includes", "5.10.2-foo", (5, 10), True), ("excludes", "5.8", (5, 8), False), ("excludes", "5.8", (4, 19), True),
])
def test_min_kernel_compares_major_and_minor(where, version, kernel, kept):
    p = resolve(doc({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", where: {"minKernel": version}}),
                arch="x86_64", kernel=kernel)
    assert bool(p.rules) is kept


@pytest.mark.parametrize("inc, exc, have, kept", [
    (["CAP_SYS_ADMIN"], [], {"CAP_SYS_ADMIN"}, True), (["CAP_SYS_ADMIN", "CAP_BPF"], [], {"CAP_SYS_ADMIN"}, False),
    ([], ["CAP_SYS_ADMIN", "CAP_BPF"], {"CAP_BPF"}, False), ([], ["CAP_SYS_ADMIN"], set(), True),
])
def test_caps_includes_need_all_excludes_drop_on_any(inc, exc, have, kept):
    rule = {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": inc}, "excludes": {"caps": exc}}
    assert bool(resolve(doc(rule), have, arch="x86_64").rules) is kept


@pytest.mark.parametrize("bad, message", [
    ({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5"}}, 'like "5.8"'),
    ({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": 5.8}}, 'like "5.8"'),
    ({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": "CAP_SYS_PTRACE"}}, "list of strings"),
    ({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": ["amd64"]}, "includes must be an object"),
    ({"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}, "use either 'name' or 'names'"),
    ({"names": ["read"], "action": "SCMP_ACT_NOTIFY"}, "SCMP_ACT_NOTIFY needs a seccomp agent"),
    ({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}, "errnoRet must be an integer"),
])
def test_malformed_rules_are_one_line_errors_even_when_they_would_not_apply(bad, message):
    bad = {**bad, "excludes": bad.get("excludes", {"arches": ["amd64"]})}   # excluded here: still checked
    with pytest.raises(UsageError, match=message) as info:
        resolve(doc(bad), arch="x86_64")
    assert "\n" not in str(info.value)


def test_errno_ret_default_errno_ret_and_trace():
    p = resolve(doc({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
                    {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
                    {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["getpid"], "action": "SCMP_ACT_TRACE"}, defaultErrnoRet=errno.ENOTSUP), arch="x86_64")
    prog = program(p)
    assert run_bpf(prog, NR["mkdir"]) == errno_ret(errno.EACCES)
    assert run_bpf(prog, NR["rmdir"]) == EPERM                       # ERRNO without errnoRet: EPERM, as runc
    assert run_bpf(prog, NR["getpid"]) == 0x7FF00000 | errno.EPERM  # TRACE: EPERM when no tracer
    assert run_bpf(prog, NR["chdir"]) == errno_ret(errno.ENOTSUP)   # the default's own errno


def test_a_rule_with_the_default_action_is_dropped_as_runc_does():
    """Without it, the unconditional EPERM below would outrank the conditional ALLOW."""
    p = resolve(doc({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": CLONE_NEWUSER, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                    {"names": ["clone"], "action": "SCMP_ACT_ERRNO"}, defaultErrnoRet=1), arch="x86_64")
    prog = program(p)
    assert run_bpf(prog, NR["clone"], [SIGCHLD]) == ALLOW
    assert run_bpf(prog, NR["clone"], [CLONE_NEWUSER]) == EPERM


@pytest.mark.parametrize("order", [0, 1])
def test_an_unconditional_rule_outranks_conditional_ones_in_either_order(order):
    rules = [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
              "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
             {"names": ["personality"], "action": "SCMP_ACT_ALLOW"}]
    prog = program(resolve(doc(*(rules if order == 0 else rules[::-1])), arch="x86_64"))
    assert run_bpf(prog, NR["personality"], [8]) == ALLOW
    assert run_bpf(prog, NR["personality"], [9]) == ALLOW


def test_args_on_different_indexes_all_hold_on_the_same_index_any_holds():
    both = {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                                                    {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
    either = {"names": ["tkill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_EQ"},
                                                                       {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
    prog = program(resolve(doc(both, either), arch="x86_64"))
    assert run_bpf(prog, NR["kill"], [1, 9]) == ALLOW
    assert run_bpf(prog, NR["kill"], [1, 15]) == EPERM and run_bpf(prog, NR["kill"], [2, 9]) == EPERM
    assert run_bpf(prog, NR["tkill"], [5, 15]) == ALLOW and run_bpf(prog, NR["tkill"], [5, 9]) == ALLOW
    assert run_bpf(prog, NR["tkill"], [5, 2]) == EPERM


# --- the project's own default: an allow-list at least as strict as Docker's ------------------------

def probes(table):
    """(nr, args) pairs: every call of the ABI with zero arguments, the arguments that decide the
    conditional rules (clone flags, socket families, personalities, mknod file types), and numbers
    beyond the table."""
    nrs = sorted(set(table.numbers.values()))
    out = [(nr, [0] * 6) for nr in nrs] + [(max(nrs) + k, [0] * 6) for k in (1, 50, 500)]
    n = table.numbers.get
    for flags in (SIGCHLD, 0x003D0F00, CLONE_NEWUSER, CLONE_NEWNS | SIGCHLD, 0x7E020000):
        out += [(n("clone"), [flags, 0]), (n("clone"), [0, flags])]     # s390 swaps the two
    out += [(n("socket"), [family]) for family in range(0, 48)]
    out += [(n("personality"), [value]) for value in (0, 8, 0x20000, 0x20008, 0x400000, 0xFFFFFFFF, 3)]
    for mode in (0o020600, 0o060600, 0o010600, 0o140600, 0o100600, 0o000600):
        out += [(n("mknod"), [0, mode]), (n("mknodat"), [0, 0, mode])]
    return [(nr, args) for nr, args in out if nr is not None]


@pytest.mark.parametrize("extra", [[], ["CAP_SYS_ADMIN"], ["CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_SYS_NICE"],
                                   ["CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON"]])
def test_our_default_refuses_at_least_what_dockers_refuses(extra):
    from minicontainer.security.defaults import DEFAULT_PROFILE
    keep = [*caps.DEFAULT, *extra]
    ours = program(resolve(DEFAULT_PROFILE, keep, arch="x86_64", kernel=(6, 1)))
    theirs = program(docker(keep))
    looser = []
    for table in TABLES:
        audit = table.audit_arch
        for nr, args in probes(table):
            if run_bpf(theirs, nr, args, arch=audit) != ALLOW and run_bpf(ours, nr, args, arch=audit) == ALLOW:
                looser.append((table.name, hex(nr), args[:3]))
    assert looser == []


def test_our_default_covers_the_same_abis_and_refuses_with_eperm():
    from minicontainer.security.defaults import DEFAULT_PROFILE
    p = resolve(DEFAULT_PROFILE, caps.DEFAULT, arch="x86_64", kernel=(6, 1))
    assert (p.default_action, p.default_errno_ret) == ("SCMP_ACT_ERRNO", errno.EPERM)
    assert p.architectures == docker().architectures
    prog = program(p)
    for name in ("mount", "unshare", "keyctl", "pivot_root", "io_uring_setup", "userfaultfd", "kexec_load"):
        assert run_bpf(prog, NR[name]) == EPERM, name
    for name in ("arch_prctl", "read", "execve", "chroot", "ptrace", "socketpair", "rseq"):
        assert run_bpf(prog, NR[name]) == ALLOW, name
    assert run_bpf(prog, NR["socket"], [40]) == EPERM and run_bpf(prog, NR["socket"], [1]) == ALLOW
    assert run_bpf(prog, 1000) == ENOSYS


def test_the_runtime_path_compiles_dockers_profile_for_the_containers_caps(fake_host):
    """--security-opt seccomp=FILE into config.json and out as the launcher's filter, as run and exec use it."""
    from test_security_units import through_the_config
    proc, _ = fake_host
    opt = [f"seccomp={DOCKER_DEFAULT}"]
    plain = through_the_config(proc, security_opt=opt)
    admin = through_the_config(proc, security_opt=opt, cap_add=["SYS_ADMIN"])
    assert plain.seccomp_label.startswith(f"{os.path.abspath(DOCKER_DEFAULT)}: ")
    assert run_bpf(plain.seccomp, NR["arch_prctl"]) == ALLOW
    assert run_bpf(plain.seccomp, NR["mount"]) == EPERM and run_bpf(admin.seccomp, NR["mount"]) == ALLOW
    assert run_bpf(admin.seccomp, NR["keyctl"]) == EPERM


def test_a_profile_is_compiled_once_per_process_and_the_cached_program_is_the_same():
    from minicontainer.oci import launch
    oci = docker().to_oci()
    launch._COMPILED.clear()
    first = launch.compiled_seccomp(oci)
    assert launch.compiled_seccomp(json.loads(json.dumps(oci))) is first            # an equal document: a hit
    assert first.program == compile_profile(resolve(oci, source="linux.seccomp")).program
    other = docker([*caps.DEFAULT, "CAP_SYS_ADMIN"]).to_oci()
    assert launch.compiled_seccomp(other).program != first.program and len(launch._COMPILED) == 2
