"""doctor: reads the kernel's own answers from a (fake) /proc and cgroup tree."""

import subprocess
from pathlib import Path

from minicontainer.cli.doctor import render
from minicontainer.doctor import CHAPTERS, chapter_readiness, checks


def fake_proc(tmp_path, filesystems="nodev\tproc\nnodev\toverlay\n", ns=("mnt", "uts", "ipc", "net", "pid",
                                                                        "cgroup", "user")):
    proc = tmp_path / "proc"
    (proc / "self" / "ns").mkdir(parents=True)
    for n in ns:
        (proc / "self" / "ns" / n).write_text("")
    (proc / "filesystems").write_text(filesystems)
    cg = tmp_path / "cgroup"
    cg.mkdir()
    (cg / "cgroup.controllers").write_text("cpu memory pids\n")
    (proc / "self" / "mountinfo").write_text(f"30 23 0:26 / {cg} rw - cgroup2 cgroup2 rw\n")
    (proc / "self" / "cgroup").write_text("0::/\n")
    return proc, cg


def by_name(results):
    return {c.name: c for c in results}


def test_a_complete_host(tmp_path):
    proc, cg = fake_proc(tmp_path)
    r = by_name(checks(proc, cg, probe_kvm=False))
    assert r["namespaces"].ok and r["overlayfs"].ok and r["cgroups"].ok
    assert "v2" in r["cgroups"].detail


def test_missing_overlay_and_namespaces_are_reported_with_advice(tmp_path):
    proc, cg = fake_proc(tmp_path, filesystems="nodev\tproc\n", ns=("mnt", "pid"))
    results = checks(proc, cg, probe_kvm=False)
    r = by_name(results)
    assert not r["overlayfs"].ok and r["overlayfs"].advice == "modprobe overlay"
    assert not r["namespaces"].ok and "uts" in r["namespaces"].advice
    text = render(results, chapter_readiness(results))
    assert "MISSING" in text and "TO FIX" in text
    ready = dict((ch.number, missing) for ch, missing in chapter_readiness(results))
    assert "overlayfs" in ready["04"] and ready["00"] == []


def test_no_cgroup_filesystem(tmp_path):
    proc, cg = fake_proc(tmp_path)
    (proc / "self" / "mountinfo").write_text("")
    r = by_name(checks(proc, tmp_path / "nothing", probe_kvm=False))
    assert not r["cgroups"].ok


def test_every_chapter_is_listed():
    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    numbers = sorted(p.name.split("-", 1)[0] for p in notebooks.glob("[0-9][0-9]*-*.ipynb"))
    assert [c.number for c in CHAPTERS] == numbers


def test_cli_exit_code_follows_required_checks(cli):
    res = subprocess.run([cli, "doctor", "--no-kvm-probe"], capture_output=True, text=True, timeout=60)
    results = checks(probe_kvm=False)
    failing = [c.name for c in results if not c.ok and c.required]
    assert res.returncode == (1 if failing else 0), res.stdout
    assert "CHAPTERS" in res.stdout and "08  containers vs VMs" in res.stdout


def test_uidmap_helpers_are_optional_and_named(tmp_path, monkeypatch):
    import minicontainer.doctor as doctor
    proc, cg = fake_proc(tmp_path)
    monkeypatch.setattr(doctor.shutil, "which", lambda name, *a, **k: None if name == "newgidmap" else f"/x/{name}")
    r = by_name(checks(proc, cg, probe_kvm=False))
    assert not r["uidmap"].ok and not r["uidmap"].required and r["uidmap"].advice == "apt-get install uidmap"
    assert "one uid only" in r["uidmap"].detail
    monkeypatch.setattr(doctor.shutil, "which", lambda name, *a, **k: f"/x/{name}")
    assert by_name(checks(proc, cg, probe_kvm=False))["uidmap"].ok
