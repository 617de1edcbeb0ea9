"""Every chapter has pictures to look at, not only text to read (issue 18, deliverable 4).

A figure is either an output of a code cell (a matplotlib PNG, an SVG) or a drawing a markdown
cell shows, ``![what it shows](figures/NAME.svg)``, whose file lives in ``notebooks/figures/``.
Each chapter needs at least two. Every markdown image must point at a file that exists inside
``notebooks/`` (the static site embeds it from there, and JupyterLab shows it from there), and
every drawing in ``notebooks/figures/`` must be a well-formed SVG that a page can carry as it is:
no script, no external font, image or link, no path of the machine it was drawn on. Checked
without running the notebooks.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
FIGURES = NOTEBOOKS / "figures"
CHAPTER = re.compile(r"^\d\d[a-z]?-[a-z0-9-]+\.ipynb$")
MIN_FIGURES = 2
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")   # ![alt](src "title")
HTML_IMAGE = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
# what a drawing must not name: the checkout, or where the files of the machine it was drawn on live
# (temporary folders, home folders); paths inside a container or the kernel's (/proc, /sys/fs/cgroup) are fine
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:(?:tmp|home|work|var/folders)/|Users/\w)|file:"
                          r"|[A-Za-z]:\\(?:Users|Documents and Settings)\\\w")


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def markdown_images(cell: dict) -> list[str]:
    """The image sources a markdown cell shows (markdown syntax or an HTML <img>)."""
    text = _text(cell)
    return [m.group(2) for m in MD_IMAGE.finditer(text)] + HTML_IMAGE.findall(text)


def resolve(src: str, notebooks: Path, cell: dict) -> Path | str | None:
    """Where an image source points: a file inside ``notebooks``, "attachment" for an image the
    cell carries itself, or None when it points nowhere a reader of the course has."""
    if src.startswith("attachment:"):
        return "attachment" if src[len("attachment:"):] in (cell.get("attachments") or {}) else None
    if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE) or src.startswith(("/", "\\", "~")):
        return None                                      # a URL, data: or an absolute path: not the course's file
    path = (notebooks / src).resolve()
    if notebooks.resolve() not in path.parents or not path.is_file():
        return None
    return path


def figures(nb: dict, notebooks: Path) -> list[str]:
    """One line per figure of a chapter: 'cell N: image/png output' or 'cell N: figures/x.svg'."""
    found = []
    for n, cell in enumerate(nb.get("cells") or []):
        if cell.get("cell_type") == "code":
            for output in cell.get("outputs") or []:
                kinds = [k for k in IMAGE_TYPES if k in (output.get("data") or {})]
                if kinds:
                    found.append(f"cell {n}: {kinds[0]} output")
        elif cell.get("cell_type") == "markdown":
            found += [f"cell {n}: {src}" for src in markdown_images(cell) if resolve(src, notebooks, cell)]
    return found


def problems(nb: dict, notebooks: Path) -> list[str]:
    """What is wrong with one chapter's figures (an empty list when it is fine)."""
    out = []
    for n, cell in enumerate(nb.get("cells") or []):
        if cell.get("cell_type") == "markdown":
            out += [f"cell {n}: the image {src} is not a file in notebooks/"
                    for src in markdown_images(cell) if resolve(src, notebooks, cell) is None]
    count = len(figures(nb, notebooks))
    if count < MIN_FIGURES:
        out.append(f"{count} figure{'s' if count != 1 else ''}, at least {MIN_FIGURES} wanted")
    return out


def svg_problems(text: str, checkout: str = str(ROOT)) -> list[str]:
    """What keeps one drawing from being shown as it is, anywhere (empty when it is fine)."""
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as err:
        return [f"not well-formed XML: {err}"]
    out = []
    if root.tag != f"{SVG_NS}svg":
        out.append(f"the root element is {root.tag}, not an SVG <svg>")
    elif not root.get("viewBox"):
        out.append("no viewBox: the drawing cannot scale to the page")
    for el in root.iter():
        tag = el.tag.removeprefix(SVG_NS)
        if tag in ("script", "foreignObject", "image"):
            out.append(f"a <{tag}> element")
        href = el.get("href") or el.get(XLINK_HREF)
        if href and not href.startswith("#"):
            out.append(f"<{tag}> links to {href}")
        if any(name.startswith("on") for name in el.attrib):
            out.append(f"<{tag}> has an event handler")
    if re.search(r"@import|@font-face|url\(\s*['\"]?(?!#)", text):
        out.append("a stylesheet that loads something (@import, @font-face or url())")
    if checkout in text:
        out.append(f"names this checkout ({checkout})")
    machine = MACHINE_PATH.search(text)
    if machine:
        out.append(f"names a path of some machine: {machine.group(0)!r}")
    return out


def chapter_paths() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if CHAPTER.match(p.name))


def drawing_paths() -> list[Path]:
    return sorted(FIGURES.glob("*.svg"))


def test_there_are_chapters_and_drawings():
    assert len(chapter_paths()) >= 9
    assert drawing_paths(), "notebooks/figures/ holds the chapters' drawings"


@pytest.mark.parametrize("path", chapter_paths(), ids=lambda p: p.name)
def test_chapter_has_figures_and_its_images_exist(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert problems(nb, NOTEBOOKS) == [], figures(nb, NOTEBOOKS)


@pytest.mark.parametrize("path", drawing_paths(), ids=lambda p: p.name)
def test_drawing_is_a_self_contained_svg(path):
    assert svg_problems(path.read_text(encoding="utf-8")) == []


def test_every_drawing_is_shown_by_a_chapter():
    shown = set()
    for path in chapter_paths():
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell.get("cell_type") == "markdown":
                shown |= {resolve(src, NOTEBOOKS, cell) for src in markdown_images(cell)}
    unused = [p.name for p in drawing_paths() if p.resolve() not in shown]
    assert not unused, f"drawings no chapter shows (the site would not carry them): {unused}"


# -- the checkers themselves must catch what they are there to catch ------------------------

def _md(text, **extra):
    return {"cell_type": "markdown", "metadata": {}, "source": text, **extra}


def _plot(kind="image/png"):
    return {"cell_type": "code", "execution_count": 1, "source": "plot()",
            "outputs": [{"output_type": "display_data", "metadata": {}, "data": {kind: "AAAA", "text/plain": "<Figure>"}}]}


@pytest.fixture
def course(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.svg").write_text("<svg/>")
    return tmp_path


def test_two_plots_or_a_plot_and_a_drawing_pass(course):
    assert problems({"cells": [_plot(), _plot("image/svg+xml")]}, course) == []
    nb = {"cells": [_md("# 99\n"), _plot(), _md("![the lab](figures/a.svg)\n\n**Figure 2:** the lab.")]}
    assert figures(nb, course) == ["cell 1: image/png output", "cell 2: figures/a.svg"]
    assert problems(nb, course) == []


def test_one_figure_is_not_enough(course):
    assert problems({"cells": [_md("text"), _plot()]}, course) == ["1 figure, at least 2 wanted"]
    assert problems({"cells": [_md("text")]}, course) == ["0 figures, at least 2 wanted"]


def test_a_missing_or_outside_image_is_reported_and_not_counted(course):
    nb = {"cells": [_plot(), _md("![gone](figures/nope.svg) ![up](../x.svg) ![web](https://example.org/x.png)"),
                    _md('<img src="/srv/pictures/b.svg">')]}
    assert problems(nb, course) == [
        "cell 1: the image figures/nope.svg is not a file in notebooks/",
        "cell 1: the image ../x.svg is not a file in notebooks/",
        "cell 1: the image https://example.org/x.png is not a file in notebooks/",
        "cell 2: the image /srv/pictures/b.svg is not a file in notebooks/",
        "1 figure, at least 2 wanted"]


def test_an_attachment_counts_when_the_cell_carries_it(course):
    carried = _md("![pasted](attachment:p.png)", attachments={"p.png": {"image/png": "AAAA"}})
    assert problems({"cells": [_plot(), carried]}, course) == []
    assert problems({"cells": [_plot(), _md("![pasted](attachment:p.png)")]}, course)[0].startswith(
        "cell 1: the image attachment:p.png")


def test_the_chapters_before_the_drawings_had_too_few_figures():
    # the committed chapters 00, 01, 03, 04, 05 and 07 had one matplotlib figure each: one is not enough
    nb = {"cells": [_md("# 03 · Control groups\n\n## Objectives\n- x"), _plot(), _md("## Key points\n- y")]}
    assert problems(nb, NOTEBOOKS) == ["1 figure, at least 2 wanted"]


GOOD_SVG = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 10 10">'
            '<defs><marker id="m"/></defs><style>text { font-family: sans-serif; }</style>'
            '<path d="M0 0" marker-end="url(#m)"/><text>/sys/fs/cgroup/minicontainer</text></svg>')


def test_a_self_contained_svg_passes():
    assert svg_problems(GOOD_SVG, checkout="/nowhere/checkout") == []


@pytest.mark.parametrize("change, problem", [
    (("</svg>", ""), "not well-formed XML"),
    (('viewBox="0 0 10 10"', ""), "no viewBox"),
    (("<text>", '<script>alert(1)</script><text>'), "a <script> element"),
    (("<text>", '<image href="https://example.org/p.png"/><text>'), "a <image> element"),
    (("<text>", '<a href="https://example.org/">x</a><text>'), "<a> links to https://example.org/"),
    (("<text>", '<rect onclick="x()"/><text>'), "<rect> has an event handler"),
    (("font-family: sans-serif;", "font-family: F; } @font-face { src: url(https://f.example/f.woff);"),
     "a stylesheet that loads something"),
    (("/sys/fs/cgroup/minicontainer", "/nowhere/checkout/notebooks"), "names this checkout"),
    (("/sys/fs/cgroup/minicontainer", "/tmp/figwork/a.png"), "names a path of some machine"),
    (("/sys/fs/cgroup/minicontainer", "/home/trainer/notes"), "names a path of some machine"),
    (("/sys/fs/cgroup/minicontainer", r"C:\Users\trainer"), "names a path of some machine"),
])
def test_svg_problems_are_caught(change, problem):
    text = GOOD_SVG.replace(*change)
    assert text != GOOD_SVG
    found = svg_problems(text, checkout="/nowhere/checkout")
    assert any(p.startswith(problem) for p in found), found
