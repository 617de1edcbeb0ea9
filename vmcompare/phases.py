"""Reading a boot from its serial console: phases, guest memory and the workload's result.

Two clocks describe a boot and we keep both:

* the **host** clock (``time.monotonic()``, CLOCK_MONOTONIC) stamped on each console
  line by the harness as it reads it: QEMU exec, first byte, each line, exit;
* the **guest** clocks printed by the guest itself: the kernel's printk time
  (``[    0.912345] Run /init as init process``, seconds since the kernel started)
  and our /init's ``@@vmc phase init uptime=1.23`` (``/proc/uptime``).

The kernel only starts printing on ``ttyS0`` once its serial driver is up, and then
replays its buffer, so the *host* time of the "Linux version" line is when the console
appeared, not when the kernel started; the printk stamp says when it really happened.
Under TCG the guest's clock runs on emulated time, so the two disagree: report both.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from .initramfs import MARK

PHASES = ("qemu_exec", "first_byte", "linux_version", "run_init", "init_marker", "exit")
_PRINTK = re.compile(r"^\[\s*(\d+\.\d+)\]\s?(.*)$")
_FIELDS = re.compile(r"(\w+)=(\S*)")


@dataclass
class SerialLine:
    t: float      # host monotonic seconds when the line was complete
    text: str


@dataclass
class BootPhases:
    """Host offsets (seconds after QEMU exec) of each phase, and the guest's own clocks."""

    host: dict[str, float] = field(default_factory=dict)
    kernel_printk: dict[str, float] = field(default_factory=dict)
    guest_uptime: dict[str, float] = field(default_factory=dict)
    mem_total_kb: int | None = None
    mem_available_kb: int | None = None
    result_exit: int | None = None
    result_output: bytes | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(p in self.host for p in PHASES)

    def missing(self) -> list[str]:
        return [p for p in PHASES if p not in self.host]


def parse_marker(text: str) -> tuple[str, dict[str, str], str] | None:
    """``@@vmc phase init uptime=1.2`` -> ("phase", {"uptime": "1.2"}, "init")."""
    at = text.find(MARK + " ")
    if at < 0:
        return None
    words = text[at + len(MARK) + 1:].strip().split(" ", 2)
    kind = words[0]
    rest = " ".join(words[1:])
    name = words[1] if kind in ("phase", "error") and len(words) > 1 else ""
    return kind, dict(_FIELDS.findall(rest)), name if kind == "phase" else rest


def parse_result(text: str) -> tuple[int, bytes] | None:
    m = parse_marker(text)
    if not m or m[0] != "result":
        return None
    fields = m[1]
    try:
        return int(fields["exit"]), base64.b64decode(fields.get("b64", ""), validate=True)
    except (KeyError, ValueError):
        return None


def parse_boot(lines: list[SerialLine], t_exec: float, t_first_byte: float | None,
               t_exit: float | None) -> BootPhases:
    """Turn a timestamped console log into phases (all host times relative to QEMU exec)."""
    ph = BootPhases()
    ph.host["qemu_exec"] = 0.0
    if t_first_byte is not None:
        ph.host["first_byte"] = t_first_byte - t_exec
    for line in lines:
        text = line.text.rstrip("\r")
        rel = line.t - t_exec
        m = _PRINTK.match(text)
        if m:
            stamp, msg = float(m.group(1)), m.group(2)
            if msg.startswith("Linux version") and "linux_version" not in ph.host:
                ph.host["linux_version"], ph.kernel_printk["linux_version"] = rel, stamp
            elif msg.startswith("Run /init") and "run_init" not in ph.host:
                ph.host["run_init"], ph.kernel_printk["run_init"] = rel, stamp
            elif "Kernel panic" in msg:
                ph.errors.append(msg)
            continue
        marker = parse_marker(text)
        if marker is None:
            continue
        kind, fields, name = marker
        if kind == "phase":
            key = "init_marker" if name == "init" else name
            ph.host.setdefault(key, rel)
            uptime = re.match(r"\d+(?:\.\d+)?", fields.get("uptime", ""))
            if uptime:     # the serial line may carry console noise right after the figure ("2.80[")
                ph.guest_uptime.setdefault(name, float(uptime.group()))
        elif kind == "mem":
            ph.mem_total_kb = int(fields.get("total_kb", 0)) or None
            ph.mem_available_kb = int(fields.get("available_kb", 0)) or None
        elif kind == "result":
            res = parse_result(text)
            if res is None:
                ph.errors.append("unparseable result line")
            else:
                ph.result_exit, ph.result_output = res
        elif kind == "error":
            ph.errors.append(name)
    if t_exit is not None:
        ph.host["exit"] = t_exit - t_exec
    return ph
