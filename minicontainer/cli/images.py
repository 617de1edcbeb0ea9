"""Image commands: images, history, tag, rmi, image prune,
save, load, import, diff, commit, export. Thin: parse, call minicontainer.images, print.
(pull and push are in :mod:`.registry`.)"""

from __future__ import annotations

import time

from ..paths import state_root


def _store(args):
    from ..images.store import ImageStore
    return ImageStore(state_root(args.root))


def _human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{n}B"
        n /= 1000
    return f"{n}B"


def _ago(created: str) -> str:
    try:
        t = time.mktime(time.strptime(created[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    except (ValueError, OverflowError):
        return created or "unknown"
    s = max(0, time.time() - t)
    for unit, secs in (("year", 31536000), ("month", 2592000), ("week", 604800), ("day", 86400),
                       ("hour", 3600), ("minute", 60)):
        if s >= secs:
            k = int(s // secs)
            return f"{k} {unit}{'s' if k > 1 else ''} ago"
    return "less than a minute ago"


# -- images -------------------------------------------------------------------
#: ``images --format`` fields (docker's ImageContext) and their column titles
IMAGE_FIELDS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                "VirtualSize": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}
IMAGE_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


def add_images_arguments(p):
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]",
                   help="only this repository (a glob, as --filter reference= takes it)")
    p.add_argument("-a", "--all", action="store_true", help="also the intermediate images of builds")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="show full image IDs")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="dangling=true|false, label=KEY[=VALUE], before=IMAGE, since=IMAGE, until=TIME, "
                        "reference=PATTERN")
    p.add_argument("--format", help="'table', 'json', or a Go template such as '{{.Repository}}:{{.Tag}}'")


def image_rows(images, no_trunc: bool = False) -> list[dict[str, str]]:
    """One row per tag (untagged: one ``<none>`` row), with docker's ``images --format`` fields."""
    from ..images.listing import created_epoch
    rows = []
    for im in images:
        created = created_epoch(im.created)
        for t in im.repo_tags or ["<none>:<none>"]:
            repo, _, tag = t.rpartition(":")
            rows.append({"ID": im.id if no_trunc else im.short_id, "Repository": repo, "Tag": tag,
                         "Digest": "<none>", "CreatedSince": _ago(im.created),
                         "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
                         "Size": _human_size(im.size), "VirtualSize": _human_size(im.size),
                         "Containers": "N/A", "SharedSize": "N/A", "UniqueSize": "N/A"})
    return rows


def _docker_codes(execute):
    from .containers import docker_codes
    return docker_codes(execute)


@_docker_codes
def execute_images(args) -> int:
    from ..images.listing import parse_filters, select
    from .formats import listing_lines
    filters = parse_filters(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = select(_store(args), filters, all_images=args.all)
    rows = image_rows(images, args.no_trunc)
    if args.quiet:       # one line per row, as docker CLI 28 prints them (an image tagged twice: twice)
        for r in rows:
            print(r["ID"])
        return 0
    for line in listing_lines(args.format, rows, IMAGE_FIELDS, IMAGE_TABLE, "*formatter.imageContext"):
        print(line)
    return 0


def _containers(args):
    """The lead's container store (minicontainer.runtime.containers), for the container verbs."""
    from ..runtime.containers import ContainerStore
    return ContainerStore(state_root(args.root))


def _in_use(args) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for c in _containers(args).list():
        users.setdefault(c.image_id, []).append(c.name or c.id[:12])
    return users


def _progress(total: int, label: str):
    from ..images.progress import Progress
    return Progress(total, label)


# -- history --------------------------------------------------------------------
#: ``history --format`` fields (docker's historyContext) and their column titles
HISTORY_FIELDS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                  "Size": "SIZE", "Comment": "COMMENT"}
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def add_history_arguments(p):
    p.add_argument("image")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--format", help="'table', 'json', or a Go template such as '{{.CreatedBy}}'")


def execute_history(args) -> int:
    from .formats import listing_lines
    store = _store(args)
    im = store.resolve(args.image)
    layers = iter(im.diff_ids)
    entries = []
    for h in im.history:
        size = 0
        if not h.get("empty_layer"):
            d = next(layers, None)
            size = store.blob_path(d).stat().st_size if d else 0
        by = h.get("created_by", "")
        if not args.no_trunc and len(by) > 45:
            by = by[:44] + "…"
        entries.append({"ID": "<missing>", "CreatedSince": _ago(h.get("created", "")),
                        "CreatedAt": h.get("created", ""), "CreatedBy": by, "Size": _human_size(size),
                        "Comment": h.get("comment", "")})
    entries.reverse()
    if entries:
        entries[0]["ID"] = im.id if args.no_trunc else im.short_id
    if args.quiet:
        print("\n".join(e["ID"] for e in entries))
        return 0
    for line in listing_lines(args.format, entries, HISTORY_FIELDS, HISTORY_TABLE, "*formatter.historyContext"):
        print(line)
    return 0


# -- tag / rmi / image prune ------------------------------------------------------
def add_tag_arguments(p):
    p.add_argument("source", metavar="SOURCE_IMAGE")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def execute_tag(args) -> int:
    _store(args).tag(args.source, args.target)
    return 0


def add_rmi_arguments(p):
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="remove even if tagged twice or in use (untags only)")


def execute_rmi(args) -> int:
    store, users = _store(args), _in_use(args)
    for ref in args.images:
        print("\n".join(store.remove(ref, in_use=users, force=args.force)))
    return 0


def add_image_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    prune = sub.add_parser("prune", help="remove unused untagged images and unused layers")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask (accepted for Docker compatibility)")
    add_images_arguments(sub.add_parser("ls", aliases=["list"], help="list images (as 'images')"))
    from .containers import add_inspect_arguments
    add_inspect_arguments(sub.add_parser("inspect", help="show images as JSON, or through a Go template (-f)"), "image")


def execute_image(args) -> int:
    if args.action in ("ls", "list"):
        return execute_images(args)
    if args.action == "inspect":
        from .containers import execute_inspect
        return execute_inspect(args)
    lines = _store(args).prune(in_use=_in_use(args))
    print("\n".join(lines) if lines else "Total reclaimed space: 0B")
    return 0


# -- save / load / import / export ---------------------------------------------------
def add_save_arguments(p):
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", required=True, help="write to this file (an OCI layout tar)")


def execute_save(args) -> int:
    from ..images import archive
    store = _store(args)
    total = sum(store.resolve(r).size for r in args.images)
    bar = _progress(total, "saving")
    archive.save(store, args.images, args.output, progress=bar)
    bar.close()
    return 0


def add_load_arguments(p):
    p.add_argument("-i", "--input", required=True, help="an OCI layout or docker-save tar (gzip or not)")


def execute_load(args) -> int:
    import os
    from ..images import archive
    bar = _progress(os.path.getsize(args.input) if os.path.exists(args.input) else 0, "loading")
    images = archive.load(_store(args), args.input, progress=bar)
    bar.close()
    for im in images:
        print("\n".join(f"Loaded image: {t}" for t in im.repo_tags) or f"Loaded image ID: {im.id}")
    return 0


def add_import_arguments(p):
    p.add_argument("file", help="a root filesystem tar (gzip or not)")
    p.add_argument("ref", nargs="?", metavar="REPOSITORY[:TAG]")


def execute_import(args) -> int:
    from ..images import archive
    im = archive.import_rootfs(_store(args), args.file, [args.ref] if args.ref else [])
    print(im.id)
    return 0


def add_export_arguments(p):
    p.add_argument("container")
    p.add_argument("-o", "--output", required=True, help="write the flattened filesystem to this tar")


def execute_export(args) -> int:
    from ..images import archive
    c = _containers(args).get(args.container)
    store = _store(args)
    archive.export(store, store.resolve(c.image_id), c.upper_dir, args.output)
    return 0


# -- diff / commit ----------------------------------------------------------------
def add_diff_arguments(p):
    p.add_argument("container")


def execute_diff(args) -> int:
    from ..images.changes import diff
    c = _containers(args).get(args.container)
    for kind, path in diff(c.upper_dir, _store(args).resolve(c.image_id).layer_dirs):
        print(f"{kind} {path}")
    return 0


def add_commit_arguments(p):
    p.add_argument("container")
    p.add_argument("ref", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-m", "--message", default="", help="commit message (history comment)")
    p.add_argument("-a", "--author", default="", help="author")


def execute_commit(args) -> int:
    from ..images.commit import commit
    c = _containers(args).get(args.container)
    store = _store(args)
    cmd = " ".join(getattr(c, "command", []) or [])
    im = commit(store, store.resolve(c.image_id), c.upper_dir, tags=[args.ref] if args.ref else [],
                created_by=f"minicontainer commit {c.name or c.id[:12]}" + (f" ({cmd})" if cmd else ""),
                comment=args.message, author=args.author)
    print(im.id)
    return 0
