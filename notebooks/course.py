"""The course's one helper module: what every chapter imports (``import course``).

A chapter's first code cell does ``import course`` and then uses, instead of kits of its own:

- :data:`AS_ROOT` and :func:`banner`: whether this reader can act on the real kernel, and the
  coloured boxes that say so;
- :class:`Recorded`: the results a chapter recorded on the course machine, shown under a banner
  that says *recorded, not measured on your machine* to readers without root;
- :class:`Lab`: a private state root and ``lab.mc(...)``, which runs the ``minicontainer`` command
  line and first prints the line a reader would type (``$ minicontainer --root $STATE run ...``);
  :func:`sh` does the same for any other command (runc, podman, docker);
- :func:`in_mount_namespace`: run a function in a forked child with a private mount namespace
  (mount_namespaces(7)), through the runtime's own fork-and-report-back helper;
- :func:`check`: an exercise's self-check. It prints *done* with what the kernel showed, or *not
  done yet* with what was observed and a hint, and records the verdict on this machine so that a
  trainer can see a learner's progress with ``minicontainer course check NN``.

Progress lives in one JSON file per chapter under ``$MINICONTAINER_COURSE_DIR``, or else
``$XDG_STATE_HOME/minicontainer/course`` (``~/.local/state/minicontainer/course``): the exercise
number, its title, the verdict, what was observed and when. Nothing else is written.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent
AS_ROOT = os.geteuid() == 0
BIN = Path(sys.executable).parent          # the console scripts beside this interpreter (the venv)

_BOX = '<div style="border-left:6px solid #d9822b;background:#fff4e5;padding:6px 10px">{html}</div>'


def banner(html: str, *, heading: str | None = None) -> None:
    """An orange box above a cell's output saying what this reader gets instead (recorded
    results, a dry-run plan), and the same words as ``*** text ***`` for a plain-text reader."""
    import html as entities
    from IPython.display import display
    if heading:
        html = f"<b>{heading}</b> {html}"
    plain = entities.unescape(re.sub(r"<[^>]+>", "", html))
    display({"text/plain": f"*** {plain} ***", "text/html": _BOX.format(html=html)}, raw=True)


class Recorded:
    """A chapter's results recorded on the course machine (``data/NN-recorded.json``): the
    printed ``outputs`` of the cells that need root, and the ``values`` their figures and
    self-checks use. Shown to readers without root, always labelled as recorded."""

    def __init__(self, chapter: str, data_dir: Path = NOTEBOOKS / "data", file: str | None = None):
        path = Path(data_dir) / (file or f"{chapter}-recorded.json")
        if not path.is_file():
            raise FileNotFoundError(f"{path.name}: the recorded results of chapter {chapter} are missing")
        self.data = json.loads(path.read_text())
        self.machine, self.date = self.data["machine"], self.data["date"]
        self.outputs, self.values = self.data.get("outputs", {}), self.data.get("values", {})

    def __getitem__(self, key: str):
        """The file's own fields (``RECORDED["values"]["ex1"]``), as chapters read them."""
        return self.data[key]

    @property
    def label(self) -> str:
        return f"recorded on {self.machine}, {self.date}"

    def show(self, key: str) -> None:
        """Without root: the output this cell printed on the course machine, under a banner."""
        banner(f"<b>Not running as root: {self.label}</b> &mdash; not measured on your machine.")
        print(self.outputs[key], end="")


@dataclass
class Result:
    """What a command did: its exit status and what it printed."""
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return self.stdout


def _shown(argv: list[str], replace: dict[str, str]) -> str:
    line = shlex.join(argv)
    for real, name in replace.items():
        line = line.replace(real, name)
    return line


def sh(argv: list[str], *, shown: str | None = None, check: bool = True, echo: bool = True,
       quiet: bool = True, timeout: float = 120, replace: dict[str, str] | None = None) -> Result:
    """Print ``$ COMMAND`` as a reader would type it, run it (stdin closed; output through files,
    never pipes, so a process it leaves running cannot hold the cell open), print its output
    unless ``quiet``, and raise with its last words if it failed and ``check`` is set."""
    line = shown or _shown([os.path.basename(argv[0]), *argv[1:]], replace or {})
    if echo:
        print("$", line)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout).returncode
        out.seek(0); err.seek(0)
        res = Result(rc, out.read(), err.read())
    if not quiet:
        print(res.stdout + res.stderr, end="")
    if check and rc != 0:
        raise RuntimeError(f"{line} exited {rc}: {(res.stderr or res.stdout).strip()[-300:]}")
    return res


class Lab:
    """A private state root for one chapter (a temporary folder, removed by :meth:`clean_up`),
    and the minicontainer command line on it."""

    def __init__(self, chapter: str, root: Path | None = None, shown_as: str = "$STATE"):
        self.chapter = chapter
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix=f"mc-nb{chapter}-"))
        self.shown_as = shown_as                 # how the echoed command line names the state root
        self.cli = str(BIN / "minicontainer")

    def mc(self, *args: str, check: bool = True, echo: bool = True, quiet: bool = True,
           timeout: float = 120) -> Result:
        """``$ minicontainer --root $STATE ARGS``: printed, run, and returned (see :func:`sh`)."""
        return sh([self.cli, "--root", str(self.root), *args], check=check, echo=echo, quiet=quiet,
                  timeout=timeout, replace={str(self.root): self.shown_as})

    def text(self, *args: str, **kw) -> str:
        """:meth:`mc`, returning only what the command printed on its standard output."""
        return self.mc(*args, **kw).stdout

    def inspect(self, ref: str, echo: bool = True) -> dict:
        """``minicontainer inspect REF``, the one object it lists."""
        return json.loads(self.mc("inspect", ref, echo=echo).stdout)[0]

    def clean_up(self) -> list[str]:
        """Remove every container of this state root, then the folder; the names of any the
        runtime could not remove (they are left for ``minicontainer system prune``)."""
        left = []
        if (self.root / "containers").is_dir():
            for cid in self.mc("ps", "-a", "-q", "--no-trunc", echo=False).stdout.split():
                if self.mc("rm", "-f", cid, check=False, echo=False).returncode != 0:
                    left.append(cid)
        if not left:
            shutil.rmtree(self.root, ignore_errors=True)
        return left


def in_mount_namespace(fn):
    """Run ``fn(syscalls)`` in a forked child inside a new, private mount namespace and return
    its JSON-able answer; the child's error is raised here (the runtime's run_in_child)."""
    from minicontainer.kernel import constants as C
    from minicontainer.kernel.linux import LinuxSyscalls
    from minicontainer.runtime.channel import run_in_child
    sc = LinuxSyscalls()

    def job():
        sc.unshare(C.CLONE_NEWNS, why="a private mount namespace")
        sc.mount(None, "/", None, C.MS_REC | C.MS_PRIVATE, None, why="keep our mounts away from the host")
        return fn(sc)
    return run_in_child(sc, "a child in its own mount namespace", job)


# ----------------------------------------------------------------------------- exercises

def progress_dir() -> Path:
    """Where this machine keeps the learner's verdicts (see the module docstring)."""
    if os.environ.get("MINICONTAINER_COURSE_DIR"):
        return Path(os.environ["MINICONTAINER_COURSE_DIR"])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "minicontainer" / "course"


def chapter_file(chapter: str, notebooks: Path = NOTEBOOKS) -> Path:
    found = sorted(Path(notebooks).glob(f"{chapter}-*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no chapter {chapter} in {notebooks}")
    return found[0]


_HEADING = re.compile(r"^###\s+Exercise\s+(\d+):\s*(.+)$", re.M)


def exercises(chapter: str, notebooks: Path = NOTEBOOKS) -> dict[int, str]:
    """The chapter's exercises, number -> title, from its ``### Exercise N: title`` headings."""
    nb = json.loads(chapter_file(chapter, notebooks).read_text())
    found = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for number, title in _HEADING.findall("".join(cell["source"])):
                found[int(number)] = title.strip()
    return found


@dataclass
class Verdict:
    chapter: str
    exercise: int
    done: bool
    observed: str
    hint: str = ""

    def __str__(self) -> str:
        if self.done:
            return f"exercise {self.exercise}: done. Observed: {self.observed}"
        return f"exercise {self.exercise}: not done yet. Observed: {self.observed}\n  hint: {self.hint}"


def check(chapter: str, exercise: int, done: bool, observed: str, hint: str = "", *,
          record: bool = True, store: Path | None = None) -> Verdict:
    """An exercise's self-check. ``done`` must come from what the kernel (or the runtime's
    state) shows after the learner's step, ``observed`` says what that was in a few words, and
    ``hint`` what to try when it is not right. Prints the verdict and records it (unless
    ``record`` is false: a reader without root checking a recorded value)."""
    verdict = Verdict(chapter, exercise, bool(done), observed, "" if done else hint)
    print(verdict)
    if record:
        _record(verdict, store or progress_dir())
    return verdict


def _record(verdict: Verdict, store: Path) -> None:
    path = store / f"{verdict.chapter}.json"
    data = load_progress(verdict.chapter, store)
    entry = data.setdefault(str(verdict.exercise), {"attempts": 0})
    entry.update(attempts=entry["attempts"] + 1, last=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 last_observed=verdict.observed, done=entry.get("done", False) or verdict.done)
    if verdict.done and "done_at" not in entry:
        entry.update(done_at=entry["last"], observed=verdict.observed)
    from minicontainer.records import write_atomic
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode(), "cannot record the exercise's verdict")


def load_progress(chapter: str, store: Path | None = None) -> dict:
    path = (store or progress_dir()) / f"{chapter}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def report(chapter: str, store: Path | None = None, notebooks: Path = NOTEBOOKS) -> tuple[str, int]:
    """A trainer's view of chapter ``chapter`` on this machine: one line per exercise (done,
    tried, not tried), and how many are not done yet."""
    found, data = exercises(chapter, notebooks), load_progress(chapter, store)
    lines = [f"chapter {chapter}: {chapter_file(chapter, notebooks).stem}"]
    if not found:
        lines.append("  (this chapter has no exercises)")
    missing = 0
    for number, title in sorted(found.items()):
        entry = data.get(str(number))
        if entry and entry.get("done"):
            state = f"done     {entry['done_at']}  observed: {entry['observed']}"
        elif entry:
            missing += 1
            state = f"tried {entry['attempts']}x, not done yet  last observed: {entry['last_observed']}"
        else:
            missing += 1
            state = "not tried"
        lines.append(f"  exercise {number}  {title[:48]:<48}  {state}")
    return "\n".join(lines), missing
