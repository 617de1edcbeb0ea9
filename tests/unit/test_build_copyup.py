"""A RUN layer does not carry /etc only because the runtime bound /etc/resolv.conf into it."""

import os

from minicontainer.build.runstep import drop_runtime_artifacts


def test_an_empty_copied_up_etc_is_dropped_but_a_changed_one_is_kept(tmp_path):
    low = tmp_path / "low"
    (low / "etc").mkdir(parents=True)
    (low / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.chmod(low / "etc", 0o755)
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.chmod(upper / "etc", 0o755)
    (upper / "etc" / "resolv.conf").write_text("")        # the runtime's mount point
    drop_runtime_artifacts(upper, [low])
    assert not (upper / "etc").exists()

    (upper / "etc").mkdir()
    os.chmod(upper / "etc", 0o700)                         # the step changed /etc's mode: that is content
    drop_runtime_artifacts(upper, [low])
    assert (upper / "etc").is_dir()
    os.rmdir(upper / "etc")
    (upper / "etc").mkdir()
    os.chmod(upper / "etc", 0o755)
    (upper / "etc" / "motd").write_text("written by the step\n")
    drop_runtime_artifacts(upper, [low])
    assert (upper / "etc" / "motd").exists()
