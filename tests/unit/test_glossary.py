"""docs/glossary.md maps the source article's terms to chapters: every chapter it names must exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_chapter_named_in_the_glossary_exists():
    chapters = {p.name.split("-", 1)[0] for p in (ROOT / "notebooks").glob("[0-9][0-9]*-*.ipynb")}
    rows = [line for line in (ROOT / "docs" / "glossary.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| 日本語")]
    assert len(rows) >= 20
    for row in rows:
        named = re.findall(r"\b\d\d[a-z]?\b", row.rstrip(" |").rsplit("|", 1)[1])
        assert named and set(named) <= chapters, row


def test_the_articles_core_terms_are_there():
    firsts = [line.split("|")[1] for line in (ROOT / "docs" / "glossary.md").read_text().splitlines()
              if line.startswith("| ")]
    for term in ("Dockerホスト", "Dockerイメージ", "Dockerfile", "差分管理", "名前空間", "cgroup", "ユニオンマウント",
                 "ゲストOS", "Hyper-V", "libcontainer", "aufs"):
        assert any(term in cell for cell in firsts), term
