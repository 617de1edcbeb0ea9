"""The functions and value printing of Go templates, as docker's ``--format`` has them.

Go's text/template prints a value with fmt's ``%v`` (https://pkg.go.dev/fmt): lists as
``[a b]``, maps as ``map[k:v]`` with sorted keys, a nil at the top of an action as
``<no value>``. Its builtins (``and or not len index slice print printf println eq ne lt le gt ge``)
come with the language; docker adds ``json upper lower title join split pad truncate``
(docker/cli ``templates.basicFunctions``). The evaluator is :mod:`.gotemplate`.
"""

from __future__ import annotations

import json as _json
import re


def truth(value) -> bool:
    """Go's notion of empty: false, 0, "", nil and empty lists/maps are false."""
    return value is not None and value is not False and value != 0 and value != "" and value != [] \
        and value != {} if not isinstance(value, bool) else value


def go_str(value, top: bool = True) -> str:
    """fmt.Sprint of a decoded JSON value; a null at the top of an action is ``<no value>``."""
    if value is None:
        return "<no value>" if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        text = repr(value)
        return re.sub(r"e([-+]?)0*(\d\d)", lambda m: f"e{m.group(1) or '+'}{m.group(2)}", text)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v, False) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k], False)}" for k in sorted(value)) + "]"
    return str(value)


class Record(dict):
    """A row of a listing (``ps``, ``images``): docker formats a Go struct there, so a missing
    field is ``can't evaluate field X in type <go_type>`` rather than a map's missing key, and
    ``{{json .}}`` is the struct's MarshalJSON: keys sorted, ``<>&`` escaped as Go's encoder does."""

    def __init__(self, values: dict, go_type: str = "struct"):
        super().__init__(values)
        self.go_type = go_type


def to_json(value) -> str:
    """docker's ``json`` function: compact, not HTML-escaped (a listing row: see :class:`Record`)."""
    if isinstance(value, Record):
        text = _json.dumps(value, separators=(",", ":"), sort_keys=True)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _printf(fmt: str, *args) -> str:
    """fmt.Sprintf for the verbs people use: %s %v %d %q %t %f %x %%, with width/precision flags."""
    args = list(args)
    out = []

    def one(m):
        flags, verb = m.group(1), m.group(2)
        if verb == "%":
            return "%"
        if not args:
            return f"%!{verb}(MISSING)"
        arg = args.pop(0)
        if verb in "sv":
            return ("%" + flags + "s") % go_str(arg, False)
        if verb == "q":
            return ("%" + flags + "s") % to_json(go_str(arg, False) if not isinstance(arg, str) else arg)
        if verb == "t":
            return go_str(bool(arg) if isinstance(arg, bool) else arg, False)
        if verb in "dxXobeEfgG" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
            return ("%" + flags + ("i" if verb == "d" else verb)) % (int(arg) if verb in "dxXob" else arg) \
                if verb != "b" else format(int(arg), "b")
        return f"%!{verb}({type(arg).__name__}={go_str(arg, False)})"
    out.append(re.sub(r"%([-+# 0]*\d*(?:\.\d+)?)([a-zA-Z%])", one, fmt))
    if args:
        out.append("%!(EXTRA " + ", ".join(go_str(a, False) for a in args) + ")")
    return "".join(out)


def _sprint(*args) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(a, False)
    return out


def _index(item, *keys):
    for key in keys:
        if isinstance(item, dict):
            if key in item:
                item = item[key]
            else:      # the zero value: "" for a map of strings (labels), nil otherwise
                item = "" if all(isinstance(v, str) for v in item.values()) else None
        elif isinstance(item, (list, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise ValueError(f"cannot index slice/array with type {type(key).__name__}")
            if not 0 <= key < len(item):
                raise ValueError(f"index out of range: {key}")
            item = item[key]
        else:
            raise ValueError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item, *bounds):
    """Go's ``slice x 1 2`` = ``x[1:2]`` (strings and lists; at most two bounds here)."""
    if not isinstance(item, (str, list)):
        raise ValueError(f"can't slice item of type {go_type(item)}")
    if len(bounds) > 2 or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
        raise ValueError("slice bounds must be at most two integers")
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) == 2 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise ValueError(f"index out of range: {lo}:{hi}")
    return item[lo:hi]


def _length(item):
    if isinstance(item, (str, list, dict)):
        return len(item)
    raise ValueError(f"len of {'nil pointer' if item is None else 'type ' + go_type(item)}")


def _compare(op):
    def check(a, b):
        if type(a) is not type(b) and not ({type(a), type(b)} <= {int, float}):
            raise ValueError("incompatible types for comparison")
        if op != "eq" and not isinstance(a, (int, float, str)) or isinstance(a, bool) and op != "eq":
            raise ValueError("invalid type for comparison")
        return {"eq": a == b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op] \
            if op != "eq" else a == b
    if op == "eq":
        return lambda a, *bs: any(check(a, b) for b in bs) if bs else _raise("missing argument for comparison")
    return check


def _raise(msg):
    raise ValueError(msg)


def go_type(value) -> str:
    return {dict: "map[string]interface {}", list: "[]interface {}", str: "string", bool: "bool",
            int: "float64", float: "float64"}.get(type(value), "interface {}")


def _string(value) -> str:
    """docker's string functions take strings only (Go checks the argument's type)."""
    if not isinstance(value, str):
        raise ValueError(f"wrong type for value; expected string; got {go_type(value)}")
    return value


def _strings(value) -> list:
    if not isinstance(value, list):
        raise ValueError(f"wrong type for value; expected []string; got {go_type(value)}")
    return value


def _pad(s, left, right):
    return " " * int(left) + go_str(s, False) + " " * int(right)


FUNCS = {
    "json": to_json, "upper": lambda s: _string(s).upper(), "lower": lambda s: _string(s).lower(),
    "title": lambda s: re.sub(r"\b\w", lambda m: m.group().upper(), _string(s)),
    "join": lambda items, sep: _string(sep).join(_string(i) for i in _strings(items)),
    "split": lambda s, sep: _string(s).split(_string(sep)), "pad": _pad,
    "truncate": lambda s, n: _string(s)[:int(n)], "len": _length, "index": _index, "slice": _slice,
    "print": _sprint, "println": lambda *a: " ".join(go_str(x, False) for x in a) + "\n", "printf": _printf,
    "not": lambda v: not truth(v), "eq": _compare("eq"), "ne": lambda a, b: not _compare("eq")(a, b),
    "lt": _compare("lt"), "le": _compare("le"), "gt": _compare("gt"), "ge": _compare("ge"),
}
LAZY = ("and", "or")     # evaluate their arguments only as far as needed, as Go 1.18+ does


