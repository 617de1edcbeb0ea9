"""Results: a small SQLite database in the build directory, exportable as CSV or JSON.

SQLite (the standard library's :mod:`sqlite3`) keeps every series ever measured, so a
notebook can plot today's run beside last week's. The schema:

``runs``: one series, with the conditions it ran under::

    id INTEGER PRIMARY KEY, kind TEXT ('vm-boot' | 'container-start'),
    source TEXT ('measured' | 'sample'), labels TEXT (JSON: host_kernel, cpu_model, cores,
    qemu_version, accel, accel_reason, machine, memory_mib, guest_kernel, date, ...),
    date TEXT, accel TEXT, machine TEXT           -- copies of labels, for WHERE clauses

``trials``: one boot or one container start::

    run_id -> runs.id, trial INTEGER, status TEXT ('ok' | 'hang' | 'timeout' | 'failed' | ...),
    total_s REAL, first_byte_s, linux_version_s, run_init_s, init_marker_s, exit_s REAL
        -- host seconds after QEMU exec; NULL unless status = 'ok'
    printk_run_init_s REAL, guest_uptime_init_s REAL   -- the guest's own clocks
    rss_bytes, uss_bytes INTEGER                        -- QEMU at the init marker
    guest_mem_total_kb, guest_mem_available_kb INTEGER, error TEXT

A checked-in sample (``vmcompare/data/sample_results.json``, measured on the machine and
date it names) is loaded only when QEMU is not available, and is marked ``source='sample'``.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from importlib import resources
from pathlib import Path

from minicontainer.paths import project_build_dir

from .errors import NotFoundError
from .measure import Series, Trial

DB_NAME = "vmcompare-results.sqlite"
SAMPLE = "sample_results.json"
PHASE_COLUMNS = ("first_byte", "linux_version", "run_init", "init_marker", "exit")
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'measured',
    labels TEXT NOT NULL, date TEXT, accel TEXT, machine TEXT);
CREATE TABLE IF NOT EXISTS trials (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, trial INTEGER NOT NULL,
    status TEXT NOT NULL, total_s REAL,
    first_byte_s REAL, linux_version_s REAL, run_init_s REAL, init_marker_s REAL, exit_s REAL,
    printk_run_init_s REAL, guest_uptime_init_s REAL, rss_bytes INTEGER, uss_bytes INTEGER,
    guest_mem_total_kb INTEGER, guest_mem_available_kb INTEGER, error TEXT,
    PRIMARY KEY (run_id, trial));
"""
_TRIAL_COLUMNS = ("status", "total_s", *(f"{p}_s" for p in PHASE_COLUMNS), "printk_run_init_s",
                  "guest_uptime_init_s", "rss_bytes", "uss_bytes", "guest_mem_total_kb",
                  "guest_mem_available_kb", "error")


def db_path(build_dir: Path | None = None) -> Path:
    return (build_dir or project_build_dir()) / DB_NAME


class ResultStore:
    """``with ResultStore(path) as store: run_id = store.save(series)``."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(SCHEMA)

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    def save(self, series: Series, source: str = "measured") -> int:
        with self.db:   # one transaction: a run is stored whole or not at all
            labels = series.labels
            cur = self.db.execute("INSERT INTO runs (kind, source, labels, date, accel, machine) VALUES (?,?,?,?,?,?)",
                                  (series.kind, source, json.dumps(labels, sort_keys=True), labels.get("date"),
                                   labels.get("accel"), labels.get("machine")))
            run_id = cur.lastrowid
            for i, t in enumerate(series.trials):
                row = (t.status, t.total_s, *(t.phases.get(p) for p in PHASE_COLUMNS),
                       t.kernel_printk.get("run_init"), t.guest_uptime_init, t.rss_bytes, t.uss_bytes,
                       t.guest_mem_total_kb, t.guest_mem_available_kb, t.error)
                self.db.execute(f"INSERT INTO trials (run_id, trial, {', '.join(_TRIAL_COLUMNS)}) "
                                f"VALUES (?, ?, {', '.join('?' * len(_TRIAL_COLUMNS))})", (run_id, i, *row))
            return run_id

    def runs(self, kind: str | None = None, source: str | None = None) -> list[dict]:
        q = "SELECT id, kind, source, labels FROM runs WHERE (? IS NULL OR kind = ?) AND (? IS NULL OR source = ?) ORDER BY id"
        return [{"id": i, "kind": k, "source": s, "labels": json.loads(lab)}
                for i, k, s, lab in self.db.execute(q, (kind, kind, source, source))]

    def load(self, run_id: int) -> Series:
        row = self.db.execute("SELECT kind, labels, source FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no run {run_id}", op="load results", path=str(self.path))
        labels = json.loads(row[1])
        labels["source"] = row[2]
        series = Series(kind=row[0], labels=labels)
        cur = self.db.execute(f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM trials WHERE run_id = ? ORDER BY trial",
                              (run_id,))
        for values in cur:
            v = dict(zip(_TRIAL_COLUMNS, values))
            phases = {p: v[f"{p}_s"] for p in PHASE_COLUMNS if v[f"{p}_s"] is not None}
            if phases:
                phases["qemu_exec"] = 0.0
            series.trials.append(Trial(
                status=v["status"], total_s=v["total_s"], phases=phases,
                kernel_printk={"run_init": v["printk_run_init_s"]} if v["printk_run_init_s"] is not None else {},
                guest_uptime_init=v["guest_uptime_init_s"], rss_bytes=v["rss_bytes"], uss_bytes=v["uss_bytes"],
                guest_mem_total_kb=v["guest_mem_total_kb"], guest_mem_available_kb=v["guest_mem_available_kb"],
                error=v["error"]))
        return series

    def latest(self, kind: str, **where) -> Series | None:
        for run in reversed(self.runs(kind)):
            if all(run["labels"].get(k) == v for k, v in where.items()):
                return self.load(run["id"])
        return None

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out)
        label_keys = ("date", "host_kernel", "cpu_model", "cores", "qemu_version", "accel", "machine",
                      "memory_mib", "guest_kernel")
        w.writerow(("run_id", "kind", "source", *label_keys, "trial", *_TRIAL_COLUMNS))
        for run in self.runs():
            for values in self.db.execute(f"SELECT trial, {', '.join(_TRIAL_COLUMNS)} FROM trials "
                                          "WHERE run_id = ? ORDER BY trial", (run["id"],)):
                w.writerow((run["id"], run["kind"], run["source"], *(run["labels"].get(k, "") for k in label_keys),
                            *values))
        return out.getvalue()

    def to_json(self) -> str:
        runs = []
        for run in self.runs():
            cur = self.db.execute(f"SELECT trial, {', '.join(_TRIAL_COLUMNS)} FROM trials WHERE run_id = ? "
                                  "ORDER BY trial", (run["id"],))
            run["trials"] = [dict(zip(("trial", *_TRIAL_COLUMNS), v)) for v in cur]
            runs.append(run)
        return json.dumps({"schema": "vmcompare-results/1", "runs": runs}, indent=1) + "\n"

    def import_json(self, text: str, source: str | None = None) -> list[int]:
        data = json.loads(text)
        ids = []
        for run in data["runs"]:
            series = Series(kind=run["kind"], labels=run["labels"])
            for t in run["trials"]:
                phases = {p: t[f"{p}_s"] for p in PHASE_COLUMNS if t.get(f"{p}_s") is not None}
                series.trials.append(Trial(
                    status=t["status"], total_s=t.get("total_s"), phases=phases,
                    kernel_printk={"run_init": t["printk_run_init_s"]} if t.get("printk_run_init_s") else {},
                    guest_uptime_init=t.get("guest_uptime_init_s"), rss_bytes=t.get("rss_bytes"),
                    uss_bytes=t.get("uss_bytes"), guest_mem_total_kb=t.get("guest_mem_total_kb"),
                    guest_mem_available_kb=t.get("guest_mem_available_kb"), error=t.get("error")))
            ids.append(self.save(series, source=source or run.get("source", "measured")))
        return ids


def sample_store() -> ResultStore:
    """The checked-in sample set, in memory, every run marked ``source='sample'``."""
    store = ResultStore(":memory:")
    text = resources.files("vmcompare").joinpath("data", SAMPLE).read_text()
    store.import_json(text, source="sample")
    return store


def open_results(build_dir: Path | None = None, *, qemu_available: bool | None = None) -> tuple[ResultStore, str]:
    """The store to read: the measured database, or the sample when QEMU is unavailable.
    Returns (store, note) where note says which one and why."""
    if qemu_available is None:
        from .qemu import qemu_version
        qemu_available = qemu_version() is not None
    path = db_path(build_dir)
    if qemu_available or path.exists():
        return ResultStore(path), f"measured results from {path}"
    store = sample_store()
    label = store.runs()[0]["labels"] if store.runs() else {}
    return store, (f"QEMU is not available here: showing the SAMPLE results measured on "
                   f"{label.get('cpu_model', '?')} on {label.get('date', '?')}, not on this machine")
