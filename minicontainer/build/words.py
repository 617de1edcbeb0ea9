"""Dockerfile words: quoting and ``$VAR`` substitution, the way the builder reads them.

A Dockerfile is not a shell script, but several instructions (ENV, ARG, LABEL, COPY,
ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, FROM) read their arguments with a small
shell-like lexer before the build runs them:

* words are separated by blanks; ``'single'`` quotes keep everything literally,
  ``"double"`` quotes keep blanks but still substitute variables;
* the *escape character* (``\\`` by default, ``\\``` with the ``# escape=``` directive, which
  Windows paths need) makes the next character literal;
* ``$NAME``, ``${NAME}``, ``${NAME:-default}`` (default when unset or empty),
  ``${NAME-default}`` (when unset), ``${NAME:+alt}`` / ``${NAME+alt}`` (alt when set) are
  replaced by build arguments (ARG) and environment variables (ENV, which win).

RUN, CMD and ENTRYPOINT are *not* substituted here: in shell form ``/bin/sh -c`` does it
inside the container, in exec form nothing does (exactly as Docker). See the Dockerfile
reference, "Environment replacement": https://docs.docker.com/reference/dockerfile/

Here-documents (reference, "Here-Documents"): :func:`heredoc_markers` finds the
``<<NAME`` words of a line; the body of an unquoted COPY/ADD document is substituted by
:func:`expand_heredoc`, which keeps quotes and escapes as written (only ``$`` is special,
and an escaped ``\\$`` stays as it is), as BuildKit does. RUN documents are never
substituted by the builder: the shell that runs them does it.
"""

from __future__ import annotations

import re

from ..errors import UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)([^<]*)$")     # [fd]<<[-]NAME, as BuildKit's parser matches it


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted blanks; quotes and escapes are kept (``process_word`` removes them)."""
    words: list[str] = []
    cur: list[str] = []
    quote = None
    i = 0
    in_word = False
    while i < len(text):
        ch = text[i]
        if ch == escape and quote != "'" and i + 1 < len(text):
            cur += [ch, text[i + 1]]
            i += 2
            in_word = True
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in " \t\r\n":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            i += 1
            continue
        cur.append(ch)
        in_word = True
        i += 1
    if quote:
        raise UsageError(f"unterminated {quote} quote in: {text}", op="parse")
    if in_word:
        words.append("".join(cur))
    return words


def process_word(word: str, env: dict[str, str], escape: str = "\\", *, keep_vars: bool = False) -> str:
    """Substitute variables in ``word`` and remove its quotes and escapes (``keep_vars``:
    leave ``$`` as it is, only unquote)."""
    out: list[str] = []
    quote = None
    i = 0
    n = len(word)
    while i < n:
        ch = word[i]
        if quote == "'":
            if ch == "'":
                quote = None
            else:
                out.append(ch)
            i += 1
        elif ch == escape and i + 1 < n:
            nxt = word[i + 1]
            if quote == '"' and nxt not in ('"', "$", escape):
                out.append(ch)      # inside double quotes an escape is literal unless it protects " $ or itself
            out.append(nxt)
            i += 2
        elif ch == '"':
            quote = None if quote == '"' else '"'
            i += 1
        elif ch == "'" and quote is None:
            quote = "'"
            i += 1
        elif ch == "$" and not keep_vars:
            value, i = _variable(word, i, env, escape)
            out.append(value)
        else:
            out.append(ch)
            i += 1
    if quote:
        raise UsageError(f"unterminated {quote} quote in: {word}", op="parse")
    return "".join(out)


def heredoc_markers(text: str, escape: str = "\\") -> list[tuple[int | None, bool, str, bool]]:
    """The here-document words of an instruction's arguments, in order:
    ``(fd or None, chomp, NAME, expand)`` for each ``[fd]<<[-]NAME``.

    NAME is unquoted; ``expand`` is False when any of it was quoted (``<<"EOF"``,
    ``<<'EOF'``, ``<<E"O"F``). ``<<`` alone, or followed by ``<``, is not a heredoc."""
    out = []
    for word in split_words(text, escape):
        m = _HEREDOC_WORD.match(word)
        if not m or not m.group(3):
            continue
        raw = m.group(3)
        name = process_word(raw, {}, escape, keep_vars=True)
        if not name:
            raise UsageError(f"empty heredoc name in: {word}", op="parse")
        quoted = any(c in raw for c in "'\"") or escape in raw
        out.append((int(m.group(1)) if m.group(1) else None, m.group(2) == "-", name, not quoted))
    return out


def is_heredoc_word(word: str) -> bool:
    """Is ``word`` (as split, quotes kept) a ``<<NAME`` marker?"""
    m = _HEREDOC_WORD.match(word)
    return bool(m and m.group(3))


def expand_heredoc(body: str, env: dict[str, str], escape: str = "\\") -> str:
    """Substitute ``$NAME`` / ``${NAME...}`` in a COPY/ADD here-document body; quotes are
    ordinary characters and an escaped character (``\\$HOME``) is kept, escape and all."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == escape and i + 1 < n:
            out.append(body[i:i + 2])
            i += 2
        elif ch == "$":
            value, i = _variable(body, i, env, escape)
            out.append(value)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def expand(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """Substitute variables in a whole argument string, keeping its blanks (WORKDIR, USER...)."""
    return " ".join(process_word(w, env, escape) for w in split_words(text, escape))


def _variable(word: str, i: int, env: dict[str, str], escape: str) -> tuple[str, int]:
    """Read a ``$...`` reference starting at ``word[i]``; return (its value, index after it)."""
    if i + 1 >= len(word):
        return "$", i + 1
    if word[i + 1] != "{":
        m = _NAME.match(word, i + 1)
        if not m:
            return "$", i + 1
        return env.get(m.group(), ""), m.end()
    close = _matching_brace(word, i + 2)
    if close < 0:
        raise UsageError(f"missing '}}' in: {word}", op="parse")
    inner = word[i + 2:close]
    m = _NAME.match(inner)
    if not m:
        raise UsageError(f"bad substitution: ${{{inner}}}", op="parse")
    name, rest = m.group(), inner[m.end():]
    value = env.get(name)
    if not rest:
        return value or "", close + 1
    for op in (":-", ":+", ":?", "-", "+", "?"):
        if rest.startswith(op):
            arg = process_word(rest[len(op):], env, escape)
            set_ = value is not None and (value != "" or not op.startswith(":"))
            if op.endswith("-"):
                return (value if set_ else arg), close + 1
            if op.endswith("+"):
                return (arg if set_ else ""), close + 1
            if not set_:
                raise UsageError(f"{name}: {arg or 'parameter not set'}", op="parse")
            return value, close + 1
    raise UsageError(f"unsupported modifier in ${{{inner}}} (want :- :+ :? - + ?)", op="parse")


def _matching_brace(word: str, start: int) -> int:
    depth = 1
    for j in range(start, len(word)):
        if word[j] == "{":
            depth += 1
        elif word[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def key_values(text: str, env: dict[str, str], escape: str, what: str) -> list[tuple[str, str]]:
    """``K=V K2="v 2"`` (or the legacy ``K value with blanks``) -> [(K, V), ...] for ENV/LABEL/ARG."""
    words = split_words(text, escape)
    if not words:
        raise UsageError(f"{what} needs at least one argument", op="parse")
    if "=" not in words[0]:
        if what == "ARG":
            return [(process_word(w, env, escape), None) for w in words]      # ARG NAME [NAME2]
        if len(words) < 2:
            raise UsageError(f"{what} needs a value: {what} {text}", op="parse")
        value = text.split(None, 1)[1].strip()
        return [(process_word(words[0], env, escape), process_word(value, env, escape))]
    pairs = []
    for w in words:
        key, sep, value = w.partition("=")
        if what == "ARG" and not sep:
            pairs.append((process_word(key, env, escape), None))
            continue
        if not sep or not key:
            raise UsageError(f"syntax error - can't find = in {w!r}: must be of the form name=value", op="parse")
        pairs.append((process_word(key, env, escape), process_word(value, env, escape)))
    return pairs
