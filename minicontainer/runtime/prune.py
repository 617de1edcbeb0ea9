"""``container prune`` and ``system prune``: remove stopped containers, sweep crash leftovers.

SIGKILL cannot be caught: a runtime, monitor or reaper killed half-way runs no cleanup
code at all. What it can leave behind, and how each is found again:

* **stopped containers**: their records (exited, created, dead) — removed like ``rm``;
* **state directories**: ``containers/.new-<id>`` (a create that died before its
  rename(2)), ``.rm-<id>`` (a removal that died during its rmtree), a directory with an
  unreadable ``state.json``, and temporary ``.state.json.<pid>`` files of dead writers.
  Creation and removal run under the store lock, so under that lock any of these is stale;
* **cgroups**: ``<hierarchy>/.../minicontainer/<id>`` directories (cgroups(7)) whose
  container is not running. Only ids this state root knows of are touched (a record, a
  leftover directory, or a monitor whose command line names this root): a machine may
  hold several state roots, and another root's cgroups are reported, never removed;
* **processes**: an ``mc-monitor`` whose container directory has vanished (its argv
  names the exit file under this root), and what is left in a removed cgroup (killed);
* **network**: endpoint records, host veths, addresses and port-proxy processes of
  containers whose init is gone (:func:`minicontainer.network.prune`);
* **mounts**: anything mounted below the state root in *our* mount namespace (the
  runtime itself mounts only inside containers' namespaces, so normally nothing).

Every kernel call (kill, umount2, cgroup rmdir) goes through the ``Syscalls`` object.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

from ..files import discard_tree
from .. import log
from ..errors import KernelError, MiniContainerError, NotFoundError, StateError
from ..kernel import constants as C
from .state import Status

HEX = set("0123456789abcdef")


def _is_id(text: str) -> bool:
    return len(text) == 64 and set(text) <= HEX


def prune_containers(rt) -> list[str]:
    """Remove every stopped (created, exited, dead) container; their ids."""
    removed = []
    for c in rt.containers.list():
        if rt.refresh(c).state in (Status.RUNNING, Status.PAUSED):
            continue
        try:
            rt.remove(c.id)   # re-checks the state under the container's lock
        except (StateError, NotFoundError):
            continue
        removed.append(c.id)
    return removed


def sweep_state_dirs(rt) -> tuple[list[str], set[str]]:
    """Remove stale ``.new-``/``.rm-`` directories, unreadable records and temp files.

    Returns what was removed and the container ids those directories belonged to.
    """
    removed, ids = [], set()
    base = rt.containers.dir
    if not base.is_dir():
        return removed, ids
    with rt.containers.store_lock():
        for entry in sorted(os.listdir(base)):
            path = base / entry
            if entry.startswith((".new-", ".rm-")):
                ids.add(entry.split("-", 1)[1])
            elif entry.startswith(".") or not path.is_dir():
                continue
            else:
                try:
                    rt.containers.load(entry)
                    removed += _stale_temp_files(path, rt.proc_root)
                    continue
                except MiniContainerError:
                    ids.add(entry)   # unreadable or missing state.json: nothing can manage it any more
            discard_tree(path, "prune")
            removed.append(entry)
    return removed, ids


def _stale_temp_files(cdir: Path, proc_root: Path) -> list[str]:
    out = []
    for name in os.listdir(cdir):
        if name.startswith(".state.json."):
            pid = name.rsplit(".", 1)[1]
            if pid.isdigit() and not (proc_root / pid).exists():
                (cdir / name).unlink(missing_ok=True)
                out.append(f"{cdir.name[:12]}/{name}")
    return out


def monitors(state_root: Path, proc_root: Path) -> dict[int, str]:
    """{pid: container id} of every mc-monitor whose exit file lies under this state root."""
    prefix = str(Path(state_root) / "containers") + "/"
    found = {}
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        try:
            argv = (proc_root / entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 3 and os.path.basename(argv[0]) == b"mc-monitor":
            exit_file = argv[2].decode(errors="replace")
            if exit_file.startswith(prefix):
                cid = exit_file[len(prefix):].split("/", 1)[0]
                if _is_id(cid):
                    found[int(entry)] = cid
    return found


def kill_orphan_monitors(rt, known: set[str]) -> tuple[list[str], set[str]]:
    """SIGKILL monitors of containers this root no longer has (their PID 1 dies with them)."""
    removed, ids = [], set()
    for pid, cid in sorted(monitors(rt.root, rt.proc_root).items()):
        if cid in known:
            continue
        try:
            rt.sys.kill(pid, signal.SIGKILL, f"the monitor of vanished container {cid[:12]}")
        except KernelError as err:
            if err.errno != errno.ESRCH:
                raise
            log.swallowed("prune", "kill an orphan monitor", err, cid)   # gone meanwhile
            continue
        removed.append(f"{pid} mc-monitor ({cid[:12]})")
        ids.add(cid)
    return removed, ids


def sweep_mounts(rt) -> list[str]:
    """Unmount (lazily, deepest first) anything mounted below the state root in our namespace."""
    root = str(rt.root).rstrip("/") + "/"
    try:
        text = (rt.proc_root / "self" / "mountinfo").read_text()
    except OSError:
        return []
    targets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            # mountinfo escapes blanks as octal (\040), see proc(5)
            target = fields[4].encode().decode("unicode_escape")
            if (target + "/").startswith(root):
                targets.append(target)
    removed = []
    for target in sorted(set(targets), key=len, reverse=True):
        try:
            rt.sys.umount2(target, C.MNT_DETACH, "a mount a crash left below the state root")
            removed.append(target)
        except MiniContainerError as err:   # busy or gone: listed again by the next prune
            log.swallowed("prune", "unmount a leftover", err, target)
    return removed


def sweep_network(rt, also: set[str] = frozenset()) -> list[str]:
    """The network's leftovers of our containers: those with a directory here, and ``also``
    (ids whose directories this prune just removed)."""
    if not (rt.root / "networks").is_dir():
        return []
    from .. import network
    found = network.prune(rt.root, proc_root=rt.proc_root, container_ids=rt.containers.known_ids() | set(also))
    return [f"{kind[:-1] if kind.endswith('s') else kind} {item}" for kind, items in found.items() for item in items]


def prune(rt, *, system: bool = True, volumes: bool = False) -> dict[str, list[str]]:
    """Remove stopped containers and sweep leftovers; {kind: [what was removed]}.

    ``system=False`` is ``container prune`` (containers, their state dirs, cgroups and
    monitors); ``system=True`` adds the network, mounts and (``volumes``) unused volumes.
    """
    report: dict[str, list[str]] = {"containers": prune_containers(rt)}
    report["state dirs"], stale_ids = sweep_state_dirs(rt)
    records = {c.id: c for c in rt.containers.list()}
    report["processes"], monitor_ids = kill_orphan_monitors(rt, set(records))
    from .cgroup_sweep import sweep_cgroups
    gone = stale_ids | monitor_ids | set(report["containers"])    # ours, though their directories are gone
    report["cgroups"] = sweep_cgroups(rt, also=gone)
    if system:
        report["network"] = sweep_network(rt, also=gone)
        report["mounts"] = sweep_mounts(rt)
        if volumes:
            from .volumes import VolumeStore
            report["volumes"] = VolumeStore(rt.root).prune()
    return report
