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
    cmp = overhead.compare(["cpu"], trials=3, envs=("host", "container", "unconfined"))
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
        overhead.compare(["cpu"], trials=5, envs=("host", "container"))
    assert calls == ["host", "container"]                # stopped at once, nothing measured after it
    lax = overhead.compare(["cpu"], trials=1, envs=("host", "container"), strict=False)
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
        overhead.compare(["cpu"], trials=5, envs=("host",))


def test_the_vm_does_a_given_share_of_the_hosts_work():
    ws = wl.catalogue(["cpu", "memory", "file-read"])
    vm = {w.name: w for w in overhead._vm_sized(ws, {"memory": 0.4, "file-write": 0.25})}
    host = {w.name: w for w in ws}
    assert vm["cpu"].size == host["cpu"].size                       # not named: the host's work
    assert vm["memory"].size == round(host["memory"].size * 0.4)
    assert vm["file-write"].size == 256 and vm["file-read"].chunk == 256 and vm["file-read"].size == 256 * 16
    assert [w.size for w in overhead._vm_sized(ws, 0.5)][:2] == [500, 55]
