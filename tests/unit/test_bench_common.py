"""Unit tests of bench/_common.py: statistics, report lines, ordering, the wrapper, the bundle
config and the importtime parser. No root needed; kernel files are faked under tmp_path."""

import importlib.util
import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from minicontainer import paths
from minicontainer.errors import MiniContainerError

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name, filename):
    spec = importlib.util.spec_from_file_location(name, BENCH / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module      # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bc = _load("bench_common", "_common.py")


# --- statistics ----------------------------------------------------------------------------

def test_median_odd_even_and_single():
    assert bc.median([3.0, 1.0, 2.0]) == 2.0
    assert bc.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert bc.median([7.0]) == 7.0


def test_quantile_interpolates_like_numpy_type_7():
    xs = [1.0, 2.0, 3.0, 4.0]
    assert bc.quantile(xs, 0.0) == 1.0
    assert bc.quantile(xs, 1.0) == 4.0
    assert bc.quantile(xs, 0.25) == pytest.approx(1.75)
    assert bc.quantile(xs, 0.75) == pytest.approx(3.25)


def test_statistics_refuse_bad_input():
    with pytest.raises(bc.BenchError, match="no samples"):
        bc.median([])
    with pytest.raises(bc.BenchError, match="outside 0..1"):
        bc.quantile([1.0], 1.5)
    with pytest.raises(bc.BenchError):
        bc.ratio(1.0, 0.0)
    with pytest.raises(bc.BenchError, match="unpaired"):
        bc.paired_ratios([1.0, 2.0], [1.0])
    assert issubclass(bc.BenchError, MiniContainerError)


def test_summary_and_paired_ratios():
    s = bc.Summary.of("x", [0.010, 0.030, 0.020, 0.500])
    assert (s.n, s.median, s.minimum) == (4, pytest.approx(0.025), 0.010)
    assert s.p25 <= s.median <= s.p75
    assert bc.paired_ratios([2.0, 3.0], [1.0, 6.0]) == [2.0, 0.5]


def test_one_outlier_does_not_move_the_median():
    base = [0.02] * 29
    assert bc.median(base + [0.3]) == bc.median(base + [0.02])


# --- report lines --------------------------------------------------------------------------

def test_ratio_line_format_and_round_trip():
    line = bc.ratio_line("minicontainer", "runc", 0.8467)
    assert line == "minicontainer/runc = 0.85x"
    text = "\n".join(["header", line, bc.ratio_line("minicontainer", "unshare", 12.0),
                      "minicontainer/crun = n/a", "target: minicontainer/runc <= 0.90x: met (0.85x)"])
    assert bc.parse_ratio_lines(text) == {("minicontainer", "runc"): 0.85, ("minicontainer", "unshare"): 12.0}


def test_format_ms():
    assert bc.format_ms(0.0173) == "17.3 ms"
    assert bc.format_ms(0.1) == "100.0 ms"


# --- ordering and the paired loop ----------------------------------------------------------

def test_round_order_puts_everyone_everywhere_and_changes_neighbours():
    names = ["a", "b", "c", "d"]
    positions = {n: [0] * 4 for n in names}
    followers = set()
    for i in range(8):
        order = bc.round_order(names, i)
        assert sorted(order) == names
        for pos, n in enumerate(order):
            positions[n][pos] += 1
        followers.update(zip(order, order[1:]))
    assert all(counts == [2, 2, 2, 2] for counts in positions.values())
    assert ("a", "b") in followers and ("b", "a") in followers


def test_paired_runs_discards_warmup_and_builds_argv_per_round():
    calls = []

    def fake_timer(argv):
        calls.append(tuple(argv))
        return {"A": 0.1, "B": 0.2}[argv[0]] + int(argv[1]) / 1000

    cmds = {"A": lambda i: ["A", str(i)], "B": lambda i: ["B", str(i)]}
    times = bc.paired_runs(cmds, rounds=3, warmup=2, timer=fake_timer)
    assert len(calls) == 10
    assert [c[0] for c in calls] == ["A", "B", "B", "A", "B", "A", "A", "B", "A", "B"]
    assert times["A"] == pytest.approx([0.102, 0.103, 0.104])
    assert times["B"] == pytest.approx([0.202, 0.203, 0.204])


def test_paired_runs_refuses_bad_counts_and_propagates_failures():
    with pytest.raises(bc.BenchError, match="at least 1"):
        bc.paired_runs({"A": lambda i: ["A"]}, rounds=0)
    with pytest.raises(bc.BenchError, match="negative"):
        bc.paired_runs({"A": lambda i: ["A"]}, rounds=1, warmup=-1)

    def failing(argv):
        raise bc.BenchError("exit status 1", op="run", path=argv[0])

    with pytest.raises(bc.BenchError, match="exit status 1"):
        bc.paired_runs({"A": lambda i: ["A"]}, rounds=1, timer=failing)


# --- timing real commands (no root needed) ----------------------------------------------------

def test_time_command_measures_and_reports_failures():
    elapsed = bc.time_command(["/bin/sh", "-c", "sleep 0.05"])
    assert 0.05 <= elapsed < 5
    with pytest.raises(bc.BenchError, match="exit status 3: boom"):
        bc.time_command(["/bin/sh", "-c", "echo BOOM >&2; exit 3"])


def test_time_command_kills_the_whole_group_on_timeout(tmp_path):
    pidfile = tmp_path / "pid"
    with pytest.raises(bc.BenchError, match="timed out"):
        bc.time_command(["/bin/sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], timeout=0.5)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = (paths.PROC_ROOT / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail(f"grandchild {pid} survived the timeout")


# --- the machine and its mounts -----------------------------------------------------------

def _fake_proc(tmp_path, mountpoints):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "cpuinfo").write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: Test CPU 9000\n")
    (proc / "sys" / "kernel" / "osrelease").write_text("6.1.0-test\n")
    lines = [f"{20 + i} 1 0:{i} / {m} rw,relatime shared:1 - tmpfs tmpfs rw" for i, m in enumerate(mountpoints)]
    (proc / "self" / "mountinfo").write_text("\n".join(lines) + "\n")
    return proc


def test_machine_info_reads_the_given_proc_root(tmp_path):
    info = bc.machine_info(_fake_proc(tmp_path, ["/"]))
    assert info["cpu"] == "Test CPU 9000"
    assert info["kernel"] == "Linux 6.1.0-test"
    assert int(info["cores"]) >= 1


def test_mount_points_unescape_and_mounts_under(tmp_path):
    proc = _fake_proc(tmp_path, ["/", "/srv/a\\040b", "/srv/abc", "/srv/ab/x"])
    assert bc.mount_points(proc) == ["/", "/srv/a b", "/srv/abc", "/srv/ab/x"]
    assert bc.mounts_under(Path("/srv/ab"), proc) == ["/srv/ab/x"]
    assert bc.mounts_under(Path("/srv/abc"), proc) == ["/srv/abc"]


def test_wrapper_unmounts_cgroup2_only_when_hybrid(tmp_path):
    cg = tmp_path / "cgroup"
    hybrid = bc.cgroup_wrapper("unshare", "/bin/sh", cg, _fake_proc(tmp_path / "h", ["/", str(cg / "unified")]))
    assert hybrid.prefix[:4] == ("unshare", "-m", "/bin/sh", "-c")
    assert hybrid.prefix[4] == f'umount {cg / "unified"} && exec "$@"'
    assert "crun refuses" in hybrid.note
    plain = bc.cgroup_wrapper("unshare", "/bin/sh", cg, _fake_proc(tmp_path / "p", ["/", str(cg)]))
    assert plain.prefix[4] == 'exec "$@"'
    assert plain.wrap(["runc", "run"]) == ["unshare", "-m", "/bin/sh", "-c", 'exec "$@"', "sh", "runc", "run"]


def test_wrapper_script_passes_arguments_through_unchanged():
    import subprocess
    w = bc.Wrapper(("/bin/sh", "-c", 'exec "$@"', "sh"), "")
    out = subprocess.run(w.wrap(["printf", "%s|", "a b", "$HOME", "c'd"]), capture_output=True, text=True)
    assert out.stdout == "a b|$HOME|c'd|"


# --- the OCI bundle ------------------------------------------------------------------------

STARTER = {
    "ociVersion": "1.0.2-dev",
    "process": {"terminal": True, "args": ["sh"], "cwd": "/"},
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "linux": {"namespaces": [{"type": "pid"}, {"type": "user"}, {"type": "mount"}],
              "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
              "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
}


def test_edit_spec_sets_args_root_and_namespaces_without_touching_the_input(tmp_path):
    before = json.dumps(STARTER, sort_keys=True)
    out = bc.edit_spec(STARTER, tmp_path / "layer", ["/bin/true"])
    assert json.dumps(STARTER, sort_keys=True) == before
    assert out["process"]["args"] == ["/bin/true"] and out["process"]["terminal"] is False
    assert out["root"] == {"path": str(tmp_path / "layer"), "readonly": True}
    assert [n["type"] for n in out["linux"]["namespaces"]] == ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert "uidMappings" not in out["linux"] and "gidMappings" not in out["linux"]


def _fake_runc(tmp_path, body):
    runc = tmp_path / "fake-runc"
    runc.write_text("#!/bin/sh\n" + body)
    runc.chmod(runc.stat().st_mode | stat.S_IXUSR)
    return str(runc)


def test_make_bundle_edits_what_runc_spec_wrote(tmp_path):
    runc = _fake_runc(tmp_path, f"echo '{json.dumps(STARTER)}' > \"$3/config.json\"\n")
    config = bc.make_bundle(tmp_path / "bundle", tmp_path / "layer", runc)
    data = json.loads(config.read_text())
    assert data["process"]["args"] == ["/bin/true"]
    assert data["root"]["path"] == str(tmp_path / "layer")
    assert sorted(os.listdir(tmp_path / "bundle")) == ["config.json"]


def test_make_bundle_failure_is_one_clear_error_and_leaves_no_config(tmp_path):
    runc = _fake_runc(tmp_path, "echo 'File Exists' >&2; exit 1\n")
    with pytest.raises(bc.BenchError, match="runc spec: .*file exists"):
        bc.make_bundle(tmp_path / "bundle", tmp_path / "layer", runc)
    assert os.listdir(tmp_path / "bundle") == []


@pytest.mark.skipif(not any(os.access(p, os.X_OK) for p in ("/usr/sbin/runc", "/usr/bin/runc")),
                    reason="runc is not installed")
def test_make_bundle_with_the_real_runc_spec(tmp_path):
    runc = next(p for p in ("/usr/sbin/runc", "/usr/bin/runc") if os.access(p, os.X_OK))
    config = bc.make_bundle(tmp_path / "bundle", tmp_path / "layer", runc)
    data = json.loads(config.read_text())
    assert data["process"]["terminal"] is False
    assert {"type": "cgroup"} in data["linux"]["namespaces"]


def test_tool_version_of_a_missing_tool():
    assert bc.tool_version(["/nonexistent/runc", "--version"]).startswith("unknown")


# --- python -X importtime ------------------------------------------------------------------

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:      2092 |       4233 |         hmac
container said hello
import time:       171 |      42005 | minicontainer.runtime
import time:        50 |         50 | psutil._common
import time:        60 |         60 |     jupyter_core.paths
import time:        70 |         70 | pyroute2x
"""


def test_parse_importtime_reads_times_and_depth():
    recs = bc.parse_importtime(IMPORTTIME)
    assert [r.module for r in recs] == ["_io", "hmac", "minicontainer.runtime", "psutil._common",
                                        "jupyter_core.paths", "pyroute2x"]
    assert (recs[1].self_us, recs[1].cumulative_us, recs[1].depth) == (2092, 4233, 4)
    assert (recs[2].depth, recs[0].depth) == (0, 1)


def test_forbidden_imports_match_packages_and_prefixes():
    recs = bc.parse_importtime(IMPORTTIME)
    assert bc.forbidden_imports(recs, ["pyroute2", "psutil", "jupyter*", "IPython"]) == \
        ["jupyter_core.paths", "psutil._common"]
    assert bc.forbidden_imports(recs[:3], ["pyroute2", "psutil", "jupyter*"]) == []


# --- the start-latency script's own guard ---------------------------------------------------

def test_start_latency_refuses_a_shim_interpreter(tmp_path):
    sl = _load("bench_start_latency", "start_latency.py")
    shim = tmp_path / "script"
    shim.write_text("#!/root/.pyenv/shims/python3\nprint()\n")
    with pytest.raises(MiniContainerError, match="shim"):
        sl.script_interpreter(str(shim))
    good = tmp_path / "good"
    good.write_text(f"#!{sys.executable}\n")
    assert sl.script_interpreter(str(good)) == sys.executable


def test_start_latency_contenders_share_the_wrapper_and_use_fresh_ids(tmp_path):
    import subprocess
    sl = _load("bench_start_latency", "start_latency.py")
    w = bc.Wrapper(("unshare", "-m", "/bin/sh", "-c", 'exec "$@"', "sh"), "")
    tools = {"minicontainer": "/v/bin/minicontainer", "runc": "/usr/sbin/runc", "crun": "/usr/bin/crun",
             "unshare": "/usr/bin/unshare", "chroot": "/usr/sbin/chroot"}
    runs = sl.contenders(tools, tmp_path, tmp_path / "state", tmp_path / "layer", tmp_path / "bundle", w,
                         sys.executable, ["json", "no_such_module_xyz"])
    assert list(runs)[:4] == ["minicontainer", "runc", "crun", "unshare"]
    argvs = {name: build(0) for name, build in runs.items()}
    assert all(argv[:6] == list(w.prefix) for argv in argvs.values())
    assert argvs["minicontainer"][6:] == ["/v/bin/minicontainer", "--root", str(tmp_path / "state"), "run",
                                          "--rm", "--network", "none", "busybox", "/bin/true"]
    assert runs["runc"](0)[-1] != runs["runc"](1)[-1] != runs["crun"](1)[-1]
    assert argvs["unshare"][6:] == ["/usr/bin/unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net",
                                    "/usr/sbin/chroot", str(tmp_path / "layer"), "/bin/true"]
    floor = argvs[sl.FLOOR_REF][6:]
    assert floor[:2] == [sys.executable, "-c"] and "import python_floor" in floor[2]
    assert floor[3:] == [str(tmp_path / "floor"), str(tmp_path / "layer"), str(paths.CGROUP_ROOT),
                         str(paths.PROC_ROOT)]
    res = subprocess.run([sys.executable, "-c", floor[2]], capture_output=True, text=True)
    assert res.returncode == 2 and "usage: python_floor.py" in res.stderr     # the launcher finds it
    importer = argvs[sl.IMPORTS_REF][-1]
    res = subprocess.run([sys.executable, "-c", importer + "import sys\nprint('json' in sys.modules)\n"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "True", res.stderr
