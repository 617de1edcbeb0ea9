"""``vmcompare report``: one self-contained HTML page of the last comparison in the results DB.

Self-contained means one file a trainee can mail or attach: the tables are HTML, the
figures PNG images embedded as ``data:image/png;base64,...`` URIs (RFC 2397), no script,
no external stylesheet. Every figure and table says where its numbers come from: the
date, the host, the accelerator (a TCG figure is emulation), and whether a number was
measured here, projected by the density model, or published elsewhere.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from . import density as dens
from . import overhead as ovh
from .measure import provenance

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;font-size:90%}
th{background:#eee}td.num{text-align:right;font-family:monospace}.note{color:#555;font-size:90%}
.warn{background:#fff3cd;padding:6px;border:1px solid #e0c060}"""


def png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def overhead_figure(cmp: ovh.Comparison):
    """Overhead in % of the host per workload, one bar per non-host environment."""
    from .plot import _plt
    plt = _plt()
    rows = cmp.rows()
    envs = [e for e in cmp.runs if e != "host"]
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    width = 0.8 / max(len(envs), 1)
    for j, env in enumerate(envs):
        vals = [r.get(f"{env}_overhead_pct") for r in rows]
        xs = [i + (j - (len(envs) - 1) / 2) * width for i in range(len(rows))]
        ax.bar([x for x, v in zip(xs, vals) if v is not None], [v for v in vals if v is not None], width,
               label=ovh.env_heading(cmp, env))
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(rows)), [r["workload"] for r in rows])
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylabel("% worse than the host (symlog)")
    vm = cmp.runs.get("vm")
    ax.set_title(f"Overhead vs the host\n{provenance(cmp.labels, vm.labels.get('accel') if vm else None)}",
                 fontsize="small")
    ax.legend(fontsize="small")
    return fig


def _table(head: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td class='num'>{html.escape(str(c))}</td>" if i >= numeric_from
                                     else f"<td>{html.escape(str(c))}</td>" for i, c in enumerate(row)) + "</tr>")
    return "\n".join(out + ["</table>"])


def overhead_section(cmp: ovh.Comparison) -> str:
    envs = list(cmp.runs)
    head = ["workload", "unit"] + [h for e in envs for h in ([ovh.env_heading(cmp, e)] if e == "host"
                                                              else [ovh.env_heading(cmp, e), "overhead"])]
    head.append("published (not measured here)")
    rows = []
    for r in cmp.rows():
        cells = [r["title"], r["unit"]]
        for e in envs:
            cells.append(ovh._cell(r[e]))
            if e != "host":
                cells.append(ovh._pct(r.get(f"{e}_overhead_pct")))
        rows.append(cells + [r["published"]])
    parts = ["<h2>Overhead: the same workloads on the host, in a container and in a VM</h2>",
             f"<p class='note'>{html.escape(provenance(cmp.labels))}; median [p5-p95] of {cmp.trials} trial(s); "
             f"clock: {html.escape(str(cmp.labels.get('clock')))}</p>",
             _table(head, rows, numeric_from=2)]
    vm = cmp.runs.get("vm")
    if vm is not None and vm.labels.get("accel") == "tcg":
        parts.append("<p class='warn'>The VM ran under <b>TCG</b>: QEMU translated every guest instruction in "
                     "software. Its CPU and memory figures measure <b>emulation</b>, not virtualisation; with KVM "
                     "the guest's code runs on the CPU directly (see the published column).</p>")
    for env, run in cmp.runs.items():
        where = "; ".join(f"{k}: {v}" for k, v in run.labels.items() if not k.startswith("script_"))
        parts.append(f"<p class='note'><b>{html.escape(env)}</b>: {html.escape(where)}"
                     + (f" <b>FAILED: {html.escape(run.error)}</b>" if run.error else "") + "</p>")
    parts.append(f"<img alt='overhead' src='{png_data_uri(overhead_figure(cmp))}'>")
    return "\n".join(parts)


def density_section(result: dens.Density) -> str:
    rows = []
    for p in result.points:
        pss, uss = p.per_instance_mib("pss"), p.per_instance_mib("uss")
        rows.append([p.kind, p.k, "-" if p.storm_s is None else f"{p.storm_s:.2f}",
                     "-" if pss is None else f"{pss:.1f}", "-" if uss is None else f"{uss:.1f}", p.error or ""])
    parts = ["<h2>Density: k instances started at once (measured)</h2>",
             f"<p class='note'>VMs: accelerator {html.escape(str(result.labels.get('accel', '?')).upper())}, "
             f"{result.labels.get('vm_memory_mib')} MiB each; containers: "
             f"{html.escape(str(result.labels.get('container')))}; measured {html.escape(str(result.labels.get('date')))}"
             "</p>",
             _table(["kind", "k", "last one up after (s)", "PSS per instance (MiB)", "USS per instance (MiB)",
                     "error"], rows)]
    costs = result.costs()
    if costs:
        cores = int(result.labels.get("cores") or 1)
        rows = []
        for kind, c in costs.items():
            for ram_gib, n_cores in ((24, cores), (256, 64)):
                n, by = dens.capacity(ram_gib * 1024, n_cores, c)
                storm = f"{dens.storm_seconds(100, n_cores, c):.1f}" if c.work_s is not None else f"refused: {c.refused}"
                rows.append([kind, f"{ram_gib} GiB / {n_cores} cores", f"{c.mem_mib:.1f}",
                             "-" if c.work_s is None else f"{c.work_s:.3f}", f"{n} ({by})", storm])
        parts += ["<h3>Projected by the model (not measured)</h3>",
                  _table(["kind", "host", "MiB each", "CPU-s per start", "instances that fit",
                          "boot storm of 100 (s)"], rows),
                  f"<img alt='density' src='{png_data_uri(dens.figure(result))}'>"]
    return "\n".join(parts)


def render(cmp: ovh.Comparison | None, density_result: dens.Density | None, title: str = "vmcompare report") -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    if cmp is None and density_result is None:
        body.append("<p>No comparison stored yet: run <code>vmcompare overhead</code> and "
                    "<code>vmcompare density</code> first.</p>")
    if cmp is not None:
        body.append(overhead_section(cmp))
    if density_result is not None:
        body.append(density_section(density_result))
    body.append("<h2>Published figures (not measured here)</h2><ul>" + "".join(
        f"<li>{html.escape(v)}</li>" for v in dict.fromkeys(ovh.PUBLISHED.values())) + "".join(
        f"<li>{html.escape(src)}: {html.escape(val)} ({html.escape(what)})</li>" for src, val, what in
        ovh.PUBLISHED_BOOT) + "</ul>")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(out: Path, db: Path) -> Path:
    """Render the latest overhead comparison and density run stored in ``db`` to ``out``
    (written to a temporary name, then renamed: never a half-written report)."""
    import os
    text = render(ovh.load(db), dens.load(db))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
