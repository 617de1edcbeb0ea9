"""Container IDs and names, in Docker's style.

An ID is 64 hex digits (256 random bits), shown as its first 12. A name is unique among
the containers of one state root; when none is given, one is made up from two words.
"""

from __future__ import annotations

import re
import os

ADJECTIVES = ("agile", "bold", "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "keen",
              "lucid", "merry", "nifty", "proud", "quick", "quiet", "sharp", "sleepy", "tender", "witty")
NOUNS = ("kernel", "socket", "inode", "thread", "signal", "daemon", "buffer", "packet", "module", "pipe",
         "bridge", "namespace", "cgroup", "overlay", "process", "mount", "syscall", "page", "queue", "tty")

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")


def new_id() -> str:
    return os.urandom(32).hex()


def short_id(full: str) -> str:
    return full[:12]


def _pick(words):
    return words[int.from_bytes(os.urandom(2), "big") % len(words)]


def random_name(taken) -> str:
    for _ in range(100):
        name = f"{_pick(ADJECTIVES)}_{_pick(NOUNS)}"
        if name not in taken:
            return name
    return f"{_pick(ADJECTIVES)}_{_pick(NOUNS)}_{os.urandom(2).hex()}"


def valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name))
