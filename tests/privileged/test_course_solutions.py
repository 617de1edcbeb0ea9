"""The exercises can be done: each converted chapter, run with the worked answers of
notebooks/solutions/ in place of its starters, gets 'done' from every self-check.

nbval runs the chapters with their starters, whose checks say 'not done yet' (the committed
outputs; tests/unit/test_course_helper.py checks that); this test is the other half, so a
check that no answer can satisfy fails too. Each chapter is executed once with nbclient, with
the ``# <- change me`` lines replaced, its progress recorded in a temporary folder, and
``minicontainer course check NN`` must then exit 0. The chapters clean up after themselves;
the host-wide census (mounts, cgroups, veths) must not grow.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from census import host_veths, minicontainer_cgroups, wait_for

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: chapter -> {starter variable: the worked answer's value, as Python source}
SOLUTIONS = {
    "00": {"my_hostname": '"lab00"', "predicted_same": '"osrelease"',
           "missing_here": "[name for name in ch.needs if not by_name[name].ok]"},
    "01": {"ex_hostname": '"db"', "predicted_shared": '{"user"}',
           "script": "\"trap 'exit 3' TERM; while :; do sleep 0.1; done\"", "predicted_exit_code": "3"},
    "02": {"my_kinds": '["uts", "pid"]', "predicted_changed": '{"uts", "pid_for_children"}',
           "variant": 'dict(OPTS, workdir="/tmp")', "predicted_calls": '{"chdir"}'},
    "03": {"my_pids": "10", "predicted_forks": "9", "limit_mib": "64", "predicted_killed": "True"},
    "04": {"change": "\"mkdir -p /srv && echo 'my page' > /srv/index.html && rm /bin/vi\"",
           "predicted_layers": "2", "predicted_shared": "1", "order": '["green", "blue"]', "predicted_visible": "True"},
    "05": {"my_step": "'RUN echo \"build 1\" > /build-id'", "predicted_rebuilt": "{5, 6, 7}",
           "predict_layer": "False", "cleanup": '"apt-get clean && rm -rf /var/lib/apt/lists/*"'},
    "07": {"drop": '["DAC_OVERRIDE"]', "predicted_errno": '"EACCES"', "blocked": '["mkdir"]',
           "predicted_call": '"mkdir"'},
}


def answered(nb, answers: dict[str, str]):
    """The notebook with each ``NAME = ...  # <- change me`` line set to the answer's value."""
    left = dict(answers)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue

        def put(m):
            name = m.group(2)
            if name not in left:
                return m.group(0)
            return f"{m.group(1)}{name} = {left.pop(name)}  # <- change me"
        cell.source = re.sub(r"^(\s*)(\w+) = .*# <- change me.*$", put, cell.source, flags=re.M)
    assert not left, f"no starter line for {sorted(left)}"
    return nb


def _own_mounts() -> list[str]:
    return [line for line in open("/proc/self/mountinfo").read().splitlines() if "/mc-nb" in line or "/ch04-" in line]


@pytest.mark.parametrize("chapter", sorted(SOLUTIONS))
def test_the_worked_answers_pass_every_check(chapter, tmp_path, monkeypatch):
    path = next(NOTEBOOKS.glob(f"{chapter}-*.ipynb"))
    nb = answered(nbformat.read(path, as_version=4), SOLUTIONS[chapter])
    progress = tmp_path / "progress"
    monkeypatch.setenv("MINICONTAINER_COURSE_DIR", str(progress))     # the kernel inherits it
    veths, cgroups = set(host_veths()), set(minicontainer_cgroups())
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    verdicts = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells
                if cell.cell_type == "code" and "course.check(" in cell.source]
    assert verdicts and all(": done. Observed:" in v for v in verdicts), verdicts
    res = subprocess.run([str(Path(sys.executable).parent / "minicontainer"), "course", "check", chapter,
                          "--dir", str(progress), "--notebooks", str(NOTEBOOKS)], capture_output=True, text=True)
    assert res.returncode == 0 and "every exercise done" in res.stdout, res.stdout + res.stderr
    assert not _own_mounts()
    assert wait_for(lambda: set(host_veths()) <= veths and set(minicontainer_cgroups()) <= cgroups, 10.0), \
        (set(host_veths()) - veths, set(minicontainer_cgroups()) - cgroups)
