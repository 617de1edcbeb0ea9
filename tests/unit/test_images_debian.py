"""The Debian image's recipe without root or network: reading apt sources (one-line and deb822),
the recipe hash, mmdebstrap's command line, the image config, and install's skip."""

from __future__ import annotations

import json

import pytest

from minicontainer.errors import ImageError
from minicontainer.images import debian as D

ONE_LINE = """\
# a comment
deb http://mirror.invalid/debian bookworm main contrib
deb-src http://mirror.invalid/debian bookworm main
deb [arch=amd64] http://mirror.invalid/debian bookworm-updates main # trailing comment
deb [ arch=amd64 trusted=no ] http://mirror.invalid/debian-security bookworm-security main
deb http://mirror.invalid/debian bullseye main
"""

DEB822 = """\
Types: deb deb-src
# a comment inside a stanza
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.invalid/debian
Suites: bookworm
Components: main
"""


def etc_with(tmp_path, one_line=None, deb822=None):
    apt = tmp_path / "etc" / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    if one_line is not None:
        (apt / "sources.list").write_text(one_line)
    if deb822 is not None:
        (apt / "sources.list.d" / "debian.sources").write_text(deb822)
    return tmp_path / "etc"


def test_one_line_sources_keep_bookworm_entries_only(tmp_path):
    assert D.host_sources(etc_with(tmp_path, one_line=ONE_LINE)) == [
        "deb http://mirror.invalid/debian bookworm main contrib",
        "deb [arch=amd64] http://mirror.invalid/debian bookworm-updates main",
        "deb [ arch=amd64 trusted=no ] http://mirror.invalid/debian-security bookworm-security main"]


def test_deb822_sources_become_one_line_entries(tmp_path):
    key = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    assert D.host_sources(etc_with(tmp_path, deb822=DEB822)) == [
        f"deb {key}http://mirror.invalid/debian bookworm main",
        f"deb {key}http://mirror.invalid/debian bookworm-updates main",
        "deb http://mirror.invalid/debian-security bookworm-security main"]


def test_a_host_without_a_debian_archive_is_a_clear_error(tmp_path):
    with pytest.raises(ImageError, match="name no debian bookworm archive"):
        D.host_sources(etc_with(tmp_path, one_line="deb http://mirror.invalid/ubuntu jammy main\n"))


def test_the_recipe_hash_follows_every_input():
    base = D.recipe(["deb http://a.invalid/debian bookworm main"], "1.3.5")
    assert D.recipe_hash(base) == D.recipe_hash(dict(base))
    assert D.recipe_hash(base) != D.recipe_hash(D.recipe(["deb http://b.invalid/debian bookworm main"], "1.3.5"))
    assert D.recipe_hash(base) != D.recipe_hash(D.recipe(base["sources"], "1.4"))


def test_mmdebstrap_reads_the_sources_from_stdin():
    argv = D.mmdebstrap_argv("-")
    assert argv[:2] == ["mmdebstrap", "--variant=minbase"] and argv[-3:] == ["bookworm", "-", "-"]
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv


def test_config_is_dockers_debian_config_with_labels():
    rec = D.recipe(["deb http://a.invalid/debian bookworm main"], "1.3.5")
    cfg = D.image_config("sha256:" + "a" * 64, rec, D.recipe_hash(rec), "2026-12-03T00:00:00Z")
    assert cfg["config"]["Cmd"] == ["bash"] and cfg["config"]["Env"] == [D.PATH_ENV]
    labels = cfg["config"]["Labels"]
    assert labels[D.RECIPE_LABEL] == "sha256:" + D.recipe_hash(rec)
    assert labels["org.opencontainers.image.created"] == "2026-12-03T00:00:00Z"
    assert "a.invalid" not in json.dumps(cfg)          # the mirror is in the image's files, not its config
    assert cfg["rootfs"]["diff_ids"] == ["sha256:" + "a" * 64]


def test_install_skips_a_store_that_has_the_same_recipe(tmp_path):
    from minicontainer.images.store import ImageStore
    store = ImageStore(tmp_path / "root")
    busybox = store.ensure_busybox()
    rec = D.recipe(["deb http://a.invalid/debian bookworm main"], "1.3.5")
    cfg = D.image_config(busybox.diff_ids[0], rec, D.recipe_hash(rec), "2026-12-03T00:00:00Z")
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(cfg))
    said = []
    first = D.install(store, tmp_path / "unused.tar", cfg_path, say=said.append)   # the layer is there already
    again = D.install(store, tmp_path / "unused.tar", cfg_path, say=said.append)
    assert first.id == again.id and "already in" in said[-1]
    assert store.resolve("debian:bookworm-slim").config["Cmd"] == ["bash"]
