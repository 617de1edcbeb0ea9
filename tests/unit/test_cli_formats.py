"""--format and filters at the command line, without root: inspect -f for containers, images,
networks and volumes (records made directly in a temporary state root), ps/images templates and
tables, images' positional REPOSITORY[:TAG], --filter, -q and --no-trunc; the inspect document's
Docker field names."""

import io
import json
import tarfile
from dataclasses import dataclass, field

import pytest

from minicontainer.cli import main
from minicontainer.cli.formats import align, inspect_lines, listing_lines
from minicontainer.errors import NotFoundError, UsageError
from minicontainer.images import listing


def run(capsys, root, *argv):
    rc = main(["--root", str(root), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def root(tmp_path_factory, image_root):
    """A state root with busybox (tagged busybox:latest, app:1, app:2), one untagged image, a
    created container 'web' and a volume 'data'. The tests only read it."""
    import shutil
    from minicontainer.images import archive
    from minicontainer.images.store import ImageStore
    from minicontainer.runtime.containers import ContainerStore
    from minicontainer.runtime.volumes import VolumeStore
    tmp_path = tmp_path_factory.mktemp("formats")
    state = tmp_path / "state"
    shutil.copytree(image_root, state, symlinks=True)
    store = ImageStore(state)
    store.tag("busybox", "app:1")
    store.tag("busybox", "app:2")
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    archive.import_rootfs(store, rootfs, [])
    image = store.resolve("busybox")
    ContainerStore(state).create(name="web", image="busybox", image_id=image.id, command=["sleep", "60"],
                                 config={"env": ["A=1"], "labels": {"tier": "front"}, "network": "none",
                                         "volumes": [{"type": "volume", "name": "data", "target": "/data",
                                                      "readonly": False, "source": ""}]})
    with VolumeStore(state).lock():
        VolumeStore(state).create("data")
    return state


# ----------------------------------------------------------------------------- inspect -f
def test_inspect_format_on_a_container(capsys, root):
    rc, out, _ = run(capsys, root, "inspect", "-f",
                     "{{.Name}} {{.State.Status}} {{.State.Running}} {{index .Config.Labels \"tier\"}} "
                     "{{json .Config.Env}} {{range .Mounts}}{{.Name}}:{{.Destination}}{{end}} {{len .Id}}", "web")
    assert (rc, out) == (0, '/web created false front ["A=1"] data:/data 64\n')
    rc, out, _ = run(capsys, root, "inspect", "--format", "{{.Config.Image}}|{{.HostConfig.NetworkMode}}", "web")
    assert out == "busybox|none\n"


def test_inspect_format_on_images_networks_volumes(capsys, root):
    rc, out, _ = run(capsys, root, "inspect", "-f", "{{.RepoTags}} {{.RootFS.Type}} {{.Os}}", "app:1")
    assert rc == 0 and out == "[app:1 app:2 busybox:latest] layers linux\n"
    rc, out, _ = run(capsys, root, "inspect", "-f", "{{.Driver}} {{(index .IPAM.Config 0).Subnet}}", "bridge")
    assert rc == 0 and out.split()[0] == "bridge" and out.split()[1].count("/") == 1
    rc, out, _ = run(capsys, root, "inspect", "-f", "{{.Name}} {{.Driver}} {{.UsedBy}}", "data")
    assert (rc, out) == (0, "data local [web]\n")
    rc, out, _ = run(capsys, root, "volume", "inspect", "-f", "{{.Name}}", "data")
    assert (rc, out) == (0, "data\n")
    rc, out, _ = run(capsys, root, "network", "inspect", "-f", "{{.name}} {{.default}}", "bridge")
    assert (rc, out) == (0, "bridge true\n")


def test_inspect_without_format_is_docker_json_and_type_restricts(capsys, root):
    rc, out, _ = run(capsys, root, "inspect", "web", "busybox")
    docs = json.loads(out)
    assert rc == 0 and [d["Id"][:7] for d in docs][1] == "sha256:" and docs[0]["Name"] == "/web"
    rc, out, err = run(capsys, root, "inspect", "--type", "image", "web")
    assert rc == 1 and json.loads(out) == [] and err == "minicontainer: no such image: web\n"


def test_inspect_errors_are_one_line_with_dockers_codes(capsys, root):
    rc, out, err = run(capsys, root, "inspect", "-f", "{{foo .Id}}", "web")
    assert (rc, out) == (64, "") and err == 'minicontainer: template parsing error: template: :1: ' \
                                            'function "foo" not defined\n'
    rc, out, err = run(capsys, root, "inspect", "-f", "{{.Nope}}", "web")
    assert rc == 1 and err.count("\n") == 1 and 'map has no entry for key "Nope"' in err
    rc, out, err = run(capsys, root, "inspect", "-f", "{{.Id", "web")
    assert rc == 64 and "unclosed action" in err
    rc, out, err = run(capsys, root, "inspect", "-f", "{{.Name}}", "web", "nothere")
    assert (rc, out, err) == (1, "/web\n", "minicontainer: no such object: nothere\n")


def test_container_document_has_dockers_fields(root):
    from minicontainer.runtime import Runtime
    from minicontainer.runtime.inspect import container_json
    doc = container_json(Runtime(root).containers.get("web"))
    for key in ("Id", "Created", "Path", "Args", "State", "Image", "Name", "RestartCount", "Driver", "Platform",
                "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings", "LogPath", "HostsPath"):
        assert key in doc, key
    assert set(doc["State"]) >= {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                                 "ExitCode", "Error", "StartedAt", "FinishedAt"}
    assert doc["Config"]["Labels"] == {"tier": "front"} and doc["Path"] == "sleep" and doc["Args"] == ["60"]
    assert doc["Mounts"][0]["Type"] == "volume" and doc["Mounts"][0]["Driver"] == "local"
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert doc["NetworkSettings"]["Networks"]["none"]["IPAddress"] == ""


# ----------------------------------------------------------------------------- ps / images output
def test_ps_format_variants(capsys, root):
    rc, out, _ = run(capsys, root, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert (rc, out) == (0, "web created\n")
    rc, out, _ = run(capsys, root, "ps", "-a", "--format", "table {{.Names}}\\t{{.Image}}")
    assert out == "NAMES     IMAGE\nweb       busybox\n"
    rc, out, _ = run(capsys, root, "ps", "-a", "--format", "json")
    assert json.loads(out)["Names"] == "web" and list(json.loads(out)) == sorted(json.loads(out))
    rc, _, err = run(capsys, root, "ps", "-a", "--format", "{{.Nope}}")
    assert rc == 1 and "can't evaluate field Nope in type *formatter.ContainerContext" in err
    rc, _, err = run(capsys, root, "ps", "-a", "--format", "{{if}}")
    assert rc == 1 and err.startswith("minicontainer: failed to parse template: template: :1: missing value")


def _lines(out):
    return out.rstrip("\n").split("\n")


def test_images_positional_reference_filter(capsys, root):
    rc, out, _ = run(capsys, root, "images", "app")
    rows = _lines(out)
    assert rc == 0 and rows[0].split()[:2] == ["REPOSITORY", "TAG"]
    assert [r.split()[:2] for r in rows[1:]] == [["app", "1"], ["app", "2"]]
    rc, out, _ = run(capsys, root, "images", "app:2", "--format", "{{.Repository}}:{{.Tag}}")
    assert out == "app:2\n"
    rc, out, _ = run(capsys, root, "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=a*:1")
    assert out == "app:1\n"
    rc, out, _ = run(capsys, root, "images", "nothing")
    assert rc == 0 and _lines(out) == [out.rstrip("\n")] and "REPOSITORY" in out


def test_images_dangling_quiet_and_no_trunc(capsys, root):
    rc, out, _ = run(capsys, root, "images", "-f", "dangling=true", "--format", "{{.Repository}} {{.Tag}}")
    assert out == "<none> <none>\n"
    rc, out, _ = run(capsys, root, "images", "-f", "dangling=true", "--format", "json")
    assert '"Digest":"\\u003cnone\\u003e"' in out and json.loads(out)["Tag"] == "<none>"   # Go's encoder
    rc, out, _ = run(capsys, root, "images", "-f", "dangling=false", "--format", "{{.Repository}}")
    assert sorted(_lines(out)) == ["app", "app", "busybox"]
    rc, out, _ = run(capsys, root, "images", "-q")
    ids = _lines(out)
    assert len(ids) == 4 and len(set(ids)) == 2 and all(len(i) == 12 for i in ids)   # per row, as docker 28
    rc, out, _ = run(capsys, root, "images", "-q", "--no-trunc", "busybox")
    assert _lines(out)[0].startswith("sha256:") and len(_lines(out)[0]) == 71
    rc, _, err = run(capsys, root, "images", "-f", "dangling=maybe")
    assert rc == 1 and "invalid filter 'dangling=maybe'" in err
    rc, _, err = run(capsys, root, "images", "-f", "colour=red")
    assert rc == 1 and "invalid filter 'colour=red'" in err


def test_images_before_since(capsys, root):
    rc, out, _ = run(capsys, root, "images", "--filter", "since=busybox", "--format", "{{.Repository}}")
    assert out == "<none>\n"           # the imported image is newer than busybox
    rc, out, _ = run(capsys, root, "images", "--filter", "before=busybox", "-q")
    assert out == ""
    rc, _, err = run(capsys, root, "images", "--filter", "before=nosuch")
    assert rc == 1 and "nosuch" in err


# ----------------------------------------------------------------------------- the library's selection
@dataclass
class _Image:
    id: str
    created: str
    repo_tags: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    diff_ids: list = field(default_factory=list)


class _Store:
    def __init__(self, images):
        self.images = images

    def list(self):
        return sorted(self.images, key=lambda i: i.created, reverse=True)

    def resolve(self, ref):
        for im in self.images:
            if ref in im.repo_tags or im.id == ref:
                return im
        raise NotFoundError(f"no such image: {ref}", op="resolve")


def test_select_labels_lineage_and_reference_narrowing():
    base = _Image("sha256:a", "2026-01-01T00:00:00Z", ["base:1"], {"Labels": {"team": "x"}},
                  [{"created_by": "FROM"}], ["sha256:l1"])
    step = _Image("sha256:b", "2026-01-02T00:00:00.5Z", [], {}, base.history + [{"created_by": "RUN a"}],
                  ["sha256:l1", "sha256:l2"])
    top = _Image("sha256:c", "2026-01-03T00:00:00+01:00", ["lib/app:2", "other:2"], {"Labels": {"team": "y"}},
                 step.history + [{"created_by": "RUN b"}], ["sha256:l1", "sha256:l2", "sha256:l3"])
    store = _Store([base, step, top])
    assert listing.lineage(store.list()) == {"sha256:b": "sha256:a", "sha256:c": "sha256:b"}
    ids = lambda images: [i.id for i in images]       # noqa: E731
    assert ids(listing.select(store)) == ["sha256:c", "sha256:a"]          # the intermediate step is hidden
    assert ids(listing.select(store, all_images=True)) == ["sha256:c", "sha256:b", "sha256:a"]
    assert ids(listing.select(store, {"label": ["team"]})) == ["sha256:c", "sha256:a"]
    assert ids(listing.select(store, {"label": ["team=x"]})) == ["sha256:a"]
    assert ids(listing.select(store, {"label": ["team=x", "other"]})) == []
    narrowed = listing.select(store, {"reference": ["lib/*"]})
    assert ids(narrowed) == ["sha256:c"] and narrowed[0].repo_tags == ["lib/app:2"]
    assert top.repo_tags == ["lib/app:2", "other:2"]                        # the store's object is untouched
    assert listing.select(store, {"reference": ["*"]})[0].repo_tags == ["other:2"]   # * stops at /
    assert ids(listing.select(store, {"until": ["2026-01-02T12:00:00Z"]})) == ["sha256:a"]


def test_glob_and_time_helpers():
    assert listing.glob_match("busy?ox:[0-9]*", "busybox:1.36") and not listing.glob_match("b*", "a/b")
    assert listing.glob_match("a\\*", "a*") and not listing.glob_match("a\\*", "ab")
    assert listing.created_epoch("1970-01-01T00:01:00.250000000Z") == 60.25
    assert listing.created_epoch("1970-01-01T01:00:00+01:00") == 0 and listing.created_epoch("junk") == 0
    with pytest.raises(UsageError, match="unclosed"):
        listing.glob_match("[ab", "a")
    with pytest.raises(UsageError):
        listing.parse_filters(["dangling"])


def test_formats_helpers():
    assert align(["a\tbb\tc", "dddd\te\tf"]) == ["a         bb        c", "dddd      e         f"]
    assert inspect_lines([{"a": 1}], None) == ['[\n    {\n        "a": 1\n    }\n]']
    assert inspect_lines([{"a": 1}, {"a": 2}], "json") == ['{"a":1}', '{"a":2}']
    assert listing_lines("{{.A}}", [{"A": "x"}], {"A": "COL"}, "table {{.A}}") == ["x"]
    assert listing_lines(None, [{"A": "x"}], {"A": "COL"}, "table {{.A}}\t{{.A}}") == ["COL       COL", "x         x"]


def test_container_and_image_subcommands(capsys, root):
    assert run(capsys, root, "container", "inspect", "-f", "{{.Name}}", "web")[:2] == (0, "/web\n")
    rc, out, err = run(capsys, root, "container", "inspect", "-f", "{{.Id}}", "busybox")
    assert (rc, out, err) == (1, "", "minicontainer: no such container: busybox\n")
    assert run(capsys, root, "image", "inspect", "-f", "{{.RootFS.Type}}", "busybox")[:2] == (0, "layers\n")
    assert run(capsys, root, "image", "inspect", "-f", "{{.Id}}", "web")[0] == 1
    rc, out, _ = run(capsys, root, "image", "ls", "app", "--format", "{{.Tag}}")
    assert (rc, out) == (0, "1\n2\n")
    assert run(capsys, root, "image", "list", "-q", "busybox")[1].strip() == run(capsys, root, "images", "-q",
                                                                                  "busybox")[1].strip()


def test_volume_ls_filters_and_format(capsys, root):
    assert run(capsys, root, "volume", "ls")[1] == "DRIVER    VOLUME NAME\nlocal     data\n"
    rc, out, _ = run(capsys, root, "volume", "ls", "--format", "{{.Name}}|{{.Driver}}|{{.Mountpoint}}")
    assert rc == 0 and out == f"data|local|{root / 'volumes' / 'data' / '_data'}\n"
    assert run(capsys, root, "volume", "ls", "-q", "-f", "dangling=false")[1] == "data\n"   # web uses it
    assert run(capsys, root, "volume", "ls", "-q", "-f", "dangling=true")[1] == ""
    assert run(capsys, root, "volume", "ls", "-q", "-f", "name=at", "-f", "driver=local")[1] == "data\n"
    assert run(capsys, root, "volume", "ls", "-q", "-f", "label=anonymous")[1] == ""
    rc, _, err = run(capsys, root, "volume", "ls", "-f", "size=1")
    assert rc == 1 and "invalid filter 'size=1'" in err


def test_ps_label_filter(capsys, root):
    assert run(capsys, root, "ps", "-aq", "-f", "label=tier")[1].strip() != ""
    assert run(capsys, root, "ps", "-aq", "-f", "label=tier=front", "-f", "name=web")[1].strip() != ""
    assert run(capsys, root, "ps", "-aq", "-f", "label=tier=back")[1] == ""
    assert run(capsys, root, "ps", "-aq", "-f", "label=tier", "-f", "label=other")[1] == ""   # every label


def test_shared_filter_helpers():
    from minicontainer import filters
    assert filters.parse(["a=1", "a=2", "b="], ("a", "b"), "x") == {"a": ["1", "2"], "b": [""]}
    with pytest.raises(UsageError, match="invalid filter 'c=1'.*a=, b="):
        filters.parse(["c=1"], ("a", "b"), "x")
    assert filters.labels_match({"k": "v"}, ["k", "k=v"]) and not filters.labels_match(None, ["k"])
    assert not filters.labels_match({"k": "v"}, ["k=w"]) and filters.labels_match({}, [])
    assert [filters.boolean({"d": [v]}, "d", "x") for v in ("true", "0", "FALSE", "1")] == [True, False, False, True]
    assert filters.boolean({}, "d", "x") is None
    with pytest.raises(UsageError, match="'d=yes'"):
        filters.boolean({"d": ["yes"]}, "d", "x")


def test_history_format_and_quiet(capsys, root):
    rc, out, _ = run(capsys, root, "history", "busybox")
    assert rc == 0 and out.split("\n")[0] == "IMAGE          CREATED        CREATED BY" + " " * 38 + "SIZE      COMMENT"
    rc, out, _ = run(capsys, root, "history", "--format", "{{.ID}}|{{.Size}}", "busybox")
    short = run(capsys, root, "images", "-q", "busybox")[1].strip()
    assert out.startswith(f"{short}|") and out.count("\n") == 1
    assert run(capsys, root, "history", "-q", "--no-trunc", "busybox")[1].startswith("sha256:")
