"""``minicontainer build``: apply a Dockerfile to an image, one cached step at a time.

An image is a stack of layers plus a config. A Dockerfile is a script of changes to
that stack, and the builder applies them in order, each step turning the current image
(the *parent*) into a new one (the *child*):

* ``RUN`` runs a command in a container made from the parent and commits the
  container's overlay upper directory as a new layer (:mod:`.runstep`);
* ``COPY``/``ADD``/``WORKDIR`` make a layer on the host from a staging directory
  (:mod:`.filesteps`);
* every other instruction only edits the config and adds an ``empty_layer`` history
  line (:mod:`.instructions`).

Each child is stored as an (untagged) image, and the step's cache key (:mod:`.cache`)
is recorded, so a rebuild finds the children again and prints ``---> Using cache``.
At the end the last stage's image gets the ``-t`` tags. A failure or Ctrl-C at any
point removes the step's container and staging files (``finally``); the layers already
made stay in the store as the cache (``image prune`` removes untagged images).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..files import discard_tree
from ..errors import MiniContainerError, NotFoundError, UsageError
from . import instructions as I
from .cache import BuildCache, step_key
from .context import BuildContext, IgnoreRules
from .parser import Dockerfile, Instruction, parse
from .runstep import BuildStepError
from .stages import StageState, scratch_config, split_stages, stage_index, target_index
from .words import expand, process_word

METADATA = {"ENV", "ARG", "LABEL", "MAINTAINER", "EXPOSE", "VOLUME", "USER", "CMD", "ENTRYPOINT", "SHELL",
            "STOPSIGNAL", "HEALTHCHECK", "ONBUILD"}


@dataclass
class BuildOptions:
    context: Path
    dockerfile: Path | None = None             # default: <context>/Dockerfile
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)   # added to the result, as a last LABEL step
    network: str | None = None                 # RUN steps' network (build --network); None: Docker's
                                               # default, the default bridge (none when rootless)


@dataclass
class StepRecord:
    number: int
    instruction: str
    cached: bool
    image_id: str
    seconds: float
    layer: bool                                # False for config-only (empty_layer) steps


@dataclass
class BuildResult:
    image: object                              # minicontainer.images.store.Image
    steps: list[StepRecord]
    tags: list[str]


def label_instruction(labels: dict[str, str], escape: str = "\\") -> Instruction:
    """``--label k=v`` as the classic builder applies it: one more ``LABEL`` step at the end of the
    built stage, its keys and values quoted so that no ``$`` or space is read as syntax."""
    def quote(text: str) -> str:
        for ch in (escape, '"', "$"):
            text = text.replace(ch, escape + ch)
        return f'"{text}"'
    line = "LABEL " + " ".join(f"{quote(str(k))}={quote(str(v))}" for k, v in sorted(labels.items()))
    return parse(f"FROM scratch\n{line}\n").instructions[1]


class Builder:
    """Builds images into the store of ``state_root``; progress is written to ``out``."""

    def __init__(self, state_root=None, *, out=None, syscalls=None) -> None:
        from .. import paths
        from ..images.store import ImageStore
        self.root = paths.state_root(state_root)
        self.store = ImageStore(self.root, syscalls)
        self.cache = BuildCache(self.root)
        self.out = out if out is not None else sys.stdout
        self._syscalls = syscalls
        self._runtime = None

    # -- output ---------------------------------------------------------------
    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    @property
    def runtime(self):
        if self._runtime is None:
            from ..runtime import Runtime
            self._runtime = Runtime(self.root, self._syscalls)
        return self._runtime

    # -- the build ---------------------------------------------------------------
    def build(self, opts: BuildOptions) -> BuildResult:
        from ..images import reference
        context = Path(opts.context)
        dockerfile = Path(opts.dockerfile) if opts.dockerfile else context / "Dockerfile"
        tags = [reference.normalize(t) for t in opts.tags]          # bad tags fail before any work
        from .. import network
        if opts.network is None:
            import dataclasses
            from ..security.rootless import default_network
            opts = dataclasses.replace(opts, network=default_network())
        network.validate(self.root, opts.network)                   # so does an unknown --network
        try:
            text = dockerfile.read_text()
        except OSError as err:
            raise UsageError(f"cannot read the Dockerfile: {(err.strerror or str(err)).lower()}", op="build",
                             path=dockerfile) from err
        df = parse(text, dockerfile.name)
        ctx = BuildContext(context, IgnoreRules.load(context))
        self.tmp = self.root / "build" / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmp.mkdir(parents=True, mode=0o700)
        try:
            return self._build(df, ctx, opts, tags)
        finally:
            discard_tree(self.tmp, "build")

    def _build(self, df: Dockerfile, ctx: BuildContext, opts: BuildOptions, tags: list[str]) -> BuildResult:
        globals_, stages = split_stages(df)
        last = target_index(stages, opts.target)
        if opts.labels:
            stages[last].instructions.append(label_instruction(opts.labels, df.escape))
        total = len(globals_) + sum(1 + len(s.instructions) for s in stages[:last + 1])
        self.df, self.ctx, self.opts = df, ctx, opts
        self.used_args: set[str] = set()
        self.steps: list[StepRecord] = []
        self.stage_images: dict[int, str | None] = {}
        self._flat: dict[str, Path] = {}
        n = 0
        global_args: dict[str, str] = {}
        for inst in globals_:
            n += 1
            self.say(f"Step {n}/{total} : {inst.original}\n")
            for key, default in I.env_pairs(inst, global_args, df.escape):
                value = opts.build_args.get(key, default)
                if key in opts.build_args:
                    self.used_args.add(key)
                if value is not None:
                    global_args[key] = value
        self.global_args = global_args
        state = None
        for stage in stages[:last + 1]:
            n += 1
            t0 = time.monotonic()
            self.say(f"Step {n}/{total} : {stage.from_inst.original}\n")
            state = self._from(stage, stages)
            self._record(n, stage.from_inst, True, state, t0, False)
            for inst in stage.instructions:
                n += 1
                self.say(f"Step {n}/{total} : {inst.original}\n")
                self._step(n, inst, state, stages, stage.index)
            self.stage_images[stage.index] = self._materialize(state)
        unused = sorted(set(opts.build_args) - self.used_args)
        if unused:
            self.say(f"[Warning] One or more build-args {unused} were not consumed\n")
        image = self.store.resolve(self._materialize(state))
        self.say(f"Successfully built {image.short_id}\n")
        for t in tags:
            self.store.tag(image.id, t)
            self.say(f"Successfully tagged {t}\n")
        return BuildResult(self.store.resolve(image.id), self.steps, tags)

    def _materialize(self, state: StageState) -> str:
        """The stage's image ID (``scratch`` with no step yet becomes an empty image in the store)."""
        if state.image_id is None:
            state.image_id = self.store.add_image(state.raw).id
        return state.image_id

    def _record(self, n: int, inst: Instruction, cached: bool, state: StageState, t0: float, layer: bool):
        short = (state.image_id or "scratch").split(":")[-1][:12]
        self.say(f" ---> {short}\n")
        self.steps.append(StepRecord(n, inst.original, cached, state.image_id or "scratch",
                                     time.monotonic() - t0, layer))

    def _from(self, stage, stages) -> StageState:
        base = process_word(stage.base, self.global_args, self.df.escape)
        text = stage.from_inst.args
        self.used_args.update(k for k in self.global_args if f"${k}" in text or f"${{{k}" in text)
        idx = stage_index(stages, base, stage.index) if not base.isdigit() else None
        if idx is not None:
            image = self.store.resolve(self.stage_images[idx])
            return StageState(raw=json.loads(json.dumps(image.raw)), image_id=image.id)
        if base.lower() == "scratch":
            return StageState(raw=scratch_config(), image_id=None)
        try:
            image = self.store.resolve(base)
        except NotFoundError:
            if base not in ("busybox", "busybox:latest"):
                raise
            image = self.store.ensure_busybox()
        return StageState(raw=json.loads(json.dumps(image.raw)), image_id=image.id)

    # -- one step ----------------------------------------------------------------
    def _step(self, n: int, inst: Instruction, state: StageState, stages, stage_no: int) -> None:
        t0 = time.monotonic()
        try:
            plan = self._plan(inst, state, stages, stage_no)
        except MiniContainerError as err:
            if isinstance(err, BuildStepError) or getattr(err, "line", None):
                raise
            from .parser import DockerfileError
            raise DockerfileError(err.message, file=self.df.file, line=inst.line, text=inst.original) from err
        key = step_key(state.image_id, plan["key"], plan.get("content", ""))
        cached = None if self.opts.no_cache else self.cache.lookup(key, self.store)
        if cached is not None:
            self.say(" ---> Using cache\n")
            state.raw, state.image_id = json.loads(json.dumps(cached.raw)), cached.id
        else:
            raw = plan["run"]()
            state.raw, state.image_id = raw, self.store.add_image(raw).id
            self.cache.record(key, state.image_id)
        if "after" in plan:
            plan["after"]()
        self._record(n, inst, cached is not None, state, t0, plan["layer"])

    def _plan(self, inst: Instruction, state: StageState, stages, stage_no: int) -> dict:
        """What the step will do: its cache key text, a function making the child config, and whether
        it makes a layer. Variables are substituted here, so the key is what really runs."""
        esc, env = self.df.escape, state.env()
        cmd = inst.cmd
        if cmd in METADATA:
            return self._metadata(inst, state, env, esc)
        if cmd == "RUN":
            from . import steps
            return steps.plan_run(self, inst, state)
        if cmd == "WORKDIR":
            from . import steps
            return steps.plan_workdir(self, inst, state, env, esc)
        if cmd in ("COPY", "ADD"):
            from . import steps
            return steps.plan_copy(self, inst, state, env, esc, stages, stage_no)
        raise UsageError(f"unsupported instruction {cmd}", op="build")

    def _metadata(self, inst: Instruction, state: StageState, env: dict, esc: str) -> dict:
        cmd, after, extra_key = inst.cmd, None, ""
        raw = state.derive()
        cfg = raw.setdefault("config", {})
        shown = inst.original
        if cmd == "ENV":
            for k, v in I.env_pairs(inst, env, esc):
                cfg["Env"] = I.set_env(cfg.get("Env") or [], k, v)
            shown = "ENV " + " ".join(f"{k}={v}" for k, v in I.env_pairs(inst, env, esc))
        elif cmd == "ARG":
            pairs = I.env_pairs(inst, env, esc)
            values = {}
            for k, default in pairs:
                if k in self.opts.build_args:
                    self.used_args.add(k)
                    values[k] = self.opts.build_args[k]
                elif default is not None:
                    values[k] = default
                elif k in self.global_args:
                    values[k] = self.global_args[k]
            shown = "ARG " + " ".join(k for k, _ in pairs)       # values stay out of the history (secrets)
            after = lambda: state.args.update(values)      # noqa: E731 (applied on a cache hit too)
            extra_key = "".join(f"\0{k}={v}" for k, v in sorted(values.items()))
        elif cmd == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            labels.update(I.env_pairs(inst, env, esc))
            cfg["Labels"] = labels
        elif cmd == "MAINTAINER":
            raw["author"] = expand(inst.args, env, esc)
        elif cmd == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            ports.update({p: {} for p in I.exposed_ports(inst, env, esc)})
            cfg["ExposedPorts"] = ports
        elif cmd == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            vols.update({v: {} for v in I.volumes(inst, env, esc)})
            cfg["Volumes"] = vols
        elif cmd == "USER":
            cfg["User"] = I.user(inst, env, esc)
        elif cmd == "CMD":
            cfg["Cmd"] = I.command(inst, state.shell)
            after = lambda: setattr(state, "cmd_set", True)   # noqa: E731
        elif cmd == "ENTRYPOINT":
            cfg["Entrypoint"] = I.command(inst, state.shell)
            if not state.cmd_set:
                cfg["Cmd"] = None        # Docker: a new ENTRYPOINT drops the CMD inherited from the base
        elif cmd == "SHELL":
            cfg["Shell"] = list(inst.json)
        elif cmd == "STOPSIGNAL":
            cfg["StopSignal"] = I.stop_signal(inst, env, esc)
        elif cmd == "HEALTHCHECK":
            cfg["Healthcheck"] = I.healthcheck(inst, state.shell)
        elif cmd == "ONBUILD":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [inst.args]
        raw.setdefault("history", []).append({"created": raw["created"], "created_by": shown, "empty_layer": True})
        key = shown + extra_key + "\0" + json.dumps(cfg, sort_keys=True) + ("\0cmd_set" if state.cmd_set else "")
        plan = {"key": key, "run": lambda: raw, "layer": False}
        if after is not None:
            plan["after"] = after
        return plan

    def add_layer(self, state: StageState, tree: Path, created_by: str, *, translate_overlay: bool) -> dict:
        """The child config: the parent's plus the layer made from ``tree`` and a history line."""
        from ..images.commit import layer_from_dir
        diff_id = layer_from_dir(self.store, tree, translate_overlay=translate_overlay)
        raw = state.derive()
        raw.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
        raw.setdefault("history", []).append({"created": raw["created"], "created_by": created_by})
        return raw

    def layers_top_first(self, state: StageState) -> list[Path]:
        return [self.store.layer_dir(d) for d in reversed(state.raw.get("rootfs", {}).get("diff_ids", []))]

    def staging(self, what: str) -> Path:
        path = self.tmp / f"{what}-{uuid.uuid4().hex[:8]}"
        path.mkdir(mode=0o755)
        return path
