"""Published images, checked against clients no one here wrote: a pulled image runs, skopeo
copies what minicontainer pushed (digests kept) and pushes what minicontainer pulls, and
podman pulls and runs what minicontainer pushed. All on a registry the fixture started on
127.0.0.1; podman gets private --root/--runroot and its cgroups are cleaned after it."""

import json
import shutil
import subprocess
import tempfile

import pytest
from podman_host import libpod_cgroups, podman_leftovers_removed

from minicontainer import paths
from minicontainer.images.store import ImageStore
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push

pytestmark = pytest.mark.privileged


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def test_a_pushed_removed_pulled_image_runs(cli, state_root, lab_registry, docker_config):
    ref = f"{lab_registry.address}/lab/bb:1"
    base = ["--root", str(state_root)]
    assert run([cli, *base, "tag", "busybox", ref]).returncode == 0
    assert run([cli, *base, "push", ref]).returncode == 0
    assert run([cli, *base, "rmi", ref, "busybox"]).returncode == 0
    p = run([cli, *base, "pull", ref])
    assert p.returncode == 0, p.stderr
    assert "Pull complete" in p.stdout and "Already exists" not in p.stdout
    r = run([cli, *base, "run", "--rm", "--network", "none", ref, "echo", "hi from the registry"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi from the registry\n"


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed (install-system-deps.sh)")
def test_skopeo_copies_what_we_pushed_and_we_pull_what_skopeo_pushed(state_root, lab_registry, docker_config,
                                                                       tmp_path):
    from minicontainer.images import archive
    store = ImageStore(state_root)
    settings = lab_registry.settings(docker_config)
    store.tag("busybox", "mc/bb:1")
    digest, _ = push(store, "mc/bb:1", settings)
    src = f"docker://{lab_registry.address}/mc/bb:1"
    r = run(["skopeo", "copy", "--src-tls-verify=false", src, f"oci:{tmp_path / 'oci'}:x"])
    assert r.returncode == 0, r.stderr
    index = json.loads((tmp_path / "oci" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest                   # the manifest arrived byte for byte
    raw = run(["skopeo", "inspect", "--tls-verify=false", "--raw", src])
    assert json.loads(raw.stdout)["config"]["digest"] == store.resolve("busybox").id

    # the other way: minicontainer save -> skopeo pushes the OCI archive -> minicontainer pulls
    archive.save(store, ["busybox"], tmp_path / "bb.tar")
    dest = f"docker://{lab_registry.address}/skopeo/bb:2"
    r = run(["skopeo", "copy", "--dest-tls-verify=false", f"oci-archive:{tmp_path / 'bb.tar'}", dest])
    assert r.returncode == 0, r.stderr
    wanted = store.resolve("busybox").id
    fresh = ImageStore(tmp_path / "fresh")
    got = pull(fresh, "skopeo/bb:2", settings)
    assert got.id == wanted and got.repo_tags == ["skopeo/bb:2"]
    assert (got.layer_dirs[0] / "bin" / "busybox").exists()


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed (install-system-deps.sh)")
def test_podman_pulls_and_runs_what_we_pushed(state_root, lab_registry, docker_config, tmp_path):
    store = ImageStore(state_root)
    ref = f"{lab_registry.address}/mc/podman:1"
    store.tag("busybox", ref)
    push(store, ref, lab_registry.settings(docker_config))
    (docker_config / "config.json").write_text("{}")             # podman wants the file when $DOCKER_CONFIG is set
    runroot = tempfile.mkdtemp(prefix="mc-podrun-")              # podman refuses a runroot over 50 characters
    pod = ["podman", "--root", str(tmp_path / "podman-root"), "--runroot", runroot,
           "--runtime", shutil.which("runc") or "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    before = libpod_cgroups()
    try:
        with podman_leftovers_removed():
            try:
                r = run(pod + ["pull", "--tls-verify=false", ref])
                assert r.returncode == 0, r.stderr
                assert r.stdout.strip() == store.resolve(ref).id[7:]         # podman's image ID is our config digest
                r = run(pod + ["run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
                               "--ulimit", "nproc=4096:4096", ref, "echo", "hi from podman"])
                assert r.returncode == 0, r.stderr
                assert r.stdout == "hi from podman\n"
            finally:
                run(pod + ["rm", "-af"])
                run(pod + ["rmi", "-af"])
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    assert not (libpod_cgroups() - before)

