"""Figures for the comparison (matplotlib, imported here only and only when plotting).

* :func:`timeline_figure`: one horizontal bar per boot, cut into phases: QEMU and the
  firmware until the first console byte, the kernel until it runs /init, our /init's
  start, then user space and power-off. Where the time goes is the lesson.
* :func:`compare_figure`: container starts and VM boots on one **log** axis: they differ
  by orders of magnitude, so a linear axis would squash the containers into zero.
* :func:`memory_figure`: memory per running instance (RSS and USS).
Every figure's title names the accelerator, because a TCG boot is not a KVM boot.
"""

from __future__ import annotations

SEGMENTS = (("qemu_exec", "first_byte", "QEMU + firmware", "#9e9e9e"),
            ("first_byte", "run_init", "kernel boot", "#1f77b4"),
            ("run_init", "init_marker", "/init starts", "#ff7f0e"),
            ("init_marker", "exit", "user space + power-off", "#2ca02c"))


def _plt():
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg",) and not _interactive():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _interactive() -> bool:
    import sys
    return "ipykernel" in sys.modules


def _title(series) -> str:
    lab = series.labels
    src = " [SAMPLE: not measured here]" if lab.get("source") == "sample" else ""
    return f"{lab.get('machine', '?')} / {lab.get('accel', '?')} / {lab.get('memory_mib', '?')} MiB{src}"


def _source(series) -> str:
    from .measure import provenance
    return provenance(series.labels, series.labels.get("accel"))


def timeline_figure(series, ax=None):
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(series.ok()), 2) + 1.6), layout="constrained")
    for row, trial in enumerate(series.ok()):
        for start, end, label, colour in SEGMENTS:
            if start in trial.phases and end in trial.phases:
                ax.barh(row, trial.phases[end] - trial.phases[start], left=trial.phases[start], color=colour,
                        label=label if row == 0 else None)
    ax.set_yticks(range(len(series.ok())), [f"boot {i + 1}" for i in range(len(series.ok()))])
    ax.invert_yaxis()
    ax.set_xlabel("seconds after QEMU starts (host clock)")
    ax.set_title(f"VM boot phases: {_title(series)}\n{_source(series)}", fontsize="small")
    if fig is not None:
        fig.legend(loc="outside lower center", ncol=4, fontsize="small", frameon=False)
    else:
        ax.legend(fontsize="small")
    return fig or ax.figure


def compare_figure(containers, vms, ax=None):
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3))
    data = [[v * 1000 for v in containers.values()], [v * 1000 for v in vms.values()]]
    labels = ["container start\n(minicontainer run /bin/true)", f"VM boot to power-off\n({_title(vms)})"]
    try:
        ax.boxplot(data, orientation="horizontal", widths=0.5)    # matplotlib >= 3.10
    except TypeError:
        ax.boxplot(data, vert=False, widths=0.5)
    for i, values in enumerate(data, start=1):
        ax.scatter(values, [i] * len(values), s=12, alpha=0.6, zorder=3)
    ax.set_yticks([1, 2], labels)
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale)")
    ax.set_title(f"Starting a container vs booting a VM\n{_source(vms)}", fontsize="small")
    return fig or ax.figure


def memory_figure(container_bytes: tuple[int | None, int | None], vms, ax=None):
    """Bars of RSS and USS (MiB) for one container instance and one QEMU instance."""
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3))
    ok = vms.ok()
    med = lambda xs: sorted(xs)[len(xs) // 2] if xs else 0   # noqa: E731
    vm_rss = med([t.rss_bytes for t in ok if t.rss_bytes])
    vm_uss = med([t.uss_bytes for t in ok if t.uss_bytes])
    c_rss, c_uss = (x or 0 for x in container_bytes)
    mib = 2 ** 20
    xs = range(2)
    ax.bar([x - 0.2 for x in xs], [c_rss / mib, vm_rss / mib], width=0.4, label="RSS")
    ax.bar([x + 0.2 for x in xs], [c_uss / mib, vm_uss / mib], width=0.4, label="USS (unique to it)")
    ax.set_xticks(list(xs), ["container\n(runtime + process)", f"VM\n(QEMU, {vms.labels.get('memory_mib', '?')} MiB guest)"])
    ax.set_ylabel("MiB")
    ax.set_title(f"Memory per running instance\n{_source(vms)}", fontsize="small")
    ax.legend(fontsize="small")
    return fig or ax.figure
