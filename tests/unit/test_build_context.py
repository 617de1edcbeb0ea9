"""Build context, .dockerignore, content hashes, cache keys and COPY placement, on fake trees (no root)."""

import os
import stat
from pathlib import Path

import pytest

from minicontainer.build import filesteps as F
from minicontainer.build.cache import BuildCache, step_key
from minicontainer.build.context import BuildContext, IgnoreRules, content_hash
from minicontainer.build.runstep import drop_runtime_artifacts
from minicontainer.build.stages import split_stages, stage_index, target_index
from minicontainer.build.parser import DockerfileError, parse
from minicontainer.errors import UsageError


def files(root: Path, spec: dict):
    for rel, text in spec.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.mark.parametrize("patterns,path,excluded", [
    (["*.log"], "a.log", True), (["*.log"], "d/a.log", False), (["**/*.log"], "d/e/a.log", True),
    (["**/*.log"], "a.log", True), (["build"], "build/x/y", True), (["build/"], "build/x", True),
    (["/secret"], "secret", True), (["*", "!keep"], "keep", False), (["*", "!keep"], "other", True),
    (["d", "!d/keep.txt"], "d/keep.txt", False), (["d", "!d/keep.txt"], "d/other", True),
    (["a?c"], "abc", True), (["a?c"], "a/c", False), (["[ab].txt"], "b.txt", True), (["# c", ""], "x", False),
    (["!x", "x"], "x", True),
])
def test_dockerignore_rules(patterns, path, excluded):
    assert IgnoreRules(patterns).excluded(path) is excluded


def test_context_sources_globs_and_ignores(tmp_path):
    files(tmp_path, {"a.txt": "a", "b.txt": "b", "c.log": "c", "d/e.txt": "e", ".dockerignore": "*.log\n"})
    ctx = BuildContext(tmp_path)
    assert ctx.sources("*.txt") == ["a.txt", "b.txt"]
    assert ctx.sources("./d/../a.txt") == ["a.txt"]
    assert ctx.sources(".") == [""]
    with pytest.raises(UsageError, match="excluded by .dockerignore"):
        ctx.sources("c.log")
    with pytest.raises(UsageError, match="not found"):
        ctx.sources("nope")
    with pytest.raises(UsageError, match="nothing matches"):
        ctx.sources("*.py")
    with pytest.raises(UsageError, match="outside the build context"):
        ctx.sources("../etc/passwd")


def test_symlink_out_of_the_context_is_refused(tmp_path):
    ctx_dir = tmp_path / "ctx"
    ctx_dir.mkdir()
    (tmp_path / "secret").write_text("s")
    os.symlink("../secret", ctx_dir / "link")
    ctx = BuildContext(ctx_dir)
    with pytest.raises(UsageError, match="outside the build context"):
        ctx.sources("link")


def test_entries_skip_ignored_files(tmp_path):
    files(tmp_path, {"d/a": "1", "d/b.tmp": "2", "d/sub/c": "3", ".dockerignore": "**/*.tmp\n"})
    ctx = BuildContext(tmp_path)
    assert [rel for rel, _ in ctx.entries("d")] == ["", "a", "sub", "sub/c"]


def test_content_hash_sees_bytes_and_modes_not_times(tmp_path):
    files(tmp_path, {"f": "one"})
    ctx = BuildContext(tmp_path)
    h1 = content_hash(ctx, ["f"])
    os.utime(tmp_path / "f", (1, 1))
    assert content_hash(ctx, ["f"]) == h1
    os.chmod(tmp_path / "f", 0o600)
    h2 = content_hash(ctx, ["f"])
    assert h2 != h1
    (tmp_path / "f").write_text("two")
    assert content_hash(ctx, ["f"]) not in (h1, h2)


def test_step_keys_chain():
    a = step_key(None, "RUN x")
    assert a == step_key(None, "RUN x") and a.startswith("sha256:")
    assert a != step_key("sha256:" + "0" * 64, "RUN x")
    assert step_key(None, "COPY a /", "sha256:1") != step_key(None, "COPY a /", "sha256:2")


class FakeStore:
    def __init__(self, images):
        self.images = images

    def resolve(self, ref):
        from minicontainer.errors import NotFoundError
        if ref not in self.images:
            raise NotFoundError("no such image", op="resolve")
        return self.images[ref]

    def has_layer(self, d):
        return d != "missing"


class FakeImage:
    def __init__(self, diff_ids):
        self.diff_ids = diff_ids


def test_cache_records_and_misses_on_deleted_images(tmp_path):
    cache = BuildCache(tmp_path)
    store = FakeStore({"img1": FakeImage(["l1"]), "img2": FakeImage(["missing"])})
    assert cache.lookup("k", store) is None
    cache.record("k", "img1")
    cache.record("k2", "img2")
    cache.record("k3", "gone")
    assert cache.lookup("k", store) is store.images["img1"]
    assert cache.lookup("k2", store) is None          # a layer was pruned
    assert cache.lookup("k3", store) is None          # the image was removed
    (tmp_path / "build" / "cache.json").write_text("{damaged")
    assert cache.lookup("k", store) is None


def make_layer(root: Path, spec: dict) -> Path:
    root.mkdir(parents=True)
    for rel, kind in spec.items():
        p = root / rel
        if kind == "dir":
            p.mkdir(parents=True, exist_ok=True)
        elif kind.startswith("->"):
            p.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(kind[2:], p)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(kind)
    return root


def test_lower_path_and_parents_copy_the_image_metadata(tmp_path):
    low = make_layer(tmp_path / "l1", {"usr/bin": "dir", "etc/passwd": "root:x:0:0::/root:/bin/sh\n"
                                       "app:x:1000:1000::/home/app:/bin/sh\n", "etc/group": "app:x:1000:\n",
                                       "bin": "->usr/bin"})
    os.chmod(low / "usr", 0o750)
    top = make_layer(tmp_path / "l2", {"opt": "dir"})
    layers = [top, low]
    assert F.lower_path(layers, "usr/bin") == low / "usr/bin"
    assert F.lower_path(layers, "opt") == top / "opt"
    assert F.lower_path(layers, "nope") is None
    tree = tmp_path / "tree"
    tree.mkdir()
    F.ensure_dirs(tree, layers, "/usr/bin/new")
    assert stat.S_IMODE(os.stat(tree / "usr").st_mode) == 0o750      # like the image's /usr
    assert stat.S_IMODE(os.stat(tree / "usr/bin/new").st_mode) == 0o755
    with pytest.raises(UsageError, match="symlink"):
        F.ensure_dirs(tree, layers, "/bin/x")
    if os.geteuid() == 0:
        assert F.resolve_owner(layers, "app") == (1000, 1000)
    assert F.resolve_owner(layers, "5:6") == (5, 6)
    with pytest.raises(UsageError):
        F.resolve_owner(layers, "nobody-here")


def test_copy_rules(tmp_path):
    ctx_dir = tmp_path / "ctx"
    files(ctx_dir, {"f.txt": "f", "d/a": "a", "d/s/b": "b"})
    ctx = BuildContext(ctx_dir)
    low = make_layer(tmp_path / "low", {"existing": "dir"})
    tree = tmp_path / "tree"
    tree.mkdir()
    F.copy_sources(ctx, ["f.txt"], "/renamed.txt", tree, [low])            # file to a new name
    F.copy_sources(ctx, ["f.txt"], "/existing", tree, [low])               # into a directory of the image
    F.copy_sources(ctx, ["f.txt"], "/new/", tree, [low])                   # trailing slash: a directory
    F.copy_sources(ctx, ["d"], "/dd", tree, [low], chmod=0o700)            # a directory's contents
    assert (tree / "renamed.txt").read_text() == "f"
    assert (tree / "existing/f.txt").read_text() == "f"
    assert (tree / "new/f.txt").read_text() == "f"
    assert (tree / "dd/a").read_text() == "a" and (tree / "dd/s/b").read_text() == "b"
    assert not (tree / "dd/d").exists()
    assert stat.S_IMODE(os.stat(tree / "dd/a").st_mode) == 0o700
    with pytest.raises(UsageError, match="must be a directory and end with a /"):
        F.copy_sources(ctx, ["f.txt", "d"], "/multi", tree, [low])


def test_add_recognises_tars_and_urls(tmp_path):
    import tarfile
    (tmp_path / "x").write_text("x")
    with tarfile.open(tmp_path / "a.tgz", "w:gz") as t:
        t.add(tmp_path / "x", arcname="x")
    with tarfile.open(tmp_path / "a.tar", "w") as t:
        t.add(tmp_path / "x", arcname="x")
    assert F.is_local_tar(tmp_path / "a.tgz") and F.is_local_tar(tmp_path / "a.tar")
    assert not F.is_local_tar(tmp_path / "x")
    assert F.is_url("https://example.com/a") and F.is_url("git@github.com:a/b") and not F.is_url("a/b")


def test_drop_runtime_artifacts_only_removes_empty_new_mount_points(tmp_path):
    upper = make_layer(tmp_path / "upper", {"proc": "dir", "dev": "dir", "etc/hosts": "", "data/x": "1"})
    (upper / "sys").mkdir()
    (upper / "sys/keep").write_text("written by the step")
    low = make_layer(tmp_path / "low", {"dev": "dir"})
    drop_runtime_artifacts(upper, [low])
    left = sorted(str(p.relative_to(upper)) for p in upper.rglob("*"))
    assert left == ["data", "data/x", "dev", "sys", "sys/keep"]


def test_stages_and_targets():
    df = parse("ARG V=1\nFROM busybox AS one\nRUN a\nFROM one AS two\nFROM scratch\nCOPY --from=one / /\n")
    globals_, stages = split_stages(df)
    assert [g.cmd for g in globals_] == ["ARG"]
    assert [(s.index, s.name, s.base, len(s.instructions)) for s in stages] == [
        (0, "one", "busybox", 1), (1, "two", "one", 0), (2, None, "scratch", 1)]
    assert stage_index(stages, "ONE", 2) == 0 and stage_index(stages, "0", 2) == 0
    assert stage_index(stages, "busybox", 2) is None
    with pytest.raises(UsageError):
        stage_index(stages, "2", 2)
    assert target_index(stages, None) == 2 and target_index(stages, "two") == 1
    with pytest.raises(UsageError, match="could not be found"):
        target_index(stages, "three")
    with pytest.raises(DockerfileError, match="duplicate stage name"):
        split_stages(parse("FROM a AS x\nFROM b AS x\n"))
