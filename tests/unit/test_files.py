"""remove_tree: the runtime's rm -rf (mode-000 overlay work dirs, read-only dirs, symlinks left alone)."""

import os
import subprocess
import sys

from minicontainer.files import remove_tree


def make_tree(root):
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "f").write_text("x")
    (root / "a" / "work" / "work").mkdir(parents=True)
    outside = root / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    (root / "a" / "link").symlink_to(outside)
    os.chmod(root / "a" / "b" / "c", 0)
    os.chmod(root / "a" / "work" / "work", 0)   # as overlayfs leaves its work dir
    os.chmod(root / "a", 0o500)
    return outside


def test_removes_locked_down_trees_but_not_what_links_point_to(tmp_path):
    outside = make_tree(tmp_path)
    remove_tree(tmp_path / "a")
    assert not (tmp_path / "a").exists()
    assert (outside / "keep").read_text() == "keep"
    remove_tree(tmp_path / "a")   # already gone: fine


def test_works_for_an_ordinary_user(tmp_path):
    """The same tree owned by an unprivileged user, removed by that user (rootless mode)."""
    if os.geteuid() != 0:
        outside = make_tree(tmp_path)
        remove_tree(tmp_path / "a")
        assert not (tmp_path / "a").exists() and (outside / "keep").exists()
        return
    import shutil
    import tempfile
    base = tempfile.mkdtemp(prefix="mc-files-")   # under /tmp: reachable for that user
    code = ("import os, pathlib, sys; sys.path.insert(0, sys.argv[2]); os.setgid(65534); os.setuid(65534);"
            "from test_files import make_tree; from minicontainer.files import remove_tree;"
            "root = pathlib.Path(sys.argv[1]); make_tree(root); remove_tree(root / 'a');"
            "assert not (root / 'a').exists() and (root / 'outside' / 'keep').exists()")
    try:
        os.chown(base, 65534, 65534)
        res = subprocess.run([sys.executable, "-c", code, base, os.path.dirname(__file__)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
