"""``minicontainer course check [NN ...]``: which exercises of a chapter a learner has done on
this machine, as the chapters' self-checks recorded them (notebooks/course.py: the course's
helper module, which this command loads from the course's notebooks folder)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..errors import NotFoundError, UsageError


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("check", help="report the exercises done of chapters NN (all chapters without NN)")
    c.add_argument("chapters", nargs="*", metavar="NN", help="chapter numbers, as the notebooks name them (01, 01a ...)")
    c.add_argument("--dir", help="the learner's progress folder (default: $MINICONTAINER_COURSE_DIR, "
                                 "else $XDG_STATE_HOME/minicontainer/course)")
    c.add_argument("--notebooks", help="the course's notebooks folder (default: the one beside this package)")


def notebooks_dir(given: str | None) -> Path:
    import minicontainer
    folder = Path(given) if given else Path(minicontainer.__file__).resolve().parents[1] / "notebooks"
    if not (folder / "course.py").is_file():
        raise NotFoundError(f"{folder}: not the course's notebooks folder (no course.py): pass --notebooks DIR",
                            op="course check")
    return folder


def load_course(folder: Path):
    spec = importlib.util.spec_from_file_location("course", folder / "course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["course"] = module                 # as the chapters' 'import course' names it
    spec.loader.exec_module(module)
    return module


def execute(args) -> int:
    folder = notebooks_dir(args.notebooks)
    course = load_course(folder)
    store = Path(args.dir) if args.dir else course.progress_dir()
    chapters = args.chapters or sorted(p.name.split("-", 1)[0] for p in folder.glob("[0-9][0-9]*-*.ipynb"))
    missing = 0
    for i, chapter in enumerate(chapters):
        try:
            text, left = course.report(chapter, store, folder)
        except FileNotFoundError as err:
            raise UsageError(f"{err} (chapters: {', '.join(sorted(p.name.split('-', 1)[0] for p in folder.glob('*.ipynb')))})",
                             op="course check") from err
        print(("\n" if i else "") + text)
        missing += left
    print(f"\n{missing} exercise(s) not done yet (progress from {store})" if missing else
          f"\nevery exercise done (progress from {store})")
    return 1 if missing else 0
