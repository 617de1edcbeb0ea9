"""CI runs the lab from a fresh clone in another folder: no committed file may name the folder
this checkout happens to live in (a recorded result, a notebook output, a doc)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tracked_text_files():
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        path = ROOT / name
        if path.is_file() and path.suffix in {".py", ".ipynb", ".json", ".md", ".cfg", ".toml", ".yml",
                                              ".yaml", ".sh", ".txt", ""}:
            yield name, path


def test_no_committed_file_names_the_checkout_folder():
    here = str(ROOT)
    found = [name for name, path in tracked_text_files()
             if here in path.read_text(errors="replace")]
    assert not found, f"files naming this checkout's folder {here}: {found}"
