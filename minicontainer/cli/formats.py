"""``--format`` for every command, docker's spellings, one evaluator (:mod:`.gotemplate`).

Two shapes, as in docker's CLI:

- ``inspect`` (containers, images, networks, volumes): no format prints the documents as an
  indented JSON array; ``-f TEMPLATE`` prints one line per object (``json`` is ``{{json .}}``).
  Template errors read ``template parsing error: ...`` (docker's wording, for both kinds).
- listings (``ps``, ``images``, ``network ls``, ``volume ls``): ``table`` (the command's default
  columns), ``json`` (one JSON object per line), ``table TEMPLATE`` (a header row, columns aligned
  as Go's tabwriter does with docker's settings: cells padded by 3, at least 10 wide) or a bare
  TEMPLATE. ``\\t`` and ``\\n`` typed literally in a listing template mean tab and newline.
"""

from __future__ import annotations

import json

from .gotemplate import Record, Template, TemplateExecError, TemplateSyntaxError

#: ``ps --format`` placeholders (Docker's Go-template fields) and their table headers
PS_FIELDS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
             "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "State": "STATE",
             "Mounts": "MOUNTS", "Networks": "NETWORKS"}
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"




def _template(source: str, prefix: str) -> Template:
    try:
        return Template(source)
    except TemplateSyntaxError as err:
        raise TemplateSyntaxError(f"{prefix}: {err}") from None


def _run(template: Template, data, prefix: str) -> str:
    try:
        return template.execute(data)
    except (TemplateSyntaxError, TemplateExecError) as err:
        raise type(err)(f"{prefix}: {err}") from None


def inspect_lines(documents: list, fmt: str | None) -> list[str]:
    """What ``inspect [-f FORMAT]`` prints for these documents."""
    if not fmt:
        return [json.dumps(documents, indent=4)]
    template = _template("{{json .}}" if fmt == "json" else fmt, "template parsing error")
    return [_run(template, doc, "template parsing error") for doc in documents]


def listing_lines(spec: str | None, rows: list[dict], headers: dict[str, str], default: str,
                  go_type: str = "struct") -> list[str]:
    """What a list command prints for ``rows`` under ``--format spec``.

    ``headers`` maps each field to its column title (the header row is the template run on it);
    ``default`` is the ``table ...`` template of the command's plain output.
    """
    if not spec or spec == "table":
        spec = default
    elif spec == "json":
        spec = "{{json .}}"
    table = spec.startswith("table")
    body = (spec[5:] if table else spec).strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    template = _template(body, "failed to parse template")
    lines = [_run(template, Record(r, go_type), "failed to execute template") for r in rows]
    if not table:
        return lines
    header = _run(template, Record(headers, go_type), "failed to execute template")
    return align([header] + lines)


def align(lines: list[str], minwidth: int = 10, padding: int = 3) -> list[str]:
    """Go's tabwriter as docker sets it up: a tab ends a cell; the text after a line's last tab is
    not part of any column."""
    rows = [cells.split("\t") for text in lines for cells in text.split("\n")]
    widths: list[int] = []
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(cell) + padding, minwidth)
    return ["".join(c.ljust(widths[i]) for i, c in enumerate(cells[:-1])) + cells[-1] for cells in rows]
