"""scripts/build_course.py: the chapters as a static, offline HTML site (``make course``).

Synthetic chapters are written under tmp_path, rendered with the real nbconvert, and the
pages read back: the table of contents, the previous/next links, embedded figures, and
that no page would fetch anything from the network when opened.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import struct
import sys
import zlib
from pathlib import Path

import pytest

from minicontainer.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_course", ROOT / "scripts" / "build_course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_course"] = module      # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bc = _load_builder()


def _png_1x1() -> str:
    """A real 1x1 PNG, base64 (as matplotlib's inline backend stores figures)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def _notebook(title, objectives, code_cells, executed=True, extra_markdown=None):
    cells = [{"cell_type": "markdown", "id": "objectives", "metadata": {},
              "source": f"# {title}\n\n## Objectives\n\n" + "\n".join(f"- {o}" for o in objectives)}]
    for n, (source, outputs) in enumerate(code_cells, start=1):
        cells.append({"cell_type": "code", "id": f"code-{n}", "metadata": {}, "source": source,
                      "execution_count": n if executed else None, "outputs": outputs if executed else []})
    if extra_markdown:
        cells.append({"cell_type": "markdown", "id": "extra", "metadata": {}, "source": extra_markdown})
    cells.append({"cell_type": "markdown", "id": "key-points", "metadata": {}, "source": "## Key points\n\n- done"})
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}


def _write(folder: Path, name: str, nb: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture
def chapters(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _write(nbdir, "00-hello.ipynb", _notebook(
        "00 · Hello, kernel", ["Read `uname -r`", "Explain a **namespace**,\n  wrapped over two lines"],
        [("print('uts')", [{"output_type": "stream", "name": "stdout", "text": "uts-output-marker\n"}])],
        extra_markdown="Worked answers: [solutions/00-solutions.md](solutions/00-solutions.md), "
                       "[exercise 1](solutions/00-solutions.md#exercise-1-whats-the-kernel)"))
    _write(nbdir, "01-figures.ipynb", _notebook(
        "01 · Figures", ["Draw a plot"],
        [("plot()", [{"output_type": "display_data", "metadata": {},
                      "data": {"image/png": _png_1x1(), "text/plain": "<Figure size 10x10 with 1 Axes>"}}])]))
    _write(nbdir, "02-later.ipynb", _notebook("02 · Not run yet", ["Later"], [("1 + 1", [])], executed=False))
    (nbdir / "README.md").write_text("not a chapter")
    (nbdir / "solutions").mkdir()
    (nbdir / "solutions" / "00-solutions.md").write_text(
        "# Solutions 00\n\n## Exercise 1: what's the kernel?\n\n**Exercise 1.** `uname -r` prints it.\n")
    (nbdir / "scratch.ipynb").write_text("{}")     # not NN-topic: ignored
    return nbdir


def _links(page: str) -> dict[str, str]:
    """rel -> href of the prev/next links (whatever order the attributes come in)."""
    links = {}
    for tag in re.findall(r"<a\b[^>]*>", page):
        rel, href = re.search(r'rel="([^"]+)"', tag), re.search(r'href="([^"]+)"', tag)
        if rel and href:
            links[rel.group(1)] = href.group(1)
    return links


def test_site_has_an_index_and_one_page_per_executed_chapter(chapters, tmp_path):
    out = tmp_path / "site"
    found = bc.render_site(chapters, out)
    assert [c.path.name for c in found] == ["00-hello.ipynb", "01-figures.ipynb", "02-later.ipynb"]
    assert [c.executed for c in found] == [True, True, False]
    assert sorted(p.name for p in out.iterdir()) == ["00-hello.html", "01-figures.html", "index.html", "solutions"]

    index = (out / "index.html").read_text()
    assert re.findall(r'href="([^"]+\.html)"', index) == ["00-hello.html", "01-figures.html"]
    assert "02 · Not run yet" in index and "not executed yet" in index
    # objectives are listed under each chapter, wrapped items joined, inline markdown rendered
    assert "<li>Read <code>uname -r</code></li>" in index
    assert "Explain a <strong>namespace</strong>, wrapped over two lines" in index


def test_pages_link_previous_next_and_contents(chapters, tmp_path):
    out = tmp_path / "site"
    bc.render_site(chapters, out)
    first = (out / "00-hello.html").read_text()
    second = (out / "01-figures.html").read_text()
    assert _links(first) == {"next": "01-figures.html"}
    assert _links(second) == {"prev": "00-hello.html"}     # 02 is not rendered, so no next
    for page in (first, second):
        assert page.count('href="index.html"') == 2          # top and bottom bars
        assert page.count('<nav class="course-nav') == 2
    assert "uts-output-marker" in first                       # outputs are part of the page
    assert "<title>00 · Hello, kernel</title>" in first


def test_pages_load_nothing_from_the_network(chapters, tmp_path):
    out = tmp_path / "site"
    bc.render_site(chapters, out)
    for page in out.glob("*.html"):
        text = page.read_text()
        assert bc.external_assets(text) == [], page.name
        assert "require.min.js" not in text and "MathJax" not in text
    figure = (out / "01-figures.html").read_text()
    assert re.search(r'<img [^>]*src="data:image/png;base64,', figure)


def test_default_nbconvert_template_would_use_cdns_so_the_check_is_needed(chapters):
    # the reason the course template exists: the stock lab template loads require.js from a CDN
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_filename(str(chapters / "00-hello.ipynb"))
    assert any("require" in url for url in bc.external_assets(body))


def test_external_assets_finds_scripts_styles_images_and_imports_but_not_links():
    page = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//cdn.example/a.css">'
            '<img src="http://img.example/p.png"><style>@import url("https://fonts.example/f.css");</style>'
            '<a href="https://man7.org/linux/man-pages/man7/namespaces.7.html">namespaces(7)</a>'
            '<img src="data:image/png;base64,AAAA"><script>var x = 1;</script>')
    assert sorted(bc.external_assets(page)) == sorted([
        "https://cdn.example/x.js", "//cdn.example/a.css", "https://fonts.example/f.css", "http://img.example/p.png"])


def test_a_rebuild_replaces_the_site_whole(chapters, tmp_path):
    out = tmp_path / "site"
    bc.render_site(chapters, out)
    (out / "stale.html").write_text("from an older build")
    (chapters / "01-figures.ipynb").unlink()
    bc.render_site(chapters, out)
    assert sorted(p.name for p in out.iterdir()) == ["00-hello.html", "index.html", "solutions"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []   # no staging left


def test_a_broken_chapter_fails_with_one_line_and_keeps_the_old_site(chapters, tmp_path):
    out = tmp_path / "site"
    bc.render_site(chapters, out)
    before = sorted(p.name for p in out.iterdir())
    (chapters / "03-broken.ipynb").write_text("{ this is not json")
    with pytest.raises(UsageError) as info:
        bc.render_site(chapters, out)
    assert "03-broken.ipynb" in str(info.value) and "invalid json" in str(info.value)
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


def test_missing_folder_and_empty_folder_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such notebooks folder"):
        bc.render_site(tmp_path / "nope", tmp_path / "site")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no chapter notebooks"):
        bc.render_site(tmp_path / "empty", tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_command_line_prints_what_it_did_and_errors_in_one_line(chapters, tmp_path, capsys):
    assert bc.main(["--notebooks", str(chapters), "--out", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out
    assert "00-hello.ipynb" in out and "listed only (not executed yet)" in out
    assert bc.main(["--notebooks", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: find chapters:")


def test_solutions_are_rendered_and_chapters_link_to_the_pages(chapters, tmp_path):
    out = tmp_path / "site"
    bc.render_site(chapters, out)
    page = (out / "solutions" / "00-solutions.html").read_text()
    assert "<strong>Exercise 1.</strong>" in page and "<code>uname -r</code>" in page
    assert 'href="../00-hello.html"' in page and 'href="../index.html"' in page
    chapter = (out / "00-hello.html").read_text()
    assert 'href="solutions/00-solutions.html"' in chapter and 'href="solutions/00-solutions.md' not in chapter
    assert 'href="solutions/00-solutions.html#exercise-1-whats-the-kernel"' in chapter
    assert '<h2 id="exercise-1-whats-the-kernel">' in page            # the anchor it points at exists


def test_a_link_to_a_missing_solution_fails_the_build(chapters, tmp_path):
    (chapters / "solutions" / "00-solutions.md").unlink()
    with pytest.raises(UsageError, match="solutions that do not exist: 00-solutions"):
        bc.render_site(chapters, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_the_real_course_renders_every_solution(tmp_path):
    written = bc.render_solutions(ROOT / "notebooks", tmp_path, [])
    assert sorted(written) == sorted(p.stem for p in (ROOT / "notebooks" / "solutions").glob("*.md"))
    assert len(written) >= 11


# -- drawings shown by markdown cells: ![what it shows](figures/NAME.svg) ------------------------

SVG = ('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
       'width="40" height="20" viewBox="0 0 40 20"><rect width="40" height="20" fill="#dbeafe"/></svg>\n')


def test_a_drawing_referenced_from_markdown_is_carried_in_the_page(chapters, tmp_path):
    (chapters / "figures").mkdir()
    (chapters / "figures" / "map.svg").write_text(SVG)
    _write(chapters, "03-drawn.ipynb", _notebook(
        "03 · Drawn", ["Look"], [("1 + 1", [])],
        extra_markdown="![a map of the lab](figures/map.svg)\n\n**Figure 1:** the map."))
    out = tmp_path / "site"
    bc.render_site(chapters, out)
    page = (out / "03-drawn.html").read_text()
    img = re.search(r'<img [^>]*src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert img, "the SVG is embedded as a data: URI, so the page works from file:// or a USB stick"
    assert base64.b64decode(img.group(1)).decode() == SVG
    assert 'alt="a map of the lab"' in page and "Figure 1:" in page
    assert bc.external_assets(page) == [] and bc.linked_images(page) == []
    assert "figures" not in {p.name for p in out.iterdir()}          # nothing to copy beside the pages


def test_a_drawing_whose_file_is_missing_fails_the_build(chapters, tmp_path):
    _write(chapters, "03-drawn.ipynb", _notebook(
        "03 · Drawn", ["Look"], [("1 + 1", [])], extra_markdown="![gone](figures/nope.svg)"))
    with pytest.raises(UsageError, match=r"images not found beside the chapter: figures/nope\.svg"):
        bc.render_site(chapters, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_linked_images_ignores_embedded_and_network_images():
    page = ('<img src="data:image/svg+xml;base64,AAAA"><img src="https://img.example/p.png">'
            '<img alt="x" src="figures/a.svg"><img src="../b.png"><a href="figures/c.svg">c</a>')
    assert bc.linked_images(page) == ["figures/a.svg", "../b.png"]
