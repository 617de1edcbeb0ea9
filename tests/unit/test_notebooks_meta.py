"""The course chapters keep their shape: notebooks/NN-topic.ipynb, checked without running them.

Each chapter opens with an Objectives cell and closes with a Key points cell (the
Carpentries episode shape), and is committed *executed*: nbval compares only cells that
have an execution count, so an unexecuted code cell would silently check nothing, and an
error output means the committed run failed. Execution counts must rise from top to
bottom: the outputs come from one clean run, not from cells re-run out of order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHAPTER = re.compile(r"^\d\d[a-z]?-[a-z0-9-]+\.ipynb$")          # NN-topic, or NNa-topic after NN
REQUIRED = ("00-preflight.ipynb", "02-namespaces.ipynb")


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _has_heading(cell: dict, heading: str) -> bool:
    return cell.get("cell_type") == "markdown" and any(
        line.strip() == heading for line in _text(cell).splitlines())


def problems(nb: dict) -> list[str]:
    """Everything wrong with one chapter notebook (an empty list when it is fine)."""
    cells = nb.get("cells") or []
    if not cells:
        return ["the notebook has no cells"]
    out = []
    if not _has_heading(cells[0], "## Objectives"):
        out.append("the first cell is not a markdown cell with a '## Objectives' heading")
    if not _has_heading(cells[-1], "## Key points"):
        out.append("the last cell is not a markdown cell with a '## Key points' heading")
    last_count = 0
    for n, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or not _text(cell).strip():
            continue
        count = cell.get("execution_count")
        if count is None:
            out.append(f"code cell {n} was not executed")
            continue
        if count <= last_count:
            out.append(f"code cell {n} ran out of order (execution count {count} after {last_count})")
        last_count = count
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                out.append(f"code cell {n} has an error output: {output.get('ename')}: {output.get('evalue')}")
    return out


def chapter_paths() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if CHAPTER.match(p.name))


def test_required_chapters_exist():
    names = {p.name for p in chapter_paths()}
    missing = [name for name in REQUIRED if name not in names]
    assert not missing, f"missing chapters: {missing}"


@pytest.mark.parametrize("path", chapter_paths(), ids=lambda p: p.name)
def test_chapter_shape(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert problems(nb) == []


# -- the checker itself must catch what it is there to catch ---------------------------------

def _md(text):
    return {"cell_type": "markdown", "source": text}


def _code(count, outputs=(), text="print(1)"):
    return {"cell_type": "code", "source": text, "execution_count": count, "outputs": list(outputs)}


GOOD = [_md("# 99 · Title\n\n## Objectives\n\n- learn"), _code(1), _md("text"), _code(2), _md("## Key points\n- x")]


def test_a_good_notebook_passes():
    assert problems({"cells": GOOD}) == []


def test_a_notebook_without_cells_fails():
    assert problems({"cells": []}) == ["the notebook has no cells"]


def test_missing_objectives_and_key_points_are_reported():
    nb = {"cells": [_md("# Title only"), _code(1), _md("## Summary")]}
    found = problems(nb)
    assert any("Objectives" in p for p in found) and any("Key points" in p for p in found)


def test_headings_must_be_in_markdown_not_code():
    nb = {"cells": [_code(1, text="## Objectives"), _code(2, text="## Key points")]}
    assert len(problems(nb)) == 2


def test_an_unexecuted_code_cell_is_reported():
    cells = GOOD[:3] + [_code(None)] + GOOD[4:]
    assert problems({"cells": cells}) == ["code cell 3 was not executed"]


def test_an_empty_code_cell_may_stay_unexecuted():
    cells = GOOD[:3] + [_code(None, text="  \n")] + GOOD[3:]
    assert problems({"cells": cells}) == []


def test_an_error_output_is_reported():
    err = {"output_type": "error", "ename": "KernelError", "evalue": "unshare: operation not permitted (EPERM)",
           "traceback": []}
    cells = GOOD[:3] + [_code(2, [err])] + GOOD[4:]
    assert problems({"cells": cells}) == [
        "code cell 3 has an error output: KernelError: unshare: operation not permitted (EPERM)"]


def test_cells_run_out_of_order_are_reported():
    cells = [GOOD[0], _code(5), _md("x"), _code(3), GOOD[-1]]
    assert problems({"cells": cells}) == ["code cell 3 ran out of order (execution count 3 after 5)"]


def test_only_numbered_chapters_are_checked(tmp_path):
    assert CHAPTER.match("02-namespaces.ipynb")
    assert CHAPTER.match("01a-the-docker-host.ipynb")        # a chapter inserted after 01
    assert not CHAPTER.match("01ab-two-letters.ipynb")
    assert not CHAPTER.match("scratch.ipynb")
    assert not CHAPTER.match("02-namespaces-checkpoint.ipynb.bak")
