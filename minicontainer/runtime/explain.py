"""``--explain``: the kernel steps a container start takes, and why each is needed.

A real run (``run --explain``) collects the steps the runtime, the monitor and the
container process actually made, as they made them. A dry run (``--explain --dry-run``)
walks exactly the same code with :class:`~minicontainer.kernel.RecordingSyscalls`, which
records instead of calling the kernel, so it needs neither root nor Linux.
"""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import MiniContainerError
from ..kernel import DryRunFinished, RecordingSyscalls, Step
from .containers import Container
from .options import RunOptions, command_for

DRY_RUN_ID = "0" * 64


def plan_for(rt, opts: RunOptions) -> list[Step]:
    """Record the steps ``rt.run(opts)`` would take, touching nothing: the same config.json
    builder and the same launcher as a real run, with a container that is never stored."""
    from . import launcher
    opts.validate()
    sys = rt.sys if isinstance(rt.sys, RecordingSyscalls) else RecordingSyscalls()
    image = _image_or_placeholder(rt, opts.image)
    c = Container(id=DRY_RUN_ID, name=opts.name or "dry-run", image=opts.image, image_id=image.id,
                  command=command_for(image.config, opts.command, opts.entrypoint), created=0.0, config={},
                  dir=rt.containers.dir / DRY_RUN_ID)
    config = rt.build_config(c, image, opts, opts.volume_records())
    procs: list[str] = []
    try:
        cgroup = rt.cgroup_manager(c.id, sys)
        cgroup.create()
        if opts.limits is not None:
            cgroup.apply(opts.limits)
        procs = [str(p) for p in cgroup.procs_files()]
    except (MiniContainerError, OSError) as err:  # no cgroup filesystem here: the plan goes on without them
        from .. import log
        log.swallowed(__name__, "plan cgroup", err)
    spec = rt.launch_spec_for(c, config, procs)
    try:
        launcher.start(sys, spec)
    except DryRunFinished:
        pass
    return sys.steps


def _image_or_placeholder(rt, ref: str):
    try:
        return rt.images().resolve(ref)
    except (MiniContainerError, OSError):
        layer = rt.root / "images" / "layers" / f"<layers of {ref}>"
        return SimpleNamespace(id=f"<{ref}>", config={"Cmd": ["sh"]}, layer_dirs=[layer])


def aliases_for(rt, container_id: str | None) -> dict[str, str]:
    """Short names for the long paths that fill the steps (shown as a legend above them)."""
    out = {}
    if container_id:
        out[str(rt.containers.dir / container_id)] = "$CTR"
        out[container_id] = "$ID"
    out[str(rt.root / "images" / "layers")] = "$LAYERS"
    out[str(rt.cgroup_root)] = "$CGROUP"
    return out


def shorten(text: str, aliases: dict[str, str]) -> str:
    for long in sorted(aliases, key=len, reverse=True):
        text = text.replace(long, aliases[long])
    return text


def format_steps(steps: list[Step], aliases: dict[str, str] | None = None, width: int = 110) -> str:
    """Number the steps, one per line, each followed by its reason."""
    aliases = aliases or {}
    lines = [f"{short} = {long}" for long, short in sorted(aliases.items(), key=lambda kv: kv[1])
             if any(long in s.args or long in s.why for s in steps)]
    if lines:
        lines.append("")
    for n, step in enumerate(steps, 1):
        args = shorten(step.args, aliases)
        args = args if len(args) <= width else args[: width - 3] + "..."
        lines.append(f"{n:>3}  {step.where:<9} {step.call}({args})")
        lines.append(f"{'':>15}# {shorten(step.why, aliases)}")
        if step.error:
            lines.append(f"{'':>15}! failed: {step.error}")
    return "\n".join(lines)


def as_rows(steps: list[Step], aliases: dict[str, str] | None = None) -> list[dict]:
    """Steps as dictionaries (for a notebook table)."""
    aliases = aliases or {}
    return [{"#": n, "process": s.where, "call": s.call, "arguments": shorten(s.args, aliases),
             "why": shorten(s.why, aliases)} for n, s in enumerate(steps, 1)]
