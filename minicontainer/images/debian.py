"""A real Debian base image, ``debian:bookworm-slim``, made from Debian's own packages.

Docker's official ``debian`` images are made the same way in spirit: a tool unpacks
and configures the *essential* packages of a release into an empty directory (a
"bootstrap"), the result is tarred, and that tar is the image's one layer. Here the tool
is mmdebstrap(1) (Debian package ``mmdebstrap``): ``--variant=minbase`` installs the
Essential:yes packages plus apt (about 90 packages), and these dpkg options keep the
image small, as the ``-slim`` images do, and stay in the image (``/etc/dpkg/dpkg.cfg.d/
99mmdebstrap``) so that a later ``apt-get install`` inside it skips the same files::

    path-exclude=/usr/share/{man,info,locale,doc}/*   (docs' copyright files are kept)

The tar mmdebstrap writes carries device nodes under /dev; an image has none (the
runtime mounts its own /dev), so ``mmtarfilter --path-exclude=/dev/*`` drops them.

**Where the packages come from.** The image's ``/etc/apt/sources.list`` is the host's
own Debian archive, read from the host's apt sources (one-line ``sources.list`` files and
deb822 ``*.sources`` files, sources.list(5)) *when the image is built*: a machine that
can install Debian packages can then also ``apt-get update`` inside the image. Nothing
of those sources is written into this repository.

**Caching.** Everything that decides the result (suite, variant, options, the sources,
the mmdebstrap version) is hashed into a *recipe hash*. ``build`` keeps the tarball and
the image config under ``<build>/images/`` named by it, and does nothing when they are
there; ``install`` puts the image into a store unless that store already has
``debian:bookworm-slim`` with the same recipe label. The config is made once, at build
time, so every store gets the same image id. ``python -m minicontainer.images.debian``
does both (``make images``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import ImageError, MiniContainerError, NotFoundError
from ..paths import ETC_ROOT, project_build_dir

RECIPE_VERSION = 2
SUITE = "bookworm"
TAG = "debian:bookworm-slim"
VARIANT = "minbase"
DPKG_OPTS = ("path-exclude=/usr/share/man/*",
             "path-exclude=/usr/share/info/*",
             "path-exclude=/usr/share/locale/*",
             "path-include=/usr/share/locale/locale.alias",
             "path-exclude=/usr/share/doc/*",
             "path-include=/usr/share/doc/*/copyright")
APT_OPTS = ('Acquire::Languages "none"',)     # no translated package descriptions
RECIPE_LABEL = "org.minicontainer.recipe"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# -- the host's apt sources ------------------------------------------------------------
def _deb822(text: str) -> list[dict[str, str]]:
    """The stanzas of a deb822 file (sources.list(5), "DEB822-STYLE FORMAT")."""
    stanzas, cur, key = [], {}, None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
        elif line[0] in " \t" and key:
            cur[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            cur[key] = value.strip()
    return stanzas


def _text(path: Path) -> str:
    """A sources file's text; a missing one is empty, an unreadable one too (with a debug line)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
    except OSError as err:
        from .. import log
        log.swallowed("images", "read an apt sources file", err, path)
        return ""


def host_sources(etc: Path = ETC_ROOT, suite: str = SUITE) -> list[str]:
    """One-line ``deb`` entries for ``suite`` (and its -updates/-security) from the host's sources."""
    apt = Path(etc) / "apt"
    found: list[str] = []
    files = [apt / "sources.list"] + sorted((apt / "sources.list.d").glob("*.list"))
    for path in files:
        for line in _text(path).splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("deb "):
                continue
            rest = line[4:].strip()
            if rest.startswith("["):                      # [option=value ...] may hold spaces
                rest = rest.partition("]")[2]
            words = rest.split()
            if len(words) >= 2 and words[1].split("/")[0].startswith(suite):
                found.append(line)
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for st in _deb822(_text(path)):
            if "deb" not in st.get("types", "").split() or st.get("enabled", "yes").lower() == "no":
                continue
            opts = f"[signed-by={st['signed-by']}] " if st.get("signed-by", "").startswith("/") else ""
            for uri in st.get("uris", "").split():
                for s in st.get("suites", "").split():
                    if s.startswith(suite):
                        found.append(f"deb {opts}{uri} {s} {st.get('components', 'main')}")
    if not found:
        raise ImageError(f"the host's apt sources name no debian {suite} archive to build the image from",
                         op="debian image", path=apt)
    return list(dict.fromkeys(found))


# -- the recipe ---------------------------------------------------------------------
def mmdebstrap_version(run=subprocess.run) -> str:
    try:
        out = run(["mmdebstrap", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise ImageError("mmdebstrap is not installed (apt-get install mmdebstrap)", op="debian image") from err
    return out.strip().split()[-1] if out.strip() else "unknown"


def recipe(sources: list[str], version: str) -> dict:
    return {"recipe": RECIPE_VERSION, "suite": SUITE, "variant": VARIANT, "dpkgopt": list(DPKG_OPTS),
            "aptopt": list(APT_OPTS), "sources": sources, "mmdebstrap": version}


def recipe_hash(rec: dict) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()


def mmdebstrap_argv(target: str) -> list[str]:
    """The command line; the sources come on stdin (``-``): mmdebstrap then writes them to
    the image's /etc/apt/sources.list (a file argument would land in sources.list.d/)."""
    return (["mmdebstrap", f"--variant={VARIANT}", "--quiet", "--format=tar"]
            + [f"--dpkgopt={o}" for o in DPKG_OPTS] + [f"--aptopt={o}" for o in APT_OPTS]
            + [SUITE, target, "-"])


def image_config(diff_id: str, rec: dict, digest: str, created: str) -> dict:
    """The OCI config: Docker's debian image's Cmd and Env, labels saying how and when."""
    from .busybox import arch
    shown = " ".join(mmdebstrap_argv("-")[:-3] + [SUITE, "IMAGE.tar", "- <HOST-SOURCES"])
    labels = {"org.opencontainers.image.title": "debian",
              "org.opencontainers.image.version": "bookworm-slim",
              "org.opencontainers.image.created": created,
              "org.opencontainers.image.description":
                  f"Debian {SUITE} ({VARIANT}, no docs, man pages or locales) made from Debian's packages "
                  f"by mmdebstrap {rec['mmdebstrap']}; apt sources: the building host's archive",
              "org.minicontainer.made-by": f"minicontainer.images.debian recipe {RECIPE_VERSION}: {shown}",
              RECIPE_LABEL: f"sha256:{digest}"}
    return {"architecture": arch(), "os": "linux", "created": created,
            "config": {"Env": [PATH_ENV], "Cmd": ["bash"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "created_by": shown}]}


# -- build and install ---------------------------------------------------------------
def artifacts(build_dir: Path, digest: str) -> tuple[Path, Path]:
    """(rootfs tar, image config) for a recipe hash."""
    base = Path(build_dir) / "images" / f"debian-{SUITE}-slim-{digest[:16]}"
    return base.with_suffix(".tar"), base.with_suffix(".config.json")


def current(build_dir: Path | None = None, etc: Path = ETC_ROOT) -> tuple[Path, Path, str]:
    """The artifacts for this host's recipe: (tar, config, recipe hash); they may not exist yet."""
    rec = recipe(host_sources(etc), mmdebstrap_version())
    digest = recipe_hash(rec)
    tar, cfg = artifacts(build_dir or project_build_dir(), digest)
    return tar, cfg, digest


def build(build_dir: Path | None = None, *, etc: Path = ETC_ROOT, say=print) -> tuple[Path, Path]:
    """Run mmdebstrap unless this recipe's tarball and config are already in ``build_dir``."""
    from .commit import now_rfc3339
    from .digest import sha256_file
    sources = host_sources(etc)
    rec = recipe(sources, mmdebstrap_version())
    digest = recipe_hash(rec)
    tar, cfg_path = artifacts(build_dir or project_build_dir(), digest)
    if tar.is_file() and cfg_path.is_file():
        say(f"{TAG}: recipe {digest[:12]} already built ({tar.name})")
        return tar, cfg_path
    if not shutil.which("mmtarfilter"):
        raise ImageError("mmtarfilter is not installed (it comes with mmdebstrap)", op="debian image")
    tar.parent.mkdir(parents=True, exist_ok=True)
    part = tar.with_name(f".{tar.name}.partial-{os.getpid()}")
    errs = tar.with_name(f".mmdebstrap-{os.getpid()}.log")
    say(f"{TAG}: building with mmdebstrap ({VARIANT}, {len(sources)} apt sources from the host)")
    try:
        with open(part, "wb") as out, open(errs, "wb") as log:
            boot = subprocess.Popen(mmdebstrap_argv("-"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=log)
            filt = subprocess.Popen(["mmtarfilter", "--path-exclude=/dev/*"], stdin=boot.stdout, stdout=out,
                                    stderr=log)
            boot.stdout.close()             # mmtarfilter holds the pipe now
            boot.stdin.write(("\n".join(sources) + "\n").encode())
            boot.stdin.close()
            boot.wait()
            filt.wait()
            os.fsync(out.fileno())          # renamed into place below: on disk first
        if boot.returncode != 0 or filt.returncode != 0:
            lines = errs.read_text(errors="replace").strip().splitlines()
            last = (lines or [f"exit status {boot.returncode or filt.returncode}"])[-1]
            raise ImageError(f"mmdebstrap failed: {last.lower()}", op="debian image")
        diff_id, _ = sha256_file(part)
        cfg = image_config(diff_id, rec, digest, now_rfc3339())
        from ..records import write_atomic
        os.replace(part, tar)               # the config last: its presence says the pair is complete
        write_atomic(cfg_path, json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode(),
                     "cannot write the image config", ImageError, op="debian image")
    except OSError as err:
        raise ImageError(f"cannot build: {(err.strerror or str(err)).lower()}", op="debian image",
                         path=part) from err
    finally:
        for leftover in (part, errs):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    say(f"{TAG}: built {tar.name} ({tar.stat().st_size / 2**20:.0f} MiB)")
    return tar, cfg_path


def install(store, tar: Path, cfg_path: Path, tags=(TAG,), *, say=print):
    """Put the built image into ``store`` (an ImageStore) unless it holds the same recipe already."""
    from .archive import add_layer_tar
    raw = Path(cfg_path).read_bytes()
    cfg = json.loads(raw)
    want = cfg["config"]["Labels"][RECIPE_LABEL]
    with contextlib.suppress(NotFoundError):
        have = store.resolve(tags[0])
        if (have.config.get("Labels") or {}).get(RECIPE_LABEL) == want:
            say(f"{tags[0]}: already in {store.root} (recipe {want[7:19]})")
            return have
    diff_id = cfg["rootfs"]["diff_ids"][0]
    if not store.has_layer(diff_id):
        add_layer_tar(store, Path(tar), expect=diff_id)
    image = store.add_image(raw, list(tags))
    store.event("import", image.id, tags[0])
    say(f"{tags[0]}: {image.short_id} in {store.root}")
    return image


def main(argv: list[str] | None = None) -> int:
    from .store import ImageStore
    p = argparse.ArgumentParser(prog="python -m minicontainer.images.debian",
                                description=f"build {TAG} with mmdebstrap (cached) and put it into a state root")
    p.add_argument("--build-dir", type=Path, default=None, help="where the tarball is kept (default: build/)")
    p.add_argument("--root", type=Path, help="a state root to put the image into (default: only build)")
    args = p.parse_args(argv)
    try:
        tar, cfg = build(args.build_dir)
        if args.root:
            install(ImageStore(args.root), tar, cfg)
            ImageStore(args.root).ensure_busybox()
    except MiniContainerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
