"""vmcompare.recorded: a comparison and a density run survive the trip through the JSON file."""

from __future__ import annotations

import json

import pytest

from vmcompare import density as dens
from vmcompare import overhead as ovh
from vmcompare import recorded
from vmcompare import workloads as wl
from vmcompare.errors import RecordedResultsError


def _comparison() -> ovh.Comparison:
    w = wl.Workload(name="syscall", title="syscalls", unit="ns/syscall", size=10, body="true",
                    higher_is_better=False)
    cmp = ovh.Comparison({"date": "2026-11-27", "clock": "test"}, [w], trials=2)
    cmp.runs["host"] = ovh.EnvRun("host", {}, [wl.Sample("syscall", 0, "ok", 0.1, 200.0),
                                               wl.Sample("syscall", 1, "ok", 0.1, 220.0)])
    cmp.runs["vm"] = ovh.EnvRun("vm", {"accel": "tcg"}, [wl.Sample("syscall", 0, "ok", 0.1, 900.0)], wall_s=3.0)
    return cmp


def _density() -> dens.Density:
    return dens.Density({"cores": 2}, [
        dens.Point("container", 1, [dens.Instance(0.1, uss=1 << 20, pss=2 << 20, rss=3 << 20, tasks=2)], kernel_kib=300),
        dens.Point("vm", 1, [dens.Instance(2.0, uss=200 << 20, pss=210 << 20, rss=220 << 20)]),
        dens.Point("vm", 2, [dens.Instance(None)], error="boot hung")])


def test_round_trip_keeps_table_and_model(tmp_path):
    path = recorded.dump(tmp_path / "r.json", _comparison(), _density(), machine="box", date="2026-11-27")
    back = recorded.load(path)
    assert back.banner() == "recorded on box, 2026-11-27 — not measured on your machine"
    shown, measured = ovh.format_table(back.comparison).splitlines(), ovh.format_table(_comparison()).splitlines()
    assert shown[1:] == measured[1:]                                   # the same table ...
    assert measured[0].startswith("measured now") and shown[0].startswith("RECORDED: measured on ")
    assert shown[0].endswith("not measured on your machine")           # ... labelled as recorded, never "now"
    assert back.density.labels["source"] == "recorded"
    assert back.comparison.rows()[0]["vm_overhead_pct"] == pytest.approx((900 / 210 - 1) * 100)
    assert back.density.costs() == _density().costs()
    assert back.density.points[0].kernel_kib == 300
    assert back.density.points[2].error == "boot hung" and back.density.points[2].storm_s is None
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file left behind"


def test_missing_parts_stay_missing(tmp_path):
    back = recorded.load(recorded.dump(tmp_path / "r.json", None, None, machine="m", date="d"))
    assert back.comparison is None and back.density is None


@pytest.mark.parametrize("text, message", [
    ("{", "not json"),
    (json.dumps({"schema": "other"}), "not a vmcompare-recorded/1 file"),
    (json.dumps({"schema": recorded.SCHEMA, "machine": "m", "date": "d", "overhead": {"labels": {}}}), "malformed"),
])
def test_bad_files_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(RecordedResultsError, match=message) as info:
        recorded.load(path)
    assert info.value.path == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(RecordedResultsError, match="cannot read"):
        recorded.load(tmp_path / "absent.json")
