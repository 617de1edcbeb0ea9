"""Every chapter gives its objectives and key points in Japanese as well as English (issue 18, deliverable 6).

The trainees read the course next to a Japanese source article, so each chapter follows the shape of
01a and 02a: the first cell's English '## Objectives' list is followed by a '### 目標' section, and
the last cell's English '## Key points' list by a '### まとめ（要点）' section. A Japanese section must
really be Japanese (not an empty heading or English copied under it) and carry as many list items
as the English one it translates, so an objective added in English only is caught. Checked without
running the notebooks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHAPTER = re.compile(r"^\d\d[a-z]?-[a-z0-9-]+\.ipynb$")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")            # kana and kanji
ITEM = re.compile(r"^(?:[-*+]|\d+\.)\s")                          # a top-level list item

# (English heading, Japanese heading, which cell: first or last)
SECTIONS = (("## Objectives", "### 目標", 0), ("## Key points", "### まとめ（要点）", -1))


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _section(lines: list[str], heading: str) -> list[str] | None:
    """The lines under ``heading`` up to the next heading of any level (None if it is not there)."""
    for n, line in enumerate(lines):
        if line.strip() == heading:
            body = []
            for rest in lines[n + 1:]:
                if rest.startswith("#"):
                    break
                body.append(rest)
            return body
    return None


def _items(body: list[str]) -> int:
    return sum(1 for line in body if ITEM.match(line))


def problems(nb: dict) -> list[str]:
    """What is missing from one chapter's Japanese objectives and key points (empty when fine)."""
    cells = nb.get("cells") or []
    if not cells:
        return ["the notebook has no cells"]
    out = []
    for english, japanese, where in SECTIONS:
        cell = cells[where]
        label = "first" if where == 0 else "last"
        if cell.get("cell_type") != "markdown":
            out.append(f"the {label} cell is not markdown")
            continue
        lines = _text(cell).splitlines()
        en, ja = _section(lines, english), _section(lines, japanese)
        if en is None:
            out.append(f"the {label} cell has no '{english}' heading")
            continue
        if ja is None:
            out.append(f"the {label} cell has no '{japanese}' heading")
            continue
        if not any(JAPANESE.search(line) for line in ja if ITEM.match(line)):
            out.append(f"'{japanese}' has no list items in Japanese")
        if _items(ja) != _items(en):
            out.append(f"'{japanese}' has {_items(ja)} items, '{english}' has {_items(en)}")
        english_only = [line for line in ja if ITEM.match(line) and not JAPANESE.search(line)]
        if english_only:
            out.append(f"'{japanese}' has items with no Japanese: {english_only[0].strip()[:60]}")
    return out


def chapter_paths() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if CHAPTER.match(p.name))


def test_there_are_chapters():
    assert len(chapter_paths()) >= 9


@pytest.mark.parametrize("path", chapter_paths(), ids=lambda p: p.name)
def test_chapter_has_japanese_objectives_and_key_points(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert problems(nb) == []


# -- the checker itself must catch what it is there to catch ---------------------------------

def _md(text):
    return {"cell_type": "markdown", "source": text}


FIRST = "# 99 · Title\n\n## Objectives\n\n- learn one\n- learn two\n\n### 目標\n\n- 一つ目を学ぶ。\n- 二つ目を学ぶ。"
LAST = "## Key points\n\n- one\n\n### まとめ（要点）\n\n- 一つ目。"


def test_a_bilingual_chapter_passes():
    assert problems({"cells": [_md(FIRST), _md("text"), _md(LAST)]}) == []


def test_numbered_objectives_count_too():
    first = ("## Objectives\n\nBy the end you can:\n1. build\n2. read\n\nMan pages: `mount(2)`.\n\n"
             "### 目標\n\nこの章を終えると：\n\n1. 組み立てる。\n2. 読む。")
    assert problems({"cells": [_md(first), _md(LAST)]}) == []


def test_an_english_only_chapter_fails():
    found = problems({"cells": [_md("## Objectives\n\n- learn"), _md("## Key points\n\n- one")]})
    assert any("目標" in p for p in found) and any("まとめ" in p for p in found)


def test_a_heading_without_japanese_text_fails():
    first = "## Objectives\n\n- learn\n\n### 目標\n\n- learn"
    assert problems({"cells": [_md(first), _md(LAST)]}) == [
        "'### 目標' has no list items in Japanese", "'### 目標' has items with no Japanese: - learn"]


def test_a_missing_translation_of_one_item_fails():
    first = "## Objectives\n\n- learn one\n- learn two\n\n### 目標\n\n- 一つ目を学ぶ。"
    assert problems({"cells": [_md(first), _md(LAST)]}) == ["'### 目標' has 1 items, '## Objectives' has 2"]


def test_the_japanese_must_be_in_the_first_and_last_cells():
    moved = [_md("## Objectives\n\n- learn"), _md("### 目標\n\n- 学ぶ。"), _md(LAST)]
    assert problems({"cells": moved}) == ["the first cell has no '### 目標' heading"]
