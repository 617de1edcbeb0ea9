"""The event log: what happened to containers, images, networks and volumes, in order.

``docker events`` shows a stream of *events* - ``container start``, ``image tag``,
``network connect`` ... - that dockerd produces as it changes things. minicontainer has
no daemon, so the library itself writes them, whichever front end made the change (the
CLI, the engine, a notebook), to one append-only file of JSON lines per state root::

    <state root>/events.jsonl       the current log, one JSON object a line
    <state root>/events.1.jsonl     the previous one, kept after a rotation
    <state root>/events.lock        flock(2)ed while rotating

Each line carries Docker's event fields (moby ``api/types/events``): ``Type``
(container, image, network, volume), ``Action`` (create, start, die, destroy, tag,
delete ...), ``Actor`` ``{ID, Attributes}``, ``scope``, ``time`` (seconds) and
``timeNano``; container and image events also carry the old ``status``/``id``/``from``
fields that older clients read.

A line is written with one ``write(2)`` on a descriptor opened with ``O_APPEND``: the
kernel moves the file offset to the end and writes in one step, so lines written by
several processes at once never interleave (open(2), "O_APPEND"). Recording an event
never makes the change itself fail: a log that cannot be written is noted in the debug
log (:mod:`minicontainer.log`, channel ``minicontainer.events``) and the operation goes on. Readers (:func:`read`,
:func:`follow`) filter by time and by Docker's ``docker events --filter`` keys.

Only the standard library is used: containers record ``start`` on the start path.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

LOG = "events.jsonl"
OLD = "events.1.jsonl"
MAX_BYTES = 4 << 20            # rotate past 4 MiB (one older generation is kept)
TYPES = ("container", "image", "network", "volume", "daemon")
FILTER_KEYS = ("type", "event", "container", "image", "network", "volume", "label", "scope")


def _debug(msg: str, *args) -> None:
    from . import log                    # the runtime's debug log (imports logging only when listened to)
    log.debug("events", msg, *args)


def record(state_root, type_: str, action: str, actor_id: str, attributes: dict | None = None) -> dict:
    """Append one event to ``state_root``'s log; the event as written (also when writing failed)."""
    now = time.time_ns()
    attrs = {str(k): str(v) for k, v in (attributes or {}).items() if v is not None}
    event = {"Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
             "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
    if type_ in ("container", "image"):
        event.update({"status": action, "id": actor_id})
        if type_ == "container" and "image" in attrs:
            event["from"] = attrs["image"]
    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    path = Path(state_root) / LOG
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > MAX_BYTES:
            _rotate(Path(state_root), size)
    except OSError as err:
        _debug("cannot record %s %s %s in %s: %s", type_, action, actor_id, path, err)
    return event


def container(state_root, c, action: str, **attributes) -> dict:
    """A container event: Docker's attributes are the image, the name and the container's labels."""
    attrs = dict((c.config or {}).get("labels") or {})
    attrs.update({"image": c.image, "name": c.name}, **attributes)
    return record(state_root, "container", action, c.id, attrs)


def _rotate(root: Path, seen: int) -> None:
    from .locks import locked
    with locked(root / "events.lock", make_parent=False):
        try:
            if os.stat(root / LOG).st_size < seen:      # another writer rotated it meanwhile
                return
        except FileNotFoundError:
            return
        os.replace(root / LOG, root / OLD)


# -- reading -------------------------------------------------------------------------
def parse_time(text, *, now: float | None = None, op: str = "events") -> int | None:
    """A ``since``/``until`` value as nanoseconds: ``SECONDS[.FRACTION]`` as the docker CLI sends
    it, an RFC 3339 time, or a duration before now (``10m``, ``1h30m``, ``45s``). None when empty."""
    from .errors import UsageError
    if text is None or str(text).strip() == "":
        return None
    text = str(text).strip()
    try:
        secs, _, frac = text.partition(".")
        if secs.lstrip("-").isdigit() and (not frac or frac.isdigit()):
            return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        pass
    units = {"h": 3600, "m": 60, "s": 1}
    total, number = 0.0, ""
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total, number = total + float(number) * units[ch], ""
        else:
            break
    else:
        if not number and total:
            base = time.time() if now is None else now
            return int((base - total) * 1_000_000_000)
    from datetime import datetime
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"invalid time {text!r}: want seconds since the epoch, RFC 3339 or a duration such as 10m",
                         op=op) from None
    return int(stamp.timestamp() * 1_000_000_000)


def check_filters(filters: dict) -> dict[str, list[str]]:
    """Docker's filter map (``{"type": ["container"]}``; the old ``{"type": {"container": true}}`` too)
    checked against the keys ``docker events`` knows; UsageError names an unknown key."""
    from .errors import UsageError
    if not isinstance(filters, dict):
        raise UsageError("filters must be a JSON object", op="events")
    out = {}
    for key, values in filters.items():
        if key not in FILTER_KEYS:
            raise UsageError(f"invalid filter '{key}'", op="events")
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UsageError(f"invalid filter '{key}': want a list of strings", op="events")
        out[key] = values
    if "type" in out:
        bad = [t for t in out["type"] if t not in TYPES]
        if bad:
            raise UsageError(f"invalid filter 'type={bad[0]}'", op="events")
    return out


def matches(event: dict, filters: dict[str, list[str]]) -> bool:
    """Whether ``event`` passes every filter key (values of one key are alternatives)."""
    actor = event.get("Actor") or {}
    aid, attrs, kind = actor.get("ID", ""), actor.get("Attributes") or {}, event.get("Type")

    def same(name, value: str, want_type: str) -> bool:
        if name is None:
            return False
        if want_type == "image":                   # busybox, busybox:latest and docker.io/library/busybox
            return _image_name(name) == _image_name(value)
        return name == value

    def is_object(want_type: str, values: list[str]) -> bool:
        if kind == want_type:
            return any(aid == v or (v and aid.startswith(v)) or same(attrs.get("name"), v, want_type) for v in values)
        related = {"container": attrs.get("container"), "image": attrs.get("image")}.get(want_type)
        return related is not None and any(same(related, v, want_type) or related.startswith(v) for v in values)

    for key, values in filters.items():
        if not values:
            continue
        if key == "type" and kind not in values:
            return False
        if key == "event" and event.get("Action", "").split(":")[0] not in values:
            return False
        if key == "scope" and event.get("scope") not in values:
            return False
        if key in ("container", "image", "network", "volume") and not is_object(key, values):
            return False
        if key == "label" and not any(attrs.get(k) == v if sep else k in attrs
                                      for k, sep, v in (x.partition("=") for x in values)):
            return False
    return True


def _image_name(ref: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    return ref[:-len(":latest")] if ref.endswith(":latest") else ref


def _lines(path: Path, offset: int = 0):
    """Complete lines of ``path`` from ``offset``: (event, offset after it); a torn tail is left."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return
    pos = offset
    for raw in data.split(b"\n")[:-1]:
        pos += len(raw) + 1
        try:
            yield json.loads(raw), pos
        except ValueError:
            _debug("skipping a damaged line in %s at %d", path, pos)


def read(state_root, since: int | None = None, until: int | None = None, filters: dict | None = None) -> list[dict]:
    """The recorded events with ``since <= timeNano <= until`` (nanoseconds) that pass ``filters``."""
    root = Path(state_root)
    out = []
    for name in (OLD, LOG):
        for event, _ in _lines(root / name):
            t = event.get("timeNano", 0)
            if (since is None or t >= since) and (until is None or t <= until) and matches(event, filters or {}):
                out.append(event)
    return sorted(out, key=lambda e: e.get("timeNano", 0))


def follow(state_root, since: int | None = None, until: int | None = None, filters: dict | None = None,
           *, stop=lambda: False, poll: float = 0.05):
    """The events from ``since`` on, then new ones as they are written, until ``until`` passes
    or ``stop()`` is true. Without ``since`` only new events. A generator: it yields None every
    poll interval with nothing new, so a server can notice a client that went away."""
    root, filters = Path(state_root), filters or {}
    path = root / LOG
    try:
        st = os.stat(path)
        inode, offset = st.st_ino, st.st_size
    except FileNotFoundError:
        inode, offset = None, 0
    last = -1                   # an event read from the past is not yielded again from the tail
    if since is not None:
        for event in read(root, since, until, filters):
            last = event.get("timeNano", 0)
            yield event
    while not stop():
        if until is not None and time.time_ns() > until:
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and inode is not None and st.st_ino != inode:   # rotated: finish the old file
            for event, offset in _lines(root / OLD, offset):
                if event.get("timeNano", 0) > last and matches(event, filters):
                    yield event
            offset = 0
        inode = st.st_ino if st is not None else None
        new = False
        for event, offset in _lines(path, offset):
            t = event.get("timeNano", 0)
            if until is not None and t > until:
                return
            if t > last and matches(event, filters):
                new = True
                yield event
        if not new:
            yield None
            time.sleep(poll)
