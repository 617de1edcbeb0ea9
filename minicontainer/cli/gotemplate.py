"""Go's text/template, the part ``docker ... --format`` users write, evaluated on JSON-like data.

Docker formats ``inspect``, ``ps`` and ``images`` output with Go templates
(https://pkg.go.dev/text/template, and docker's "Format command and log output" page):
``{{.State.Status}}`` walks the document, ``{{json .Config}}`` prints a part as JSON,
``{{range .Mounts}}{{.Destination}} {{end}}`` loops, ``{{if}}``/``{{else}}``/``{{end}}`` tests,
``{{.Name | upper}}`` pipes a value into a function, and ``{{-``/``-}}`` trim the spaces
around an action. This module parses that language into a small tree and evaluates it on
dicts, lists, strings, numbers, booleans and None, the way Go does on decoded JSON:

- a missing key is an error (``map has no entry for key "X"``), a null prints ``<no value>``;
- lists print as ``[a b]``, maps as ``map[k:v]`` (keys sorted), as Go's fmt does;
- empty values (false, 0, "", [], {}, null) are false for ``if``/``with``/``and``/``or``/``not``.

Functions (:mod:`.gofuncs`): Go's builtins (``and or not len index slice print printf println eq ne lt le
gt ge``) and docker's (``json upper lower title join split pad truncate``). ``define``/``template``/``block``
are not supported. Parse errors raise :class:`TemplateSyntaxError`, run-time ones
:class:`TemplateExecError`, with Go's wording.
"""

from __future__ import annotations

import re

from ..errors import UsageError
from .gofuncs import FUNCS, LAZY, Record, go_str, go_type, to_json, truth


class TemplateSyntaxError(UsageError):
    """The template does not parse (docker exits 64 for ``inspect``)."""
    exit_code = 64


class TemplateExecError(UsageError):
    """The template parsed but failed on this data (docker exits 1)."""
    exit_code = 1


# ----------------------------------------------------------------------------- lexing
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)|(?P<char>'(?:[^'\\]|\\.)')|
    (?P<decl>:=)|(?P<assign>=)|(?P<pipe>\|)|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|
    (?P<num>[-+]?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))|
    (?P<var>\$\w*)|(?P<field>(?:\.\w+)+|\.)|(?P<ident>[A-Za-z_]\w*)|(?P<bad>\S))""", re.X)
_CHAIN = re.compile(r"(?:\.\w+)+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v", "0": "\0"}
KEYWORDS = ("if", "else", "end", "range", "with", "define", "template", "block", "break", "continue")


def _unquote(text: str) -> str:
    def one(m):
        s = m.group(1)
        if s[0] in "xuU":
            return chr(int(s[1:], 16))
        return _ESCAPES.get(s, "\\" + s)
    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", one, text[1:-1])


def _segments(src: str):
    """Split into ("text", str) and ("action", str, line) pieces, applying the trim markers."""
    out, pos = [], 0
    while True:
        start = src.find("{{", pos)
        if start < 0:
            out.append(("text", src[pos:]))
            return out
        text = src[pos:start]
        inner_start = start + 2
        if src.startswith("- ", inner_start) or src.startswith("-\t", inner_start) or \
                src.startswith("-\n", inner_start):
            text = text.rstrip(" \t\r\n")
            inner_start += 1
        out.append(("text", text))
        line = src.count("\n", 0, start) + 1
        if src[inner_start:].lstrip(" \t\r\n").startswith("/*"):
            close = src.find("*/", inner_start)
            end = src.find("}}", close + 2) if close >= 0 else -1
            if end < 0:
                raise TemplateSyntaxError(f"template: :{line}: unclosed comment")
            pos = end + 2
            if src[close + 2:end].strip() == "-":
                pos = _skip_space(src, pos)
            continue
        end = _action_end(src, inner_start, line)
        inner, pos = src[inner_start:end], end + 2
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            inner = inner[:-1]
            pos = _skip_space(src, pos)
        out.append(("action", inner, line))


def _skip_space(src: str, pos: int) -> int:
    while pos < len(src) and src[pos] in " \t\r\n":
        pos += 1
    return pos


def _action_end(src: str, pos: int, line: int) -> int:
    """Where the action's ``}}`` is, skipping quoted strings (which may contain ``}}``)."""
    quote = None
    while pos < len(src):
        ch = src[pos]
        if quote:
            if ch == "\\" and quote != "`":
                pos += 1
            elif ch == quote:
                quote = None
            elif ch == "\n" and quote != "`":
                raise TemplateSyntaxError(f"template: :{line}: unterminated quoted string")
        elif ch in "\"'`":
            quote = ch
        elif src.startswith("}}", pos):
            return pos
        pos += 1
    raise TemplateSyntaxError(f"template: :{line}: {'unterminated quoted string' if quote else 'unclosed action'}")


def _tokens(inner: str, line: int) -> list[tuple[str, str]]:
    out, pos = [], 0
    while inner[pos:].strip():
        m = _TOKEN.match(inner, pos)
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "bad":
            raise TemplateSyntaxError(f"template: :{line}: unexpected {value!r} in command")
        if kind == "num" and inner[m.end():m.end() + 1].isalpha():
            raise TemplateSyntaxError(f'template: :{line}: bad number syntax: "{value}{inner[m.end()]}"')
        out.append((kind, value))
        pos = m.end()
        if kind in ("field", "var", "rp") and _CHAIN.match(inner, pos):   # $x.Field, (pipe).Field
            chain = _CHAIN.match(inner, pos)
            out.append(("chain", chain.group()))
            pos = chain.end()
    return out


# ----------------------------------------------------------------------------- parsing
class _Parser:
    def __init__(self, src: str, funcs: dict):
        self.items = _segments(src)
        self.i = 0
        self.funcs = funcs

    def parse(self) -> list:
        body, stop = self.block(())
        if stop is not None:
            raise TemplateSyntaxError(f"template: :{stop[1]}: unexpected {{{{{stop[0]}}}}}")
        return body

    def block(self, stops: tuple[str, ...]):
        """Nodes up to one of ``stops`` (returned with its tokens), or to the end (None)."""
        nodes = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if item[0] == "text":
                if item[1]:
                    nodes.append(("text", item[1]))
                continue
            _, inner, line = item
            toks = _tokens(inner, line)
            if not toks:
                raise TemplateSyntaxError(f"template: :{line}: missing value for command")
            word = toks[0][1] if toks[0][0] == "ident" else None
            if word in ("end", "else"):
                if word not in stops:
                    raise TemplateSyntaxError(f"template: :{line}: unexpected {{{{{word}}}}}")
                return nodes, (word, line, toks[1:])
            if word in ("if", "with", "range"):
                nodes.append(self.control(word, toks[1:], line))
            elif word in ("define", "template", "block", "break", "continue"):
                raise TemplateSyntaxError(f"template: :{line}: {{{{{word}}}}} is not supported here")
            else:
                nodes.append(("action", self.pipeline(toks, line), line))
        if stops:
            raise TemplateSyntaxError(f"template: :{self.items[-1][2] if len(self.items[-1]) > 2 else 1}: "
                                      "unexpected EOF")
        return nodes, None

    def control(self, word: str, toks, line: int):
        if not toks:
            raise TemplateSyntaxError(f"template: :{line}: missing value for {word}")
        pipe = self.pipeline(toks, line, allow_decl=True, two_vars=word == "range")
        body, (stop, sline, rest) = self.block(("end", "else"))
        other = []
        if stop == "else":
            if rest and rest[0] == ("ident", word) and word != "range":    # {{else if ...}} / {{else with ...}}
                other = [self.control(word, rest[1:], sline)]
            elif rest:
                raise TemplateSyntaxError(f"template: :{sline}: unexpected {rest[0][1]!r} in else")
            else:
                other, (stop2, eline, rest2) = self.block(("end",))
                if rest2:
                    raise TemplateSyntaxError(f"template: :{eline}: unexpected {rest2[0][1]!r} in end")
        elif rest:
            raise TemplateSyntaxError(f"template: :{sline}: unexpected {rest[0][1]!r} in end")
        return (word, pipe, body, other, line)

    def pipeline(self, toks, line: int, allow_decl: bool = True, two_vars: bool = False):
        decl, assign = [], False       # $x := (a new variable) or $x = (the existing one changes)
        if len(toks) >= 2 and toks[0][0] == "var":
            if toks[1][0] in ("decl", "assign"):
                decl, assign, toks = [toks[0][1]], toks[1][0] == "assign", toks[2:]
            elif two_vars and toks[1][0] == "comma" and len(toks) >= 4 and toks[2][0] == "var" \
                    and toks[3][0] in ("decl", "assign"):
                decl, toks = [toks[0][1], toks[2][1]], toks[4:]
        commands, current, depth, group = [], [], 0, []
        for tok in toks:
            if depth:
                group.append(tok)
                depth += {"lp": 1, "rp": -1}.get(tok[0], 0)
                if depth == 0:
                    current.append(("pipe", self.pipeline(group[:-1], line)))
                    group = []
                continue
            if tok[0] == "lp":
                depth = 1
            elif tok[0] == "rp":
                raise TemplateSyntaxError(f"template: :{line}: unexpected right paren")
            elif tok[0] == "pipe":
                if not current:
                    raise TemplateSyntaxError(f"template: :{line}: missing command")
                commands.append(current)
                current = []
            elif tok[0] == "chain":
                if not current:
                    raise TemplateSyntaxError(f"template: :{line}: unexpected {tok[1]}")
                current[-1] = ("chain", current[-1], tok[1].split(".")[1:])
            else:
                current.append(self.operand(tok, line))
        if depth:
            raise TemplateSyntaxError(f"template: :{line}: unclosed left paren")
        if not current:
            raise TemplateSyntaxError(f"template: :{line}: missing command")
        commands.append(current)
        return (decl, commands, assign)

    def operand(self, tok, line: int):
        kind, value = tok
        if kind == "field":
            return ("field", [] if value == "." else value.split(".")[1:])
        if kind == "var":
            return ("var", value)
        if kind in ("str", "raw"):
            return ("const", _unquote(value) if kind == "str" else value[1:-1])
        if kind == "char":
            return ("const", ord(_unquote(value)))
        if kind == "num":
            text = value.replace("_", "")
            try:
                return ("const", int(text, 0))
            except ValueError:
                return ("const", float(text))
        if kind == "ident":
            if value in ("true", "false"):
                return ("const", value == "true")
            if value == "nil":
                return ("const", None)
            if value in KEYWORDS or value not in self.funcs:
                raise TemplateSyntaxError(f'template: :{line}: function "{value}" not defined')
            return ("func", value)
        raise TemplateSyntaxError(f"template: :{line}: unexpected {value!r} in operand")


# ----------------------------------------------------------------------------- evaluation
class Template:
    """A parsed template; ``execute(data)`` renders it. Parse once, execute per object."""

    def __init__(self, source: str):
        self.source = source
        self.tree = _Parser(source, {**FUNCS, **dict.fromkeys(LAZY)}).parse()

    def execute(self, data) -> str:
        out: list[str] = []
        self._run(self.tree, data, [["$", data]], out)
        return "".join(out)

    def _run(self, nodes, dot, scope, out):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                decl, value = self._pipe(node[1], dot, scope, node[2])
                if not decl:
                    out.append(go_str(value))
            else:
                self._control(node, dot, scope, out)

    def _control(self, node, dot, scope, out):
        word, pipe, body, other, line = node
        inner = list(scope)
        decl, value = self._pipe(pipe, dot, inner, line, declare=word != "range")
        if word == "range":
            if value is None:
                items = []
            elif isinstance(value, dict):
                items = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, (list, tuple)):
                items = list(enumerate(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                items = [(i, i) for i in range(value)]
            else:
                raise TemplateExecError(f"template: :{line}: range can't iterate over {go_str(value, False)}")
            for key, item in items:
                names = dict(zip(decl[::-1], (item, key))) if len(decl) == 1 else dict(zip(decl, (key, item)))
                self._run(body, item, inner + [list(kv) for kv in names.items()], out)
            if not items:
                self._run(other, dot, inner, out)
        elif truth(value):
            self._run(body, value if word == "with" else dot, inner, out)
        else:
            self._run(other, dot, inner, out)

    def _pipe(self, pipe, dot, scope, line, declare: bool = True):
        decl, commands, assign = pipe
        value, first = None, True
        for command in commands:
            value = self._command(command, dot, scope, line, None if first else (value,))
            first = False
        if decl and assign:             # the variable's cell is shared with the blocks that can see it
            self._cell(scope, decl[0], line)[1] = value
        elif decl and declare:
            scope.append([decl[0], value])
        return decl, value

    @staticmethod
    def _cell(scope, name: str, line: int) -> list:
        for cell in reversed(scope):
            if cell[0] == name:
                return cell
        raise TemplateSyntaxError(f'template: :{line}: undefined variable "{name}"')

    def _command(self, command, dot, scope, line, piped):
        head, args = command[0], command[1:]
        if head[0] == "func":
            name = head[1]
            if name in LAZY:
                values = [lambda a=a: self._arg(a, dot, scope, line) for a in args]
                if piped:
                    values.append(lambda: piped[0])
                if not values:
                    raise TemplateExecError(f"template: :{line}: wrong number of args for {name}: want at "
                                            "least 1 got 0")
                for get in values:
                    v = get()
                    if truth(v) != (name == "and"):
                        return v
                return v
            argv = [self._arg(a, dot, scope, line) for a in args] + list(piped or ())
            try:
                return FUNCS[name](*argv)
            except TypeError:
                raise TemplateExecError(f"template: :{line}: executing \"\" at <{name}>: wrong number of args "
                                        f"for {name}") from None
            except (ValueError, KeyError, AttributeError) as err:
                raise TemplateExecError(f"template: :{line}: executing \"\" at <{name}>: error calling "
                                        f"{name}: {err}") from None
        if args or piped:
            what = to_json(head[1]) if head[0] == "const" else "." + ".".join(head[1]) \
                if head[0] == "field" else head[0]
            raise TemplateExecError(f"template: :{line}: executing \"\" at <{what}>: can't give argument "
                                    f"to non-function {what}")
        return self._arg(head, dot, scope, line)

    def _arg(self, node, dot, scope, line):
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "field":
            return self._walk(dot, node[1], line)
        if kind == "var":
            return self._cell(scope, node[1], line)[1]
        if kind == "pipe":
            return self._pipe(node[1], dot, list(scope), line)[1]
        if kind == "chain":
            return self._walk(self._arg(node[1], dot, scope, line), node[2], line)
        raise TemplateExecError(f"template: :{line}: {node[1]} is a function: call it with arguments")

    @staticmethod
    def _walk(value, names, line):
        path = "." + ".".join(names)
        for name in names:
            if isinstance(value, Record) and name not in value:
                raise TemplateExecError(f'template: :{line}: executing "" at <{path}>: can\'t evaluate field '
                                        f"{name} in type {value.go_type}")
            if isinstance(value, dict):
                if name not in value:
                    raise TemplateExecError(f'template: :{line}: executing "" at <{path}>: map has no entry for '
                                            f'key "{name}"')
                value = value[name]
            elif value is None:
                raise TemplateExecError(f"template: :{line}: executing \"\" at <{path}>: nil pointer evaluating "
                                        f"interface {{}}.{name}")
            else:
                raise TemplateExecError(f"template: :{line}: executing \"\" at <{path}>: can't evaluate field "
                                        f"{name} in type {go_type(value)}")
        return value


def render(source: str, data) -> str:
    """Parse and execute in one go (for one object; parse once with :class:`Template` for many)."""
    return Template(source).execute(data)
