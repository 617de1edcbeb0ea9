"""The debian:bookworm-slim image `make images` builds with mmdebstrap: what is in it, and apt
working inside it behind the bridge's NAT — `apt-get update` in a container and a Dockerfile
`RUN apt-get install` — talking only to the package archive the host itself uses.

The image is built once by `make images` (build/images/, cached by recipe hash); these tests
only import it into their own state root, and fail (never skip) when it was not built."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from census import census, wait_for
from minicontainer.images import debian
from minicontainer.images.store import ImageStore
from minicontainer.paths import project_build_dir

pytestmark = pytest.mark.skipif(shutil.which("nft") is None and shutil.which("iptables") is None,
                                reason="no nft or iptables: no outbound NAT on this host")


@pytest.fixture(scope="module")
def deb_root():
    """A state root with busybox and the Debian image; checked for leftovers and removed after."""
    tar, cfg, digest = debian.current(project_build_dir())
    if not (tar.is_file() and cfg.is_file()):
        pytest.fail(f"the debian:bookworm-slim image for this host's recipe ({digest[:12]}) is not built: "
                    f"run `make images` first (it runs mmdebstrap once and caches the result in "
                    f"{tar.parent})")
    root = Path(tempfile.mkdtemp(prefix="mc-debian-"))
    store = ImageStore(root)
    store.ensure_busybox()
    debian.install(store, tar, cfg, say=lambda text: None)
    yield root
    from minicontainer.runtime import Runtime
    rt = Runtime(root)
    for c in rt.containers.list():
        rt.remove(c.id, force=True)
    wait_for(lambda: not census(root)["processes"], 10.0)
    left = census(root)
    shutil.rmtree(root, ignore_errors=True)
    for kind in ("mounts", "processes", "addresses"):
        assert not left[kind], f"{kind} left behind: {left[kind]}"


def mc(cli, root, *args, check=True, timeout=180):
    res = subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res


@pytest.fixture
def nat_network(cli, deb_root):
    """A bridge network of our own (its NAT rules go with it)."""
    name = f"deb{uuid.uuid4().hex[:8]}"
    mc(cli, deb_root, "network", "create", name)
    yield name
    mc(cli, deb_root, "network", "rm", name, check=False)
    from minicontainer.network import NetworkStore
    from minicontainer.network.nat import detect
    from minicontainer.network.store import bridge_name_for
    assert bridge_name_for(name) not in detect().bridges(), "nat rules left behind"
    assert name not in [n.name for n in NetworkStore(deb_root).ls()]


def test_it_is_debian_bookworm_with_dockers_config(cli, deb_root):
    out = mc(cli, deb_root, "run", "--rm", "--network", "none", "debian:bookworm-slim", "sh", "-c",
             "cat /etc/os-release; echo ===; cat /etc/apt/sources.list; echo ===; "
             "ls /usr/share/man 2>/dev/null | wc -l; find /usr/share/doc -type f ! -name copyright | wc -l").stdout
    release, sources, counts = out.split("===\n")
    assert "ID=debian" in release and "VERSION_CODENAME=bookworm" in release
    assert sources.splitlines() == debian.host_sources()      # the host's archive, taken at build time
    assert counts.split() == ["0", "0"]                       # no man pages, no docs but copyright files
    img = ImageStore(deb_root).resolve("debian:bookworm-slim")
    assert img.config["Cmd"] == ["bash"] and img.config["Env"] == [debian.PATH_ENV]
    labels = img.config["Labels"]
    assert labels[debian.RECIPE_LABEL] == "sha256:" + debian.current(project_build_dir())[2]
    assert "mmdebstrap" in labels["org.minicontainer.made-by"] and labels["org.opencontainers.image.created"]
    assert len(img.diff_ids) == 1


def test_apt_get_update_behind_nat(cli, deb_root, nat_network):
    res = mc(cli, deb_root, "run", "--rm", "--network", nat_network, "debian:bookworm-slim",
             "apt-get", "update", "-q")
    assert "Reading package lists" in res.stdout
    assert "Err:" not in res.stdout and "W: " not in res.stderr, res.stdout + res.stderr


def test_dockerfile_run_apt_get_install(cli, deb_root, nat_network, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends hello "
        "&& rm -rf /var/lib/apt/lists/*\n"
        'CMD ["hello"]\n')
    mc(cli, deb_root, "build", "--network", nat_network, "-t", "hello-deb", str(tmp_path))
    assert mc(cli, deb_root, "run", "--rm", "--network", "none", "hello-deb").stdout == "Hello, world!\n"
    img = ImageStore(deb_root).resolve("hello-deb")
    assert len(img.diff_ids) == 2                             # the Debian layer + what apt installed
    mc(cli, deb_root, "rmi", "hello-deb")
