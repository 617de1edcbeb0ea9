"""Render the executed course chapters into a static HTML site, for reading without Jupyter.

    python scripts/build_course.py [--notebooks notebooks] [--out build/course]

(``make course`` runs exactly this.) Each chapter ``notebooks/NN-topic.ipynb`` becomes
``NN-topic.html`` with links to the previous chapter, the next one and the table of
contents; ``index.html`` is the table of contents, with each chapter's objectives.

Only *executed* chapters are rendered: the outputs are the lesson (the real ``--explain``
trace, the measured start times), and a chapter whose code cells were never run would show
code without results. An unexecuted chapter is listed in the index as "not executed yet".

The site works offline, from a USB stick or ``file://``. nbconvert's ``lab`` template
normally pulls three things from a CDN: require.js (only needed by ipywidgets), MathJax
(only needed for ``$...$`` formulas, which the chapters do not use) and mermaid.js (only
for mermaid diagrams). The template below switches all three off; CSS and pygments
styles are inlined by nbconvert, and PNG figures are embedded as ``data:`` URIs, as are the
drawings that markdown cells show (``![what it shows](figures/NAME.svg)``, read from beside
the chapter), so the site needs no ``figures/`` folder. After rendering, every page is
scanned and the build fails if a script, stylesheet or image would still be fetched from
the network, or if an image was left as a link (its file was not found).

The site is written to a temporary folder beside ``--out`` and moved into place only when
every page rendered, so a failed build leaves the previous site (or nothing) behind.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minicontainer.errors import MiniContainerError, UsageError  # noqa: E402

CHAPTER_NAME = re.compile(r"^(\d\d[a-z]?)-([a-z0-9-]+)\.ipynb$")     # NN-topic, or NNa-topic after NN

# A Jinja template layered on nbconvert's "lab" template: no CDN scripts, and a navigation
# bar above and below the chapter. Blocks named here are defined in lab/index.html.j2.
COURSE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block extra_css -%}
<style type="text/css">
nav.course-nav { display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 1em;
  margin: 0 0 1em 0; background: #f3f4f6; border-bottom: 1px solid #d0d4da; font-family: sans-serif; }
nav.course-nav.bottom { margin: 2em 0 0 0; border-top: 1px solid #d0d4da; border-bottom: none; }
nav.course-nav a { text-decoration: none; }
nav.course-nav .disabled { color: #9aa0a6; }
</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.course_nav_top }}
{%- endblock body_header -%}
{%- block body_footer -%}
{{ resources.course_nav_bottom }}
{{ super() }}
{%- endblock body_footer -%}
"""

INDEX_STYLE = """
body { font-family: sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #1f2328; }
h1 { border-bottom: 1px solid #d0d4da; padding-bottom: 0.3em; }
ol.chapters { padding-left: 0; list-style: none; }
ol.chapters > li { margin: 1.2em 0; padding: 0.8em 1em; border: 1px solid #d0d4da; border-radius: 6px; }
.number { color: #57606a; font-weight: bold; margin-right: 0.4em; }
.missing { color: #9aa0a6; }
ul.objectives { margin: 0.4em 0 0 0; color: #3d444d; }
"""


@dataclass
class Chapter:
    """One chapter notebook and what the site needs to know about it."""

    path: Path
    number: str
    title: str
    objectives: list[str] = field(default_factory=list)
    executed: bool = False

    @property
    def page(self) -> str:
        return self.path.stem + ".html"


def _cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _read_notebook(path: Path) -> dict:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"cannot read notebook: {err.strerror.lower()}", op="read chapter", path=path) from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"not a notebook (invalid json: {err})", op="read chapter", path=path) from err
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise UsageError("not a notebook (no cell list)", op="read chapter", path=path)
    return nb


def is_executed(nb: dict) -> bool:
    """True when every non-empty code cell has an execution count (and there is at least one)."""
    code = [c for c in nb["cells"] if c.get("cell_type") == "code" and _cell_text(c).strip()]
    return bool(code) and all(c.get("execution_count") is not None for c in code)


def describe(path: Path, nb: dict) -> Chapter:
    """Title (the first '# ' heading) and objectives (the list under '## Objectives')."""
    number = CHAPTER_NAME.match(path.name).group(1)
    title, objectives = path.stem, []
    for cell in nb["cells"]:
        if cell.get("cell_type") != "markdown":
            continue
        lines = _cell_text(cell).splitlines()
        for n, line in enumerate(lines):
            if line.startswith("# ") and title == path.stem:
                title = line[2:].strip()
            if line.strip() in ("## Objectives", "## Questions", "**Questions**") and not objectives:
                for item in lines[n + 1:]:
                    if item.startswith("#"):
                        break
                    if item.startswith(("- ", "* ")):
                        objectives.append(item[2:].strip())
                    elif objectives and item.startswith("  ") and item.strip():
                        objectives[-1] += " " + item.strip()   # a wrapped list item
        if title != path.stem and objectives:
            break
    return Chapter(path=path, number=number, title=title, objectives=objectives, executed=is_executed(nb))


def find_chapters(notebooks: Path) -> list[tuple[Chapter, dict]]:
    """Every NN-topic.ipynb in ``notebooks``, in chapter order."""
    if not notebooks.is_dir():
        raise UsageError("no such notebooks folder", op="find chapters", path=notebooks)
    found = []
    for path in sorted(notebooks.iterdir()):
        if CHAPTER_NAME.match(path.name):
            nb = _read_notebook(path)
            found.append((describe(path, nb), nb))
    if not found:
        raise UsageError("no chapter notebooks (NN-topic.ipynb) found", op="find chapters", path=notebooks)
    return found


# -- markdown of titles and objectives: only `code`, **bold** and *emphasis* matter here ---------

def inline_markdown(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![*\w])\*([^*]+)\*(?!\*)", r"<em>\1</em>", out)
    return out


def _title_text(chapter: Chapter) -> str:
    """The title without markdown, for link text and <title>."""
    return re.sub(r"[`*]", "", chapter.title)


def navigation(rendered: list[Chapter], i: int, where: str) -> str:
    """The bar with previous / contents / next links for ``rendered[i]``."""
    def link(j: int, arrow_left: bool) -> str:
        if not 0 <= j < len(rendered):
            return '<span class="disabled">{}</span>'.format("&larr; start" if arrow_left else "end &rarr;")
        text = html.escape(_title_text(rendered[j]))
        label = f"&larr; {text}" if arrow_left else f"{text} &rarr;"
        rel = "prev" if arrow_left else "next"
        return f'<a rel="{rel}" href="{html.escape(rendered[j].page)}">{label}</a>'
    return (f'<nav class="course-nav {where}">{link(i - 1, True)}'
            f'<a href="index.html">Contents</a>{link(i + 1, False)}</nav>')


def index_page(chapters: list[Chapter], title: str) -> str:
    items = []
    for ch in chapters:
        heading = inline_markdown(ch.title)
        if ch.executed:
            head = f'<a href="{html.escape(ch.page)}">{heading}</a>'
        else:
            head = f'{heading} <span class="missing">(not executed yet)</span>'
        objectives = "".join(f"<li>{inline_markdown(o)}</li>" for o in ch.objectives)
        block = f'<ul class="objectives">{objectives}</ul>' if objectives else ""
        number = "" if ch.title.startswith(ch.number) else f'<span class="number">{ch.number}</span>'
        items.append(f'<li>{number}{head}{block}</li>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{INDEX_STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n"
            "<p>The chapters as they ran on the course machine, outputs included. Open them in order; "
            "to run them yourself, use <code>make lab</code>.</p>\n"
            f'<ol class="chapters">\n' + "\n".join(items) + "\n</ol>\n</body>\n</html>\n")


# -- offline check --------------------------------------------------------------------------------

class _AssetFinder(HTMLParser):
    """Collects the URLs a browser would fetch by itself (not the links a reader may click)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])

    def handle_data(self, data):
        # @import and url() inside inline <style> blocks
        found = re.findall(r"""@import\s+(?:url\()?\s*["']?([^"');\s]+)""", data)
        found += re.findall(r"""url\(\s*["']?((?:https?:)?//[^"')]+)""", data)
        self.urls += [u for u in dict.fromkeys(found) if u not in self.urls]


def external_assets(page: str) -> list[str]:
    """Every network URL the page would load on opening (empty for an offline page)."""
    finder = _AssetFinder()
    finder.feed(page)
    return [u for u in finder.urls if re.match(r"^(https?:)?//", u.strip(), re.IGNORECASE)]


class _ImageFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        src = dict(attrs).get("src") if tag == "img" else None
        if src:
            self.srcs.append(src)


def linked_images(page: str) -> list[str]:
    """The images the page points to instead of carrying: nbconvert embeds a markdown image
    it finds beside the chapter and leaves the link when the file is missing, which would be a
    broken picture in the site (network URLs are :func:`external_assets`' business)."""
    finder = _ImageFinder()
    finder.feed(page)
    return [s for s in finder.srcs
            if not s.strip().lower().startswith("data:") and not re.match(r"^(https?:)?//", s.strip(), re.IGNORECASE)]


# -- the build ------------------------------------------------------------------------------------

def _exporter():
    # nbconvert is heavy and only needed here: imported lazily
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(extra_loaders=[DictLoader({"course.html.j2": COURSE_TEMPLATE})],
                            template_file="course.html.j2")
    exporter.embed_images = True          # markdown ![](file.png) becomes a data: URI
    exporter.exclude_anchor_links = False
    return exporter


SOLUTION_LINK = re.compile(r'href="solutions/(\d\d[a-z]?-solutions)\.md(#[^"]*)?"')
HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)


def heading_id(inner_html: str) -> str:
    """GitHub's anchor for a heading (what the chapters' links to ``…-solutions.md#…`` use):
    the text lower-cased, punctuation dropped, spaces turned into hyphens."""
    text = html.unescape(re.sub(r"<[^>]+>", "", inner_html)).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _with_ids(body: str) -> str:
    return HEADING.sub(lambda m: f'<h{m.group(1)} id="{html.escape(heading_id(m.group(2)))}">{m.group(2)}'
                                 f"</h{m.group(1)}>", body)


def solution_page(md_path: Path, chapter: Chapter | None) -> str:
    """A worked-answers page (``notebooks/solutions/NN-solutions.md``) as HTML, linking back."""
    import mistune
    body = _with_ids(mistune.html(md_path.read_text(encoding="utf-8")))
    back = (f'<a href="../{html.escape(chapter.page)}">back to the chapter</a> · ' if chapter else "")
    name = md_path.stem
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n"
            f"<title>{html.escape(name)}</title>\n<style>{INDEX_STYLE}</style>\n</head>\n<body>\n"
            f'<nav>{back}<a href="../index.html">contents</a></nav>\n{body}\n</body>\n</html>\n')


def render_solutions(notebooks: Path, staging: Path, rendered: list[Chapter]) -> list[str]:
    """Every ``solutions/*.md`` as ``solutions/*.html``; the names written."""
    folder = notebooks / "solutions"
    if not folder.is_dir():
        return []
    by_number = {ch.number: ch for ch in rendered}
    (staging / "solutions").mkdir()
    written = []
    for md in sorted(folder.glob("*.md")):
        page = solution_page(md, by_number.get(md.stem.split("-", 1)[0]))
        bad = external_assets(page)
        if bad:
            raise UsageError(f"page would load from the network: {', '.join(sorted(set(bad)))}",
                             op="render solutions", path=md)
        (staging / "solutions" / f"{md.stem}.html").write_text(page, encoding="utf-8")
        written.append(md.stem)
    return written


def render_site(notebooks: Path, out: Path, title: str = "minicontainer: the course") -> list[Chapter]:
    """Render the site into ``out`` (replaced as a whole); returns every chapter found.

    The executed ones (``chapter.executed``) have a page; the others are only listed.
    """
    import nbformat
    found = find_chapters(notebooks)
    chapters = [ch for ch, _ in found]
    rendered = [ch for ch in chapters if ch.executed]
    exporter = _exporter()
    out = out.absolute()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    except OSError as err:
        raise UsageError(f"cannot create the output folder: {err.strerror.lower()}",
                         op="render course", path=out.parent) from err
    try:
        solutions = set(render_solutions(notebooks, staging, rendered))
        for i, ch in enumerate(rendered):
            nb = nbformat.read(ch.path, as_version=4)   # joins the line lists nbconvert expects
            resources = {
                "metadata": {"name": _title_text(ch), "path": str(ch.path.parent)},
                "course_nav_top": navigation(rendered, i, "top"),
                "course_nav_bottom": navigation(rendered, i, "bottom"),
            }
            try:
                body, _ = exporter.from_notebook_node(nb, resources=resources)
            except Exception as err:  # nbconvert raises many types; name the chapter that broke
                raise UsageError(f"nbconvert failed: {err}", op="render chapter", path=ch.path) from err
            bad = external_assets(body)
            if bad:
                raise UsageError(f"page would load from the network: {', '.join(sorted(set(bad)))}",
                                 op="render chapter", path=ch.path)
            unfound = linked_images(body)
            if unfound:
                raise UsageError(f"images not found beside the chapter: {', '.join(sorted(set(unfound)))}",
                                 op="render chapter", path=ch.path)
            missing = sorted({m.group(1) for m in SOLUTION_LINK.finditer(body)} - solutions)
            if missing:
                raise UsageError(f"links to solutions that do not exist: {', '.join(missing)}",
                                 op="render chapter", path=ch.path)
            body = SOLUTION_LINK.sub(lambda m: f'href="solutions/{m.group(1)}.html{m.group(2) or ""}"', body)   # the rendered page, not the .md
            (staging / ch.page).write_text(body, encoding="utf-8")
        (staging / "index.html").write_text(index_page(chapters, title), encoding="utf-8")
        os.chmod(staging, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            out.rename(old / out.name)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return chapters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render the executed chapters into a static HTML site")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of NN-topic.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "course", help="site folder (replaced)")
    args = parser.parse_args(argv)
    try:
        chapters = render_site(args.notebooks, args.out)
    except MiniContainerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for ch in chapters:
        state = "rendered" if ch.executed else "listed only (not executed yet)"
        print(f"  {ch.path.name:40} {state}")
    print(f"course: {args.out.absolute() / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
