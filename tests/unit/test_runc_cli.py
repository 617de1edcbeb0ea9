"""minicontainer-runc's command line without root: signals, spec, features, errors and the log."""

import json
import signal

import pytest

from minicontainer.errors import UsageError
from minicontainer.oci import Spec, validate
from minicontainer.runc.cli import main
from minicontainer.runc.container import Store
from minicontainer.runtime.processes import parse_signal


@pytest.mark.parametrize("text,number", [("15", 15), ("TERM", 15), ("SIGTERM", 15), ("kill", 9), ("SIGUSR1", 10)])
def test_signals_by_number_and_name(text, number):
    assert parse_signal(text) == number == int(signal.Signals(number))


@pytest.mark.parametrize("text", ["0", "99", "NOPE", ""])
def test_bad_signal(text):
    with pytest.raises(UsageError, match="invalid signal"):
        parse_signal(text)


def test_spec_writes_a_valid_default_config_once(tmp_path, capsys):
    (tmp_path / "rootfs").mkdir()
    assert main(["spec", "--bundle", str(tmp_path)]) == 0
    spec = Spec.from_json((tmp_path / "config.json").read_text())
    validate(spec, str(tmp_path))
    assert spec.process.args == ["sh"] and spec.process.terminal and spec.root.readonly
    assert main(["spec", "--bundle", str(tmp_path)]) == 1
    assert "config.json exists" in capsys.readouterr().err


def test_features_and_version(capsys):
    assert main(["features"]) == 0
    feats = json.loads(capsys.readouterr().out)
    assert feats["ociVersionMin"] == "1.0.0" and "user" in feats["linux"]["namespaces"]
    assert feats["linux"]["cgroup"]["systemd"] is False
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("minicontainer-runc version")


def test_errors_are_one_line_status_1_and_logged_as_json(tmp_path, capsys):
    log = tmp_path / "log.json"
    assert main(["--root", str(tmp_path / "r"), "--log", str(log), "--log-format", "json", "state", "nope"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]


def test_systemd_cgroup_is_refused(capsys):
    assert main(["--systemd-cgroup", "list"]) == 1
    assert "--systemd-cgroup is not supported" in capsys.readouterr().err


def test_ids_are_checked(tmp_path):
    store = Store(tmp_path)
    for bad in ("a/b", "..", "", "x y"):
        with pytest.raises(UsageError, match="invalid container id"):
            store.dir(bad)
    assert store.dir("abc_1.2-3+x") == tmp_path / "abc_1.2-3+x"


def test_create_without_config_leaves_nothing(tmp_path, capsys):
    root = tmp_path / "root"
    assert main(["--root", str(root), "create", "--bundle", str(tmp_path), "c1"]) == 1
    assert "no config.json" in capsys.readouterr().err
    assert not root.exists() or not list(root.iterdir())


def test_list_of_an_empty_root(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
