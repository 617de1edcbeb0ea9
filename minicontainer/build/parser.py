"""Reading a Dockerfile: parser directives, logical lines, instructions and their forms.

A Dockerfile is a list of instructions, one per *logical* line::

    # escape=\\                     <- parser directives: only at the very top
    FROM busybox AS base            <- INSTRUCTION arguments (instruction names are case-insensitive)
    RUN echo one && \\
        echo two                    <- the escape character at the end of a line continues it
    CMD ["sh", "-c", "echo hi"]     <- exec form: a JSON array, run without a shell

* A line whose first non-blank character is ``#`` is a comment, even inside a
  continued instruction; blank lines inside one are skipped.
* ``# escape=``` (or ``\\``) changes the escape character for the whole file, and
  ``# syntax=...`` is accepted and ignored; a directive is only recognised before the
  first comment, blank line or instruction.
* RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD and VOLUME accept the JSON *exec form*; text
  that is not a valid JSON array of strings is read as the *shell form*, as Docker does.
* ``--name=value`` flags come first (``COPY --from=build``, ``COPY --chown=1:1``, ...).
* **Here-documents** (Dockerfile syntax 1.4, as BuildKit reads them): in the shell form
  of RUN, COPY and ADD a word ``<<NAME`` (``<<-NAME``: leading tabs stripped from the
  body; ``<<"NAME"`` / ``<<'NAME'``: body not expanded) makes the lines after the
  instruction, up to a line that is exactly ``NAME``, a document attached to it
  (:class:`Heredoc`). Several on one line are read in order. Body lines are taken as
  they are: no comments, continuations or blank lines are dropped from them.

Parsing does not substitute variables (see :mod:`.words`; that needs the ARG/ENV values
in force at each step) and never touches the kernel. Errors name ``FILE:LINE`` and quote
the offending text. Reference: https://docs.docker.com/reference/dockerfile/
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..errors import UsageError

INSTRUCTIONS = ("FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL")
#: the flags each instruction accepts (anything else is a parse error)
FLAGS = {"FROM": {"platform"}, "COPY": {"from", "chown", "chmod", "link"}, "ADD": {"chown", "chmod", "link"},
         "RUN": set(), "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"}}
#: instructions whose arguments may be a JSON array
EXEC_FORM = {"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_FLAG = re.compile(r"^--([a-z][a-z-]*)(?:=(.*))?$")
#: instructions whose shell form may carry here-documents (BuildKit's heredocDirectives)
HEREDOC = {"RUN", "COPY", "ADD"}


class DockerfileError(UsageError):
    """A Dockerfile that cannot be read: ``FILE:LINE: message: offending text``."""

    def __init__(self, message: str, *, file: str, line: int, text: str = ""):
        super().__init__(message, op="parse", path=file)
        self.file, self.line, self.text = file, line, text

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: {self.message}"
        return f"{where}: {self.text}" if self.text else where


@dataclass
class Heredoc:
    """One here-document: ``<<[-]NAME`` on the instruction line, its body on the lines after.

    ``body`` is as written (each line with its newline); ``expand`` is False when any part
    of NAME was quoted; ``chomp`` is the ``-`` of ``<<-``; ``fd`` the ``3`` of ``3<<EOF``."""
    name: str
    body: str
    expand: bool = True
    chomp: bool = False
    fd: int | None = None

    @property
    def content(self) -> str:
        """The body with ``<<-``'s leading tabs removed from every line."""
        return re.sub(r"(?m)^\t+", "", self.body) if self.chomp else self.body


@dataclass
class Instruction:
    cmd: str                      # upper-case instruction name
    args: str                     # the argument text after the flags (continuations joined)
    line: int                     # 1-based line where it starts
    original: str                 # as written (continuations joined), for "Step N/M : ..." and errors
    flags: dict[str, str] = field(default_factory=dict)
    json: list[str] | None = None  # the exec form, when the arguments are a JSON array of strings
    heredocs: list[Heredoc] = field(default_factory=list)   # in the order their <<NAME words appear

    @property
    def exec_form(self) -> bool:
        return self.json is not None


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    escape: str = "\\"
    file: str = "Dockerfile"
    directives: dict[str, str] = field(default_factory=dict)


def parse(text: str, file: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text``; raise :class:`DockerfileError` on the first problem."""
    lines = text.splitlines()
    directives, first = _directives(lines, file)
    escape = directives.get("escape", "\\")
    out = []
    n = first
    while (got := _logical_line(lines, n, escape)) is not None:
        start, logical, n = got
        inst = _instruction(logical, start, file, escape)
        if inst.cmd in HEREDOC and inst.json is None and "<<" in inst.args:
            n = _read_heredocs(inst, lines, n, file, escape)
        elif inst.cmd == "ONBUILD" and "<<" in inst.args:
            _refuse_onbuild_heredoc(inst, file, escape)
        out.append(inst)
    if not out:
        raise DockerfileError("the file has no instructions", file=file, line=max(len(lines), 1))
    first_real = next((i for i in out if i.cmd != "ARG"), None)
    if first_real is None or first_real.cmd != "FROM":
        bad = first_real or out[0]
        raise DockerfileError("the first instruction must be FROM (only ARG may come before it)",
                              file=file, line=bad.line, text=bad.original)
    return Dockerfile(out, escape, file, directives)


def _directives(lines: list[str], file: str) -> tuple[dict[str, str], int]:
    found: dict[str, str] = {}
    for n, line in enumerate(lines):
        m = _DIRECTIVE.match(line.strip())
        if not m or not line.strip():
            return found, n
        name, value = m.group(1).lower(), m.group(2)
        if name not in ("escape", "syntax", "check"):
            return found, n            # an ordinary comment: directives end here
        if name in found:
            raise DockerfileError(f"only one {name} parser directive can be used", file=file, line=n + 1,
                                  text=line)
        if name == "escape" and value not in ("\\", "`"):
            raise DockerfileError(f"invalid escape token {value!r} does not validate", file=file, line=n + 1,
                                  text=line)
        found[name] = value
    return found, len(lines)


def _logical_line(lines: list[str], first: int, escape: str):
    """(start line number, text, index of the next line) of the instruction that begins at
    or after ``lines[first]``, continuations joined; None at the end of the file."""
    cont = re.compile(re.escape(escape) + r"[ \t]*$")
    buf: list[str] = []
    start = 0
    for n in range(first, len(lines)):
        raw = lines[n]
        stripped = raw.strip()
        if not buf and not stripped:
            continue
        if stripped.startswith("#"):
            continue                  # comments are dropped, also between continued lines
        if buf and not stripped:
            continue                  # an empty line inside a continuation (deprecated, but accepted)
        if not buf:
            start = n + 1
        m = cont.search(raw)
        if m:
            buf.append(raw[:m.start()] if buf else raw[:m.start()].lstrip())
            continue
        buf.append(raw if buf else raw.lstrip())
        return start, "".join(buf).strip(), n + 1
    if buf:
        return start, "".join(buf).strip(), len(lines)   # a final continuation with nothing after it
    return None


def _refuse_onbuild_heredoc(inst: Instruction, file: str, escape: str) -> None:
    """An ONBUILD trigger is stored as one line of text, so it cannot carry a body: say so,
    rather than reading the body as instructions."""
    from .words import heredoc_markers
    sub, _, rest = inst.args.partition(" ")
    if sub.upper() in HEREDOC and not rest.lstrip().startswith("[") and heredoc_markers(rest, escape):
        raise DockerfileError("heredocs in ONBUILD triggers are not supported", file=file, line=inst.line,
                              text=inst.original)


def _read_heredocs(inst: Instruction, lines: list[str], n: int, file: str, escape: str) -> int:
    """Attach the bodies of ``inst``'s ``<<NAME`` words, read from ``lines[n:]``; return the
    index of the first line after the last terminator."""
    from .words import heredoc_markers
    try:
        markers = heredoc_markers(inst.args, escape)
    except UsageError as err:
        raise DockerfileError(err.message, file=file, line=inst.line, text=inst.original) from err
    for fd, chomp, name, expand in markers:
        body: list[str] = []
        while True:
            if n >= len(lines):
                raise DockerfileError(f"unterminated heredoc: no line {name!r} ends it", file=file,
                                      line=inst.line, text=inst.original)
            line = lines[n]
            n += 1
            if (line.lstrip("\t") if chomp else line).rstrip("\r") == name:
                break
            body.append(line + "\n")
        inst.heredocs.append(Heredoc(name, "".join(body), expand=expand, chomp=chomp, fd=fd))
    return n


def _instruction(logical: str, line: int, file: str, escape: str) -> Instruction:
    parts = logical.split(None, 1)
    cmd = parts[0].upper()
    rest = parts[1].strip() if len(parts) > 1 else ""
    if cmd not in INSTRUCTIONS:
        raise DockerfileError(f"unknown instruction: {parts[0]}", file=file, line=line, text=logical)
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        m = _FLAG.match(word)
        allowed = FLAGS.get(cmd, set())
        if not m or m.group(1) not in allowed:
            name = m.group(1) if m else word
            raise DockerfileError(f"unknown flag: {name} (for {cmd})", file=file, line=line, text=logical)
        if m.group(1) in flags:
            raise DockerfileError(f"duplicate flag: {m.group(1)}", file=file, line=line, text=logical)
        flags[m.group(1)] = m.group(2) if m.group(2) is not None else "true"
        rest = after.strip()
    inst = Instruction(cmd=cmd, args=rest, line=line, original=logical, flags=flags)
    if cmd in EXEC_FORM and rest.startswith("["):
        inst.json = _json_array(rest)
    _check(inst, file)
    return inst


def _json_array(text: str) -> list[str] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _check(inst: Instruction, file: str) -> None:
    """Per-instruction shape checks that need no variable values."""
    def fail(message: str):
        raise DockerfileError(message, file=file, line=inst.line, text=inst.original)

    cmd, args = inst.cmd, inst.args
    needs_args = {"FROM", "RUN", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "VOLUME", "USER",
                  "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
    if cmd in needs_args and not args:
        fail(f"{cmd} requires at least one argument")
    if cmd == "FROM":
        words = args.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            fail("FROM requires either one or three arguments (FROM IMAGE [AS NAME])")
        if len(words) == 3 and not re.match(r"^[a-z][a-z0-9-_.]*$", words[2].lower()):
            fail(f"invalid stage name {words[2]!r}")
    elif cmd in ("COPY", "ADD"):
        n = len(inst.json) if inst.json is not None else len(args.split())
        if n < 2:
            fail(f"{cmd} requires at least two arguments, but got {n}")
    elif cmd == "SHELL":
        if inst.json is None or not inst.json:
            fail('SHELL requires the arguments to be in JSON form, e.g. ["/bin/sh", "-c"]')
    elif cmd == "ONBUILD":
        sub = args.split(None, 1)[0].upper()
        if sub in ("ONBUILD", "FROM", "MAINTAINER"):
            fail(f"{sub} isn't allowed as an ONBUILD trigger")
        if sub not in INSTRUCTIONS:
            fail(f"unknown instruction in ONBUILD: {sub}")
    elif cmd == "HEALTHCHECK":
        kind = args.split(None, 1)[0].upper()
        if kind not in ("CMD", "NONE"):
            fail("HEALTHCHECK needs CMD or NONE")
        if kind == "NONE" and (inst.flags or len(args.split()) > 1):
            fail("HEALTHCHECK NONE takes no other arguments")
        if kind == "CMD" and len(args.split(None, 1)) < 2:
            fail("HEALTHCHECK CMD needs a command")
    elif cmd == "USER" and len(args.split()) != 1:
        fail("USER requires exactly one argument")
    elif cmd == "STOPSIGNAL" and len(args.split()) != 1:
        fail("STOPSIGNAL requires exactly one argument")
