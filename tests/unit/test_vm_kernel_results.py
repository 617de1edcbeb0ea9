"""Guest-kernel fetching with a fake apt-get (real .deb files built by dpkg-deb), statistics,
the results database and its exports, the sample set, and the CLI's thin commands."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from minicontainer.errors import MiniContainerError
from vmcompare import cli, guestkernel, results
from vmcompare.measure import Series, Trial, percentile, summarise

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu)")


def _deb(tmp: Path, name: str, files: dict[str, bytes], depends: str = "") -> Path:
    root = tmp / f"pkg-{name}"
    (root / "DEBIAN").mkdir(parents=True)
    control = f"Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: test\n"
    if depends:
        control += f"Depends: {depends}\n"
    (root / "DEBIAN/control").write_text(control)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    out = tmp / f"{name}_1.0_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """A fake apt-get on PATH: 'download' fails until 'update' ran once, then copies our debs."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _deb(repo, "linux-image-cloud-amd64", {}, depends="linux-image-9.9.0-1-cloud-amd64 (= 1.0)")
    _deb(repo, "linux-image-9.9.0-1-cloud-amd64", {
        "boot/vmlinuz-9.9.0-1-cloud-amd64": b"KERNEL",
        "boot/config-9.9.0-1-cloud-amd64": b"CONFIG_9P_FS=m\n",
        "lib/modules/9.9.0-1-cloud-amd64/kernel/fs/9p/9p.ko": b"\x7fELF",
        "lib/modules/9.9.0-1-cloud-amd64/kernel/sound/snd.ko": b"\x7fELF",
        "lib/modules/9.9.0-1-cloud-amd64/modules.builtin": b""})
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.log"
    (bindir / "apt-get").write_text(f"""#!/bin/sh
shift  # -q
echo "$@" >> {calls}
case "$1" in
  update) touch {tmp_path}/updated ;;
  download) [ -e {tmp_path}/updated ] || {{ echo "E: Unable to locate package $2" >&2; exit 100; }}
            cp {repo}/"$2"_*.deb . ;;
esac
""")
    (bindir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return calls


def test_fetch_kernel_updates_once_resolves_metapackage_and_is_idempotent(fake_apt, tmp_path):
    build = tmp_path / "build"
    messages = []
    k = guestkernel.fetch_kernel("cloud", build_dir=build, log=messages.append)
    assert k.release == "9.9.0-1-cloud-amd64" and k.vmlinuz.read_bytes() == b"KERNEL"
    assert (k.modules_dir / "kernel/fs/9p/9p.ko").exists()
    assert not (k.modules_dir / "kernel/sound").exists()          # pruned
    assert fake_apt.read_text().splitlines() == [
        "download linux-image-cloud-amd64", "update", "download linux-image-cloud-amd64",
        "download linux-image-9.9.0-1-cloud-amd64"]
    assert any("apt-get update" in m for m in messages)
    assert sorted(p.name for p in (build / "guest").iterdir()) == ["cloud"]   # no temp dirs left
    before = fake_apt.read_text()
    again = guestkernel.fetch_kernel("cloud", build_dir=build, log=messages.append)
    assert again == k and fake_apt.read_text() == before              # cached: apt-get not run
    assert guestkernel.find_kernel(None, "cloud", build) == k
    assert guestkernel.find_kernel(k.vmlinuz).modules_dir == k.modules_dir   # --kernel PATH


def test_fetch_failure_leaves_nothing_behind(fake_apt, tmp_path):
    build = tmp_path / "build"
    with pytest.raises(MiniContainerError, match="apt-get download linux-image-amd64 failed"):
        guestkernel.fetch_kernel("generic", build_dir=build, log=lambda *_: None)  # not in the fake repo
    assert list((build / "guest").iterdir()) == []
    with pytest.raises(MiniContainerError, match="unknown kernel flavour"):
        guestkernel.fetch_kernel("rt", build_dir=build)
    with pytest.raises(MiniContainerError, match="vmcompare fetch-kernel"):
        guestkernel.find_kernel(None, "cloud", tmp_path / "empty")
    with pytest.raises(MiniContainerError, match="no such kernel"):
        guestkernel.find_kernel(tmp_path / "nope")


def test_percentiles_and_summary():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert percentile(list(range(101)), 5) == pytest.approx(5)
    s = summarise([0.3, 0.1, 0.2])
    assert s == {"n": 3, "median": 0.2, "p5": pytest.approx(0.11), "p95": pytest.approx(0.29), "min": 0.1}
    assert summarise([]) == {"n": 0}
    with pytest.raises(MiniContainerError):
        percentile([], 50)


def _series() -> Series:
    phases = {"qemu_exec": 0.0, "first_byte": 0.4, "linux_version": 0.4, "run_init": 1.5, "init_marker": 1.6,
              "exit": 1.7}
    return Series("vm-boot", {"accel": "tcg", "machine": "pc", "date": "2026-11-27T00:00:00+00:00",
                              "cpu_model": "Test CPU", "memory_mib": 256}, [
        Trial("ok", 1.7, phases, {"run_init": 1.2}, 1.25, 200 << 20, 190 << 20, 223632, 200000),
        Trial("hang", error="console silent"),
        Trial("ok", 1.9, {**phases, "exit": 1.9}, {}, None, None, None, None, None)])


def test_store_roundtrip_and_failures_have_no_timings(tmp_path):
    with results.ResultStore(tmp_path / "r.sqlite") as store:
        run_id = store.save(_series())
        back = store.load(run_id)
        assert [t.status for t in back.trials] == ["ok", "hang", "ok"]
        assert back.trials[1].total_s is None and back.trials[1].phases == {}
        assert back.values() == [1.7, 1.9] and back.values("run_init") == [1.5, 1.5]
        assert back.trials[0].rss_bytes == 200 << 20 and back.trials[0].kernel_printk == {"run_init": 1.2}
        assert store.latest("vm-boot", accel="tcg").labels["cpu_model"] == "Test CPU"
        assert store.latest("vm-boot", accel="kvm") is None
        with pytest.raises(MiniContainerError):
            store.load(999)
        csv_text = store.to_csv()
        assert csv_text.splitlines()[0].startswith("run_id,kind,source,date,host_kernel")
        assert len(csv_text.splitlines()) == 4 and ",hang," in csv_text
        exported = store.to_json()
    with results.ResultStore() as other:
        (new_id,) = other.import_json(exported, source="sample")
        again = other.load(new_id)
        assert again.labels["source"] == "sample" and again.values() == [1.7, 1.9]


def test_sample_set_is_labelled_and_used_only_without_qemu(tmp_path):
    store, note = results.open_results(tmp_path, qemu_available=False)
    with store:
        runs = store.runs()
        assert runs and all(r["source"] == "sample" for r in runs)
        kinds = {r["kind"] for r in runs}
        assert kinds == {"vm-boot", "container-start"}
        for r in runs:
            for key in ("host_kernel", "cpu_model", "cores", "date"):
                assert r["labels"].get(key), key
        vm = store.latest("vm-boot")
        assert vm.values() and vm.labels["accel"] in ("tcg", "kvm")
    assert "SAMPLE" in note and "not on this machine" in note
    store, note = results.open_results(tmp_path, qemu_available=True)
    with store:
        assert store.runs() == [] and "measured" in note


def test_cli_results_and_fetch_quiet(tmp_path, monkeypatch, capsys, fake_apt):
    monkeypatch.setenv("MINICONTAINER_BUILD", str(tmp_path / "b"))
    with results.ResultStore(results.db_path()) as store:
        store.save(_series())
    assert cli.main(["results", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"][0]["labels"]["accel"] == "tcg"
    assert cli.main(["results"]) == 0
    assert "vm-boot" in capsys.readouterr().out
    assert cli.main(["fetch-kernel", "--quiet", "--flavour", "cloud"]) == 0
    assert cli.main(["fetch-kernel", "--quiet", "--flavour", "cloud"]) == 0
    assert capsys.readouterr().out == ""                       # --quiet prints nothing
    assert cli.main(["boot", "--trials", "0", "--no-save", "--accel", "tcg"]) == 125
    assert "trials must be at least 1" in capsys.readouterr().err
    assert cli.main(["boot", "--machine", "isapc"]) == 2


def test_figures_draw_what_was_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    pytest.importorskip("matplotlib")
    from vmcompare import plot
    vms = _series()
    containers = Series("container-start", {}, [Trial("ok", 0.1), Trial("ok", 0.12), Trial("failed")])
    fig = plot.timeline_figure(vms)
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(plot.SEGMENTS)          # two ok boots, four phases each
    assert "pc / tcg" in ax.get_title()
    fig = plot.compare_figure(containers, vms)
    assert fig.axes[0].get_xscale() == "log"
    fig = plot.memory_figure((40 << 20, 6 << 20), vms)
    heights = sorted(round(p.get_height()) for p in fig.axes[0].patches)
    assert heights == [6, 40, 190, 200]
    fig.savefig(tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000
