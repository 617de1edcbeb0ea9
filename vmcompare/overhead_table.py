"""The overhead comparison as text: Felter et al.'s layout, one row per workload, median [p5-p95]
per environment and the overhead in % of the host, under a line saying where and when it was
measured (or that it was recorded elsewhere)."""

from __future__ import annotations

from .measure import provenance

HEADINGS = {"host": "host", "container": "container", "unconfined": "container, seccomp=unconfined"}


def env_heading(cmp, env: str) -> str:
    """Column heading; the VM's names its accelerator, always."""
    if env == "vm":
        return f"VM ({cmp.runs['vm'].labels.get('accel', '?').upper()})"
    return HEADINGS.get(env, env)


def _cell(stats: dict) -> str:
    if not stats.get("n"):
        return "n/a"
    med = stats["median"]
    digits = 0 if med >= 100 else 1 if med >= 10 else 2
    spread = f" [{stats['p5']:.{digits}f}-{stats['p95']:.{digits}f}]" if stats["n"] > 1 else ""
    return f"{med:.{digits}f}{spread}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.0f}%"


def format_table(cmp) -> str:
    """Felter et al.'s layout, as text: one row per workload, median [p5-p95] per environment and
    the overhead in % of the host (positive = worse)."""
    envs = list(cmp.runs)
    head = ["workload", "unit"] + [h for e in envs for h in
                                   ([env_heading(cmp, e)] if e == "host" else [env_heading(cmp, e), "overhead"])]
    rows = [head]
    for r in cmp.rows():
        cells = [r["workload"], r["unit"]]
        for e in envs:
            cells.append(_cell(r[e]))
            if e != "host":
                cells.append(_pct(r.get(f"{e}_overhead_pct")))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    vm = cmp.runs.get("vm")
    lines.insert(0, provenance(cmp.labels, vm.labels.get("accel") if vm else None))
    notes = [f"median [p5-p95] of {cmp.trials} trial(s), each run >= {cmp.labels.get('min_run_s', '?')} s; "
             f"overhead: % worse than the host; clocks: {cmp.labels.get('clock', '?')}"]
    scales = vm.labels.get("work_scale") if vm is not None else None
    if isinstance(scales, dict) and any(v != 1 for v in scales.values()):
        notes.append("VM: work per run " + ", ".join(f"{k} x{v:g}" for k, v in scales.items()) + " of the host's "
                     "(same unit, fewer units: an emulated run still lasts over 1 s)")
    for e, run in cmp.runs.items():
        if run.error:
            notes.append(f"{e}: FAILED: {run.error}")
    if "vm" in cmp.runs and cmp.runs["vm"].labels.get("accel") == "tcg":
        notes.append("VM under TCG: every guest instruction is translated in software, so the VM column measures "
                     "EMULATION, not virtualisation (KVM would run guest code natively)")
    return "\n".join(lines + notes)
