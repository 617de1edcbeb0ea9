"""overhead.compare without root: the paired rounds' order, and a failed series that raises
instead of leaving a hole (or a silent substitute) in the table."""

import pytest

from vmcompare import overhead, workloads as wl


def _fake(env, calls, fail=None):
    def run(workloads, trials, **kw):
        name = "unconfined" if kw.get("seccomp") == "unconfined" else env
        calls.append(name)
        run = overhead.EnvRun(name, {"seccomp": kw.get("seccomp", "default")})
        if name == fail:
            run.error = "container (none) exited 125: cannot start"
            return run
        run.samples = [wl.Sample(w.name, 1, "ok", 1.2, 100.0, cpu_seconds=1.1) for w in workloads]
        return run
    return run


def test_rounds_alternate_and_number_the_trials(monkeypatch):
    calls = []
    monkeypatch.setattr(overhead, "run_host", _fake("host", calls))
    monkeypatch.setattr(overhead, "run_container", _fake("container", calls))
    cmp = overhead.compare(["cpu"], trials=3, envs=("host", "container", "unconfined"), calibrate=False)
    assert calls == ["host", "container", "unconfined", "unconfined", "container", "host",
                     "host", "container", "unconfined"]
    assert [s.trial for s in cmp.runs["container"].samples] == [1, 2, 3]
    assert list(cmp.runs) == ["host", "container", "unconfined"]
    assert overhead.env_heading(cmp, "unconfined") == "container, seccomp=unconfined"


def test_a_failed_container_series_raises(monkeypatch):
    calls = []
    monkeypatch.setattr(overhead, "run_host", _fake("host", calls))
    monkeypatch.setattr(overhead, "run_container", _fake("container", calls, fail="container"))
    with pytest.raises(overhead.MeasurementError, match="the container series failed, no figures: trial 1: "
                                                        "container \\(none\\) exited 125"):
        overhead.compare(["cpu"], trials=5, envs=("host", "container"), calibrate=False)
    assert calls == ["host", "container"]                # stopped at once, nothing measured after it
    lax = overhead.compare(["cpu"], trials=1, envs=("host", "container"), strict=False, calibrate=False)
    assert "FAILED" in overhead.format_table(lax)        # not strict: the failure is in the table, never hidden


def test_a_run_too_short_to_count_raises_too(monkeypatch):
    calls = []

    def short(workloads, trials, **kw):
        calls.append("host")
        return overhead.EnvRun("host", {}, [wl.Sample(w.name, 1, "too-fast", 0.4, None, "ran 0.400 s (cpu clock), "
                                                      "under the 1 s minimum: raise the scale") for w in workloads])
    monkeypatch.setattr(overhead, "run_host", short)
    with pytest.raises(overhead.MeasurementError, match="host series failed, no figures: trial 1: cpu trial 1 "
                                                        "too-fast: ran 0.400 s"):
        overhead.compare(["cpu"], trials=5, envs=("host",), calibrate=False)


def test_the_vm_does_a_given_share_of_the_hosts_work():
    ws = wl.catalogue(["cpu", "memory", "file-read"])
    vm = {w.name: w for w in overhead._vm_sized(ws, {"memory": 0.4, "file-write": 0.25})}
    host = {w.name: w for w in ws}
    assert vm["cpu"].size == host["cpu"].size                       # not named: the host's work
    assert vm["memory"].size == round(host["memory"].size * 0.4)
    assert vm["file-write"].size == 256 and vm["file-read"].chunk == 256 and vm["file-read"].size == 256 * 16
    assert [w.size for w in overhead._vm_sized(ws, 0.5)][:2] == [500, 55]


def test_probe_reads_the_marginal_cost_so_a_fixed_cost_cannot_shrink_the_grown_size(monkeypatch):
    """A workload costing 50 ms once plus 1 ms a unit: the probe says 1 ms a unit (the difference of
    its two runs), not 1 ms plus the fixed cost spread over a few units; grown to 1.6 s it runs >= 1 s."""
    import subprocess
    from types import SimpleNamespace

    from vmcompare import overhead, timer
    from vmcompare import workloads as wl

    def fake_run(argv, **_kw):
        n = int(argv[2])
        cpu = int((0.050 + 0.001 * n) * 1e9)
        return SimpleNamespace(returncode=0, stderr="", stdout=f"@@t work={n} ns={cpu} cpu_ns={cpu} rc=0\n")

    monkeypatch.setattr(timer, "ensure", lambda: "mc-timer")
    monkeypatch.setattr(subprocess, "run", fake_run)
    w = next(x for x in wl.catalogue(None, 1.0) if x.clock == "cpu")
    per = overhead.probe([w])[w.name]
    assert abs(per - 0.001) < 1e-9
    grown = wl.grown([w], {w.name: per}, 1.6)[0]
    assert 0.050 + 0.001 * grown.size >= 1.6


def test_a_grown_size_that_still_runs_short_is_grown_again(monkeypatch):
    """A workload that is dearer per unit in a short run than in a long one (a probe of a few units
    is all fixed costs and noise): the probe's size runs under the 1.3 s floor, so calibrated()
    grows it again from the full-size run, and the size it settles on runs >= 1.3 s."""
    import subprocess
    from types import SimpleNamespace

    from vmcompare import timer

    w = next(x for x in wl.catalogue(None, 1.0) if x.clock == "cpu")

    def cost(n):            # per unit: 0.8/size in a short run, 0.5/size in a long one
        return (0.8 if n < w.size / 2 else 0.5) * n / w.size

    runs = []

    def fake_run(argv, **_kw):
        n = int(argv[2])
        runs.append(n)
        cpu = int(cost(n) * 1e9)
        return SimpleNamespace(returncode=0, stderr="", stdout=f"@@t work={n} ns={cpu} cpu_ns={cpu} rc=0\n")

    monkeypatch.setattr(timer, "ensure", lambda: "mc-timer")
    monkeypatch.setattr(subprocess, "run", fake_run)
    probed = wl.grown([w], overhead.probe([w]), 1.6)[0]
    assert cost(probed.size) < 1.3                      # what the probe alone gave: too short
    runs.clear()
    sized = overhead.calibrated([w])[0]
    assert cost(sized.size) >= 1.3 and sized.size > probed.size
    assert runs[-1] == sized.size and len(runs) == 2 + 2    # probe (2), the short check, the good check
