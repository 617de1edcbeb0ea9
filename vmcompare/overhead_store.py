"""Storage of overhead comparisons: three tables beside :mod:`vmcompare.results`' in the same SQLite file.

A comparison is stored whole, in one transaction (its labels, workloads, each environment's
labels and error, every sample), and read back into the same objects, so a stored run
renders exactly as it did when it was measured.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS overhead_runs (
    id INTEGER PRIMARY KEY, date TEXT, labels TEXT NOT NULL, workloads TEXT NOT NULL, trials INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS overhead_envs (
    run_id INTEGER NOT NULL REFERENCES overhead_runs(id) ON DELETE CASCADE, env TEXT NOT NULL,
    labels TEXT NOT NULL, wall_s REAL, error TEXT, PRIMARY KEY (run_id, env));
CREATE TABLE IF NOT EXISTS overhead_samples (
    run_id INTEGER NOT NULL REFERENCES overhead_runs(id) ON DELETE CASCADE, env TEXT NOT NULL,
    workload TEXT NOT NULL, trial INTEGER NOT NULL, status TEXT NOT NULL, seconds REAL, value REAL, detail TEXT,
    cpu_seconds REAL);
"""


def _connect(path):
    import sqlite3
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(overhead_samples)")}
    if "cpu_seconds" not in columns:      # a database written before mc-timer reported CPU time
        db.execute("ALTER TABLE overhead_samples ADD COLUMN cpu_seconds REAL")
    return db


def save(cmp, path) -> int:
    """Store a comparison whole (one transaction); returns its id."""
    db = _connect(path)
    try:
        with db:
            cur = db.execute("INSERT INTO overhead_runs (date, labels, workloads, trials) VALUES (?,?,?,?)",
                             (cmp.labels.get("date"), json.dumps(cmp.labels, sort_keys=True),
                              json.dumps([asdict(w) for w in cmp.workloads]), cmp.trials))
            run_id = cur.lastrowid
            for env, run in cmp.runs.items():
                db.execute("INSERT INTO overhead_envs VALUES (?,?,?,?,?)",
                           (run_id, env, json.dumps(run.labels, sort_keys=True), run.wall_s, run.error))
                db.executemany("INSERT INTO overhead_samples VALUES (?,?,?,?,?,?,?,?,?)",
                               [(run_id, env, s.workload, s.trial, s.status, s.seconds, s.value, s.detail,
                                 s.cpu_seconds)
                                for s in run.samples])
        return run_id
    finally:
        db.close()


def load(path, run_id: int | None = None):
    """A stored comparison (the latest when ``run_id`` is None), or None when there is none."""
    from . import workloads as wl
    from .overhead import ENVS, Comparison, EnvRun
    if str(path) != ":memory:" and not Path(path).exists():
        return None
    db = _connect(path)
    try:
        q = "SELECT id, labels, workloads, trials FROM overhead_runs " + (
            "WHERE id = ?" if run_id is not None else "ORDER BY id DESC LIMIT 1")
        row = db.execute(q, (run_id,) if run_id is not None else ()).fetchone()
        if row is None:
            return None
        rid, labels, works, trials = row
        cmp = Comparison(json.loads(labels), [wl.Workload(**w) for w in json.loads(works)], trials)
        for env, elabels, wall, error in db.execute("SELECT env, labels, wall_s, error FROM overhead_envs "
                                                    "WHERE run_id = ?", (rid,)):
            cmp.runs[env] = EnvRun(env, json.loads(elabels), wall_s=wall, error=error)
        for env, *rest in db.execute("SELECT env, workload, trial, status, seconds, value, detail, cpu_seconds FROM "
                                     "overhead_samples WHERE run_id = ? ORDER BY rowid", (rid,)):
            cmp.runs[env].samples.append(wl.Sample(*rest))
        cmp.runs = {e: cmp.runs[e] for e in ENVS if e in cmp.runs}
        return cmp
    finally:
        db.close()


