"""nbval runs of the chapters: their self-checks record progress (notebooks/course.py) in a
temporary folder, not in the home of whoever runs the tests."""

from __future__ import annotations

import os
import shutil
import tempfile

_made: list[str] = []


def pytest_configure(config):
    if "MINICONTAINER_COURSE_DIR" not in os.environ:
        _made.append(tempfile.mkdtemp(prefix="mc-course-progress-"))
        os.environ["MINICONTAINER_COURSE_DIR"] = _made[-1]     # the kernels nbval starts inherit it


def pytest_unconfigure(config):
    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("MINICONTAINER_COURSE_DIR", None)
