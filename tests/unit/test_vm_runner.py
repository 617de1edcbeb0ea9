"""The QEMU runner without QEMU: the argv builder, the console parser on a recorded log, and the
timeout / hang / retry / kill logic driven by fake "QEMU" processes (small Python scripts)."""

import sys
import time
from pathlib import Path

import pytest

from minicontainer.errors import MiniContainerError
from vmcompare import qemu
from vmcompare.errors import BootTimeout, VMLaunchError
from vmcompare.initramfs import Share
from vmcompare.phases import PHASES, SerialLine, parse_boot, parse_marker, parse_result

K, I = Path("/k/vmlinuz"), Path("/k/initrd.cpio")


def test_argv_pc_tcg():
    argv = qemu.build_argv(qemu.VMConfig(kernel=K, initrd=I, memory_mib=128, kernel_args=("quiet",)))
    assert argv[0] == "qemu-system-x86_64"
    assert argv[argv.index("-machine") + 1] == "pc,accel=tcg"
    assert argv[argv.index("-m") + 1] == "128"
    assert argv[argv.index("-kernel") + 1] == "/k/vmlinuz" and argv[argv.index("-initrd") + 1] == "/k/initrd.cpio"
    assert argv[argv.index("-append") + 1] == "console=ttyS0 panic=-1 printk.time=1 quiet"
    assert argv[argv.index("-serial") + 1] == "stdio"
    for flag in ("-no-reboot", "-nodefaults", "-no-user-config"):
        assert flag in argv
    assert "-fsdev" not in argv


@pytest.mark.parametrize("machine", ["pc", "q35", "microvm"])
def test_argv_machines_and_kvm(machine):
    argv = qemu.build_argv(qemu.VMConfig(kernel=K, initrd=I, machine=machine, accel="kvm", cpus=2))
    assert argv[argv.index("-machine") + 1] == f"{machine},accel=kvm"
    assert argv[argv.index("-smp") + 1] == "2"


def test_argv_shares():
    shares = (Share(Path("/srv/a"), "/mnt/a", "share0"), Share(Path("/srv/b"), "/mnt/b", "share1", readonly=False))
    argv = qemu.build_argv(qemu.VMConfig(kernel=K, initrd=I, shares=shares))
    fsdevs = [argv[i + 1] for i, a in enumerate(argv) if a == "-fsdev"]
    devices = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
    assert fsdevs[0] == "local,id=fs0,path=/srv/a,security_model=none,multidevs=remap,readonly=on"
    assert "readonly" not in fsdevs[1]
    assert devices == ["virtio-9p-pci,fsdev=fs0,mount_tag=share0", "virtio-9p-pci,fsdev=fs1,mount_tag=share1"]


@pytest.mark.parametrize("bad", [dict(machine="isapc"), dict(accel="auto"), dict(memory_mib=8), dict(cpus=0),
                                 dict(machine="microvm", shares=(Share(Path("/x"), "/x", "s"),))])
def test_argv_rejects_bad_config(bad):
    with pytest.raises(MiniContainerError):
        qemu.build_argv(qemu.VMConfig(kernel=K, initrd=I, **bad))


# A real console log from a `-M pc` TCG boot of the Debian cloud kernel on the development
# machine (2026-11-27); the first number is the host offset at which the harness read the line.
RECORDED = [
    (0.623, "[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP"),
    (0.623, "[    0.000000] Command line: console=ttyS0 panic=-1 printk.time=1"),
    (0.624, "[    0.000000] tsc: Fast TSC calibration using PIT"),
    (1.731, "[    1.237304] Run /init as init process"),
    (1.793, "@@vmc phase init uptime=1.28"),
    (1.818, "@@vmc mem total_kb=223632 available_kb=200452"),
    (1.830, "@@vmc phase workload uptime=1.32"),
    (1.834, "@@vmc phase workload-done uptime=1.32"),
    (1.841, "@@vmc result exit=0 b64=aGVsbG8K"),
    (1.842, "@@vmc phase end uptime=1.33"),
    (1.846, "[    1.352966] reboot: Power down"),
]


def test_parse_recorded_boot():
    t0 = 1000.0
    lines = [SerialLine(t0 + dt, text) for dt, text in RECORDED]
    ph = parse_boot(lines, t_exec=t0, t_first_byte=t0 + 0.600, t_exit=t0 + 1.860)
    assert ph.complete and ph.missing() == []
    assert list(ph.host)[:len(PHASES) - 1] == list(PHASES[:-1])
    assert ph.host["first_byte"] == pytest.approx(0.600)
    assert ph.host["linux_version"] == pytest.approx(0.623)
    assert ph.host["run_init"] == pytest.approx(1.731)
    assert ph.host["init_marker"] == pytest.approx(1.793)
    assert ph.host["exit"] == pytest.approx(1.860)
    assert ph.kernel_printk == {"linux_version": 0.0, "run_init": pytest.approx(1.237304)}
    assert ph.guest_uptime["init"] == 1.28 and ph.guest_uptime["end"] == 1.33
    assert (ph.mem_total_kb, ph.mem_available_kb) == (223632, 200452)
    assert (ph.result_exit, ph.result_output) == (0, b"hello\n")
    assert ph.errors == []


def test_parse_incomplete_and_broken_logs():
    t0 = 5.0
    hung = [SerialLine(t0 + 0.3, RECORDED[0][1]), SerialLine(t0 + 0.3, "[    0.1] tsc: Unable to calibrate against PIT")]
    ph = parse_boot(hung, t0, t0 + 0.3, None)
    assert not ph.complete and ph.missing() == ["run_init", "init_marker", "exit"]
    ph = parse_boot([SerialLine(t0, "@@vmc result exit=0 b64=!!notbase64")], t0, t0, t0 + 1)
    assert ph.result_exit is None and ph.errors == ["unparseable result line"]
    ph = parse_boot([SerialLine(t0, "[    2.0] Kernel panic - not syncing: Attempted to kill init!")], t0, t0, t0 + 1)
    assert ph.errors and "Kernel panic" in ph.errors[0]
    assert parse_marker("noise @@vmc phase init uptime=1.5") == ("phase", {"uptime": "1.5"}, "init")
    assert parse_marker("no marker here") is None
    assert parse_result("@@vmc result exit=7 b64=") == (7, b"")


# ---- the process logic, with fake QEMUs --------------------------------------------------
def fake(script: str) -> list[str]:
    return [sys.executable, "-c", "import sys, time\n" + script]


BOOTS_OK = fake("print('[    0.0] Linux version 6.1', flush=True); time.sleep(0.1)\n"
                "print('[    0.2] Run /init as init process'); print('@@vmc phase init uptime=0.3', flush=True)\n"
                "time.sleep(0.2); print('@@vmc result exit=0 b64=aGkK'); print('@@vmc phase end uptime=0.4', end='')")
HANGS = fake("print('[    0.0] tsc: Unable to calibrate against PIT', flush=True); time.sleep(60)")
SLOW_WORKLOAD = fake("print('@@vmc phase init uptime=0.3', flush=True); time.sleep(60)")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_machine_reads_lines_with_monotonic_stamps():
    with qemu.QemuMachine(BOOTS_OK, sample_at_init=True) as vm:
        rec = vm.wait(timeout=10, silence=5)
    assert rec.status == "ok" and rec.exit_code == 0
    assert [l.text for l in rec.lines][-1] == "@@vmc phase end uptime=0.4"   # last line had no newline
    stamps = [l.t for l in rec.lines]
    assert stamps == sorted(stamps) and rec.t_exec <= rec.t_first_byte <= stamps[0] <= rec.t_exit
    assert rec.lines[1].t - rec.lines[0].t >= 0.09            # the sleep shows in the host stamps
    assert rec.t_init is not None and rec.rss_bytes and rec.rss_bytes > 0
    assert rec.phases().result_output == b"hi\n"


def test_silent_console_is_a_hang_and_is_killed():
    vm = qemu.QemuMachine(HANGS)
    with pytest.raises(BootTimeout) as info:
        with vm:
            vm.wait(timeout=20, silence=0.5)
    assert info.value.kind == "hang" and "Unable to calibrate" in info.value.log
    assert vm.record.status == "hang"
    assert not _alive(vm.proc.pid) and vm.proc.pid not in qemu._live


def test_hard_timeout_after_init_kills_the_whole_group():
    # the fake forks a grandchild in the same process group: it must die too
    script = fake("import subprocess; p = subprocess.Popen(['sleep', '60']); print(p.pid, flush=True)\n"
                  "print('@@vmc phase init uptime=0.1', flush=True); time.sleep(60)")
    vm = qemu.QemuMachine(script, sample_at_init=False)
    start = time.monotonic()
    with pytest.raises(BootTimeout) as info:
        with vm:
            vm.wait(timeout=1.0, silence=0.2)       # silence no longer applies once /init has started
    assert info.value.kind == "timeout"
    assert 0.9 <= time.monotonic() - start < 5
    grandchild = int(vm.record.lines[0].text)
    time.sleep(0.1)
    assert not _alive(vm.proc.pid)
    assert not _alive(grandchild)


def test_keyboard_interrupt_still_kills():
    vm = qemu.QemuMachine(SLOW_WORKLOAD, sample_at_init=False)
    with pytest.raises(KeyboardInterrupt):
        with vm:
            raise KeyboardInterrupt
    assert not _alive(vm.proc.pid) and not qemu._live


def test_launch_failure_carries_exitcode_command_output():
    argv = fake("sys.stderr.write('qemu: -machine nosuch: unsupported machine type\\n'); sys.exit(1)")
    with pytest.raises(VMLaunchError) as info:
        with qemu.QemuMachine(argv) as vm:
            vm.wait(timeout=10)
    err = info.value
    assert err.exitcode == 1 and err.command == argv and "unsupported machine" in err.output
    with pytest.raises(VMLaunchError):
        qemu.QemuMachine(["/nonexistent/qemu"]).launch()


def test_boot_retries_a_hang_once_and_records_it(monkeypatch):
    scripts = iter([HANGS, BOOTS_OK])
    real = qemu.QemuMachine
    monkeypatch.setattr(qemu, "QemuMachine", lambda argv, **kw: real(next(scripts), **kw))
    outcome = qemu.boot(qemu.VMConfig(kernel=K, initrd=I), timeout=10, silence=0.5)
    assert [f.status for f in outcome.failures] == ["hang"]
    assert outcome.record is not None and outcome.record.status == "ok"


def test_boot_gives_up_after_two_hangs_and_does_not_retry_timeouts(monkeypatch):
    monkeypatch.setattr(qemu, "build_argv", lambda cfg: HANGS)
    outcome = qemu.boot(qemu.VMConfig(kernel=K, initrd=I), timeout=10, silence=0.3)
    assert outcome.record is None and [f.status for f in outcome.failures] == ["hang", "hang"]
    monkeypatch.setattr(qemu, "build_argv", lambda cfg: SLOW_WORKLOAD)
    outcome = qemu.boot(qemu.VMConfig(kernel=K, initrd=I), timeout=0.8, silence=0.3, sample_at_init=False)
    assert outcome.record is None and [f.status for f in outcome.failures] == ["timeout"]
    assert not qemu._live


def test_probe_kvm_without_device_or_kernel(tmp_path):
    v = qemu.probe_kvm(device=tmp_path / "kvm", build_dir=tmp_path)
    assert not v.usable and "absent" in v.reason
    dev = tmp_path / "kvm-dev"
    dev.write_text("")
    v = qemu.probe_kvm(device=dev, build_dir=tmp_path)     # no guest kernel under tmp_path
    assert not v.usable and "not probed" in v.reason
    assert qemu.resolve_accel("tcg") == ("tcg", "chosen by the user")
    with pytest.raises(MiniContainerError):
        qemu.resolve_accel("hvf")


def test_console_noise_after_an_uptime_figure_is_dropped():
    """A CI run read '@@vmc phase init uptime=2.80[' (console noise glued to the number)."""
    t0 = 1000.0
    noisy = [(dt, text.replace("uptime=1.28", "uptime=1.28[")) for dt, text in RECORDED]
    ph = parse_boot([SerialLine(t0 + dt, text) for dt, text in noisy], t_exec=t0, t_first_byte=t0 + 0.600,
                    t_exit=t0 + 1.860)
    assert ph.guest_uptime["init"] == 1.28
