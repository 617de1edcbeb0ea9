"""Recorded results: an overhead comparison and a density run as one JSON file, for readers
who cannot measure.

Measuring needs root (containers) and a usable QEMU with a readable guest-kernel cache (VMs).
A reader without them still deserves the chapter's tables and figures, as long as they are
clearly labelled as someone else's: :func:`dump` writes what a root run measured (the latest
comparison and density run of the results database, see :mod:`vmcompare.overhead` and
:mod:`vmcompare.density`) together with the machine and the date, and :func:`load` rebuilds
the same :class:`~vmcompare.overhead.Comparison` and :class:`~vmcompare.density.Density`
objects, so the chapter's code runs unchanged on them. Nothing here measures anything.

File format (``schema: vmcompare-recorded/1``)::

    {"schema", "machine", "date", "note",
     "overhead": {"labels", "trials", "workloads": [Workload...],
                  "runs": {env: {"labels", "wall_s", "error", "samples": [Sample...]}}},
     "density": {"labels", "points": [{"kind", "k", "error", "instances": [Instance...]}]}}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from . import density as dens
from . import overhead as ovh
from . import workloads as wl
from .errors import RecordedResultsError

SCHEMA = "vmcompare-recorded/1"


@dataclass
class Recorded:
    machine: str
    date: str
    note: str
    comparison: ovh.Comparison | None
    density: dens.Density | None

    def banner(self) -> str:
        return f"recorded on {self.machine}, {self.date} — not measured on your machine"


def to_dict(cmp: ovh.Comparison | None, result: dens.Density | None, *, machine: str, date: str,
            note: str = "") -> dict:
    out = {"schema": SCHEMA, "machine": machine, "date": date, "note": note, "overhead": None, "density": None}
    if cmp is not None:
        out["overhead"] = {"labels": cmp.labels, "trials": cmp.trials,
                           "workloads": [asdict(w) for w in cmp.workloads],
                           "runs": {env: {"labels": r.labels, "wall_s": r.wall_s, "error": r.error,
                                          "samples": [asdict(s) for s in r.samples]}
                                    for env, r in cmp.runs.items()}}
    if result is not None:
        out["density"] = {"labels": result.labels,
                          "points": [{"kind": p.kind, "k": p.k, "error": p.error, "kernel_kib": p.kernel_kib,
                                      "instances": [asdict(i) for i in p.instances]} for p in result.points]}
    return out


def from_dict(data: dict, path: str = "") -> Recorded:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise RecordedResultsError(f"not a {SCHEMA} file", op="load recorded results", path=path)
    try:
        cmp = None
        if data.get("overhead"):
            o = data["overhead"]
            cmp = ovh.Comparison({**o["labels"], "source": "recorded"}, [wl.Workload(**w) for w in o["workloads"]], o["trials"])
            for env, r in o["runs"].items():
                cmp.runs[env] = ovh.EnvRun(env, r["labels"], [wl.Sample(**s) for s in r["samples"]],
                                           r.get("wall_s"), r.get("error"))
        result = None
        if data.get("density"):
            d = data["density"]
            result = dens.Density({**d["labels"], "source": "recorded"}, [dens.Point(p["kind"], p["k"], [dens.Instance(**i) for i in
                                                                             p["instances"]], p.get("error"),
                                                           p.get("kernel_kib"))
                                                for p in d["points"]])
        return Recorded(data["machine"], data["date"], data.get("note", ""), cmp, result)
    except (KeyError, TypeError) as err:
        raise RecordedResultsError(f"malformed recorded results: {err}", op="load recorded results", path=path) from err


def load(path: str | os.PathLike) -> Recorded:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise RecordedResultsError(f"cannot read recorded results: {err.strerror}", op="load recorded results",
                             path=str(path)) from err
    try:
        data = json.loads(text)
    except ValueError as err:
        raise RecordedResultsError(f"recorded results are not json: {err}", op="load recorded results",
                             path=str(path)) from err
    return from_dict(data, str(path))


def dump(path: str | os.PathLike, cmp, result, *, machine: str, date: str, note: str = "") -> Path:
    """Write atomically (temporary file, then rename): never a half-written file."""
    path = Path(path)
    text = json.dumps(to_dict(cmp, result, machine=machine, date=date, note=note), indent=1,
                      ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RecordedResultsError(f"cannot write recorded results: {err.strerror}", op="dump recorded results",
                             path=str(path)) from err
    return path
