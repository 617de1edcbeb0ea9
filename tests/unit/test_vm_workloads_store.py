"""Overhead comparisons and density runs round-trip through SQLite, and `vmcompare report`
renders a self-contained HTML page from a small stored result set (no QEMU, no root)."""

import base64
import re

import pytest

from vmcompare import cli, density, overhead, report, workloads as wl


def _comparison():
    ws = wl.catalogue(["cpu", "net-rtt"])
    cmp = overhead.Comparison({"date": "2026-11-27T00:00:00+00:00", "cpu_model": "test cpu", "cores": 2,
                               "host_kernel": "6.x", "clock": "/proc/uptime"}, ws, 2)
    for env, cpu, rtt in (("host", (1.50, 1.56), 10.0), ("container", (1.50, 1.65), 12.0), ("vm", (15.0, 15.6), 300.0)):
        run = overhead.EnvRun(env, {"accel": "tcg"} if env == "vm" else {})
        for t, sec in enumerate(cpu, 1):
            run.samples.append(wl.Sample("cpu", t, "ok", sec, ws[0].value(sec)))
            run.samples.append(wl.Sample("net-rtt", t, "ok", 0.1, rtt))
        cmp.runs[env] = run
    return cmp


def _density():
    result = density.Density({"date": "2026-11-27", "cores": 2, "accel": "tcg", "vm_memory_mib": 128})
    for kind, k, start, mib in (("container", 1, 0.2, 0.5), ("container", 5, 0.6, 0.5), ("vm", 1, 1.5, 200),
                                ("vm", 2, 3.0, 200)):
        result.points.append(density.Point(kind, k, [density.Instance(start * (i + 1) / k, int(mib * 2**20),
                                                                      int(mib * 2**20), int(mib * 2**20))
                                                     for i in range(k)]))
    return result


def test_overhead_rows_and_table():
    cmp = _comparison()
    rows = {r["workload"]: r for r in cmp.rows()}
    host, vm = (1000 / 1.5 + 1000 / 1.56) / 2, (1000 / 15.0 + 1000 / 15.6) / 2     # medians of two values
    assert rows["cpu"]["host"]["median"] == pytest.approx(host)
    assert rows["cpu"]["vm_overhead_pct"] == pytest.approx((host / vm - 1) * 100)
    assert rows["net-rtt"]["container_overhead_pct"] == pytest.approx(20)
    text = overhead.format_table(cmp)
    assert "VM (TCG)" in text and "EMULATION" in text and "+20%" in text
    assert text.splitlines()[0].startswith("measured now on ") and "VM accelerator TCG" in text.splitlines()[0]


def test_store_round_trip(tmp_path):
    db = tmp_path / "r.sqlite"
    assert overhead.load(db) is None and density.load(db) is None
    cmp, dens = _comparison(), _density()
    overhead.save(cmp, db)
    density.save(dens, db)
    back = overhead.load(db)
    assert back.rows() == cmp.rows() and back.runs["vm"].labels["accel"] == "tcg"
    d2 = density.load(db)
    assert [(p.kind, p.k, p.storm_s) for p in d2.points] == [(p.kind, p.k, p.storm_s) for p in dens.points]


def test_report_is_self_contained_html(tmp_path):
    db = tmp_path / "r.sqlite"
    overhead.save(_comparison(), db)
    density.save(_density(), db)
    out = tmp_path / "report.html"
    assert cli.main(["report", "--db", str(db), "--output", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "VM (TCG)" in text and "emulation" in text and "published" in text.lower()
    assert "Projected by the model (not measured)" in text
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert not re.search(r"(src|href)=['\"](?!data:)", text)          # nothing fetched from elsewhere
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".report.html.*"))


def test_report_without_results_says_so(tmp_path):
    out = report.write_report(tmp_path / "r.html", tmp_path / "none.sqlite")
    assert "No comparison stored yet" in out.read_text()


def test_every_figure_says_where_its_numbers_come_from(tmp_path):
    """The overhead and density figures carry 'measured now on ...' or, for recorded data, 'RECORDED'."""
    from vmcompare import recorded
    cmp, dens = _comparison(), _density()
    fig = report.overhead_figure(cmp)
    assert fig.axes[0].get_title().split("\n")[1].startswith("measured now on ")
    assert "VM accelerator TCG" in fig.axes[0].get_title()
    back = recorded.load(recorded.dump(tmp_path / "r.json", cmp, dens, machine="box", date="2026-11-27"))
    title = report.overhead_figure(back.comparison).axes[0].get_title()
    assert "RECORDED: measured on" in title and "not measured on your machine" in title
    assert density.figure(back.density, host_ram_mib=24 * 1024)._suptitle.get_text().startswith("RECORDED")
    assert density.figure(dens, host_ram_mib=24 * 1024)._suptitle.get_text().startswith("measured now")
