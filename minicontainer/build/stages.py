"""Build stages: ``FROM ... AS name`` starts one, and each keeps its own image state.

A multi-stage Dockerfile is several builds in one file: every ``FROM`` starts a fresh
*stage* from a base image (or ``scratch``, the empty image, or an earlier stage by
name), and ``COPY --from=NAME`` copies files out of a finished stage. Only the last
stage (or ``--target NAME``) becomes the tagged result; the others are build tools
that leave nothing in it - the classic way to compile with a big toolchain and ship a
small image.

Arguments have scopes: an ``ARG`` before the first ``FROM`` is *global* and usable only
in ``FROM`` lines, unless a stage re-declares it (``ARG NAME`` without a value) to
bring its value in. ``--build-arg K=V`` overrides the default of any ``ARG K``.
In the stage, ENV values win over ARG values of the same name when substituting.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ..errors import UsageError
from ..images.busybox import arch
from ..images.commit import now_rfc3339
from .instructions import DEFAULT_SHELL, env_dict
from .parser import Dockerfile, Instruction


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    instructions: list[Instruction]            # after its FROM
    from_inst: Instruction


def split_stages(df: Dockerfile) -> tuple[list[Instruction], list[Stage]]:
    """(global ARG instructions, stages) of a parsed Dockerfile; stage names must be unique."""
    globals_: list[Instruction] = []
    stages: list[Stage] = []
    for inst in df.instructions:
        if inst.cmd == "FROM":
            words = inst.args.split()
            name = words[2].lower() if len(words) == 3 else None
            if name and any(s.name == name for s in stages):
                from .parser import DockerfileError
                raise DockerfileError(f"duplicate stage name {name!r}", file=df.file, line=inst.line,
                                      text=inst.original)
            stages.append(Stage(len(stages), name, words[0], [], inst))
        elif stages:
            stages[-1].instructions.append(inst)
        else:
            globals_.append(inst)
    return globals_, stages


def stage_index(stages: list[Stage], ref: str, before: int) -> int | None:
    """The stage ``ref`` names (a name, or a number) among the first ``before`` stages."""
    ref_l = ref.lower()
    for s in stages[:before]:
        if s.name == ref_l:
            return s.index
    if ref.isdigit():
        if int(ref) >= before:
            raise UsageError(f"stage {ref} is not before this one (COPY --from can only read earlier stages)",
                             op="build")
        return int(ref)
    return None


def target_index(stages: list[Stage], target: str | None) -> int:
    if not target:
        return len(stages) - 1
    for s in stages:
        if s.name == target.lower():
            return s.index
    names = ", ".join(s.name for s in stages if s.name) or "none"
    raise UsageError(f"target stage {target!r} could not be found (stages: {names})", op="build")


def scratch_config() -> dict:
    """The config of ``scratch``, the empty image: no layers, no settings."""
    return {"architecture": arch(), "os": "linux", "created": now_rfc3339(), "config": {},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


@dataclass
class StageState:
    """Where a stage is: its current image (config + ID), args in scope and builder flags."""

    raw: dict
    image_id: str | None                       # None while still ``scratch`` with no step done
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False                      # CMD given in this stage (ENTRYPOINT then keeps it)

    @property
    def config(self) -> dict:
        return self.raw.setdefault("config", {})

    @property
    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def env(self) -> dict[str, str]:
        """What ``$VAR`` means now: ARG values, overridden by ENV values."""
        return {**self.args, **env_dict(self.config.get("Env") or [])}

    def derive(self) -> dict:
        """A copy of the current config to change for the next step."""
        raw = copy.deepcopy(self.raw)
        raw["created"] = now_rfc3339()
        raw.pop("container_config", None)
        return raw
