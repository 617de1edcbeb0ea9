"""Container IDs and names, in Docker's style.

An ID is 64 hex digits (256 random bits), shown as its first 12. A name is unique among
the containers of one state root; when none is given, one is made up from two words.
"""

from __future__ import annotations

import re
import secrets

ADJECTIVES = ("agile", "bold", "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "keen",
              "lucid", "merry", "nifty", "proud", "quick", "quiet", "sharp", "sleepy", "tender", "witty")
NOUNS = ("kernel", "socket", "inode", "thread", "signal", "daemon", "buffer", "packet", "module", "pipe",
         "bridge", "namespace", "cgroup", "overlay", "process", "mount", "syscall", "page", "queue", "tty")

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")


def new_id() -> str:
    return secrets.token_hex(32)


def short_id(full: str) -> str:
    return full[:12]


def random_name(taken) -> str:
    for _ in range(100):
        name = f"{secrets.choice(ADJECTIVES)}_{secrets.choice(NOUNS)}"
        if name not in taken:
            return name
    return f"{secrets.choice(ADJECTIVES)}_{secrets.choice(NOUNS)}_{secrets.token_hex(2)}"


def valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name))
