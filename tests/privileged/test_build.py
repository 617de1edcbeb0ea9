"""`minicontainer build` for real: RUN steps in containers, the layer cache, stages, and cleanup."""

import json
import os
import signal
import subprocess
import tarfile
import time

import pytest

from census import census, container_dirs

if os.geteuid() != 0:
    pytest.skip("needs root: builds run RUN steps in real containers (namespaces, overlay, cgroups)",
                allow_module_level=True)


def mc(cli, root, *args, timeout=120):
    return subprocess.run([cli, "--root", str(root), *args], capture_output=True, text=True, timeout=timeout)


def write(ctx, files):
    for rel, text in files.items():
        p = ctx / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ctx


def build(cli, root, ctx, *args):
    return mc(cli, root, "build", *args, str(ctx))


def inspect(cli, root, ref):
    res = mc(cli, root, "inspect", ref)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)[0]


def store_state(root):
    """What a failed build must not change: containers, staging, images and layers in the store."""
    images = json.loads((root / "images" / "repositories.json").read_text())["images"]
    return {"containers": container_dirs(root),
            "images_tmp": sorted(os.listdir(root / "images" / "tmp")) if (root / "images" / "tmp").exists() else [],
            "build_tmp": sorted(os.listdir(root / "build" / "tmp")) if (root / "build" / "tmp").exists() else [],
            "images": sorted(images), "layers": sorted(os.listdir(root / "images" / "layers"))}


FIVE_STEPS = """FROM busybox
ENV GREETING=hello
COPY app.txt /app/
RUN cat /app/app.txt > /app/copy.txt && echo "$GREETING" >> /app/copy.txt
WORKDIR /app
CMD ["cat", "copy.txt"]
"""


def test_build_run_and_cache(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": FIVE_STEPS, "app.txt": "v1\n"})
    first = build(cli, state_root, ctx, "-t", "app:1")
    assert first.returncode == 0, first.stderr
    assert "Step 6/6 : CMD" in first.stdout and "Using cache" not in first.stdout
    assert " ---> Running in " in first.stdout and "Successfully tagged app:1" in first.stdout
    run = mc(cli, state_root, "run", "--rm", "--network", "none", "app:1")
    assert run.stdout == "v1\nhello\n", run.stderr

    t0 = time.monotonic()
    again = build(cli, state_root, ctx, "-t", "app:1")
    elapsed = time.monotonic() - t0
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(" ---> Using cache") == 5
    assert "Running in" not in again.stdout
    assert elapsed < 0.5, f"a cached 5-step rebuild took {elapsed:.2f} s"
    built = [line.split()[-1] for line in first.stdout.splitlines() if line.startswith("Successfully built")]
    assert f"Successfully built {built[0]}" in again.stdout

    (ctx / "app.txt").write_text("v2\n")                       # invalidates COPY and everything after it
    changed = build(cli, state_root, ctx, "-t", "app:1")
    assert changed.returncode == 0, changed.stderr
    steps = changed.stdout.split("Step ")[1:]
    cached = [("Using cache" in s) for s in steps]
    assert cached == [False, True, False, False, False, False]   # FROM prints no cache line
    assert mc(cli, state_root, "run", "--rm", "--network", "none", "app:1").stdout == "v2\nhello\n"

    nocache = build(cli, state_root, ctx, "--no-cache")
    assert nocache.returncode == 0 and "Using cache" not in nocache.stdout


def test_history_shows_steps_and_empty_layers(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": FIVE_STEPS, "app.txt": "x\n"})
    assert build(cli, state_root, ctx, "-t", "h").returncode == 0
    hist = mc(cli, state_root, "history", "--no-trunc", "h").stdout.splitlines()
    rows = {line.split("   ")[2].strip() if len(line.split("   ")) > 2 else line: line for line in hist[1:]}
    by = [r for r in hist if "ENV GREETING=hello" in r]
    assert by and by[0].rstrip().endswith("0B")
    run_row = [r for r in hist if "RUN /bin/sh -c cat /app/app.txt" in r]
    assert run_row and not run_row[0].rstrip().endswith(" 0B")
    assert any("COPY app.txt /app/" in r for r in hist)
    cfg = inspect(cli, state_root, "h")
    img_hist = json.loads((state_root / "images" / "blobs" / "sha256" / cfg["Id"][7:]).read_text())["history"]
    assert [h.get("empty_layer", False) for h in img_hist[1:]] == [True, False, False, True, True]
    assert len(cfg["RootFS"]["Layers"]) == 3 and rows


def test_entrypoint_and_cmd_follow_dockers_rules(cli, state_root, tmp_path):
    cases = {
        "ep-only": ('ENTRYPOINT ["echo", "ep"]', None, "ep\n"),          # busybox's CMD ["sh"] is dropped
        "ep-cmd": ('ENTRYPOINT ["echo", "ep"]\nCMD ["c"]', ["c"], "ep c\n"),
        "cmd-ep": ('CMD ["c"]\nENTRYPOINT ["echo", "ep"]', ["c"], "ep c\n"),   # CMD set in this stage stays
        "shell-cmd": ("CMD echo $HOME", ["/bin/sh", "-c", "echo $HOME"], "/root\n"),
        "shell-ep": ("ENTRYPOINT echo from-shell", None, "from-shell\n"),
    }
    for tag, (lines, want_cmd, output) in cases.items():
        ctx = write(tmp_path / tag, {"Dockerfile": f"FROM busybox\n{lines}\n"})
        res = build(cli, state_root, ctx, "-t", tag)
        assert res.returncode == 0, res.stderr
        assert inspect(cli, state_root, tag)["Config"].get("Cmd") == want_cmd, tag
        run = mc(cli, state_root, "run", "--rm", "--network", "none", tag)
        assert run.stdout == output, (tag, run.stdout, run.stderr)
    res = mc(cli, state_root, "run", "--rm", "--network", "none", "ep-cmd", "override")
    assert res.stdout == "ep override\n"


def test_user_and_workdir(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": """FROM busybox
WORKDIR /srv
WORKDIR data
RUN pwd > /srv/data/where
USER nobody
WORKDIR /home/nobody
RUN id -u > uid && id -g >> uid && touch mine
"""})
    res = build(cli, state_root, ctx, "-t", "u")
    assert res.returncode == 0, res.stderr
    cfg = inspect(cli, state_root, "u")["Config"]
    assert cfg["User"] == "nobody" and cfg["WorkingDir"] == "/home/nobody"
    out = mc(cli, state_root, "run", "--rm", "--network", "none", "u", "sh", "-c",
             "cat /srv/data/where uid; stat -c '%U %G' /home/nobody mine").stdout
    assert out.split("\n") == ["/srv/data", "65534", "65534", "nobody nogroup", "nobody nogroup", ""]


def test_args_env_and_substitution(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": """ARG TAG=latest
FROM busybox:${TAG}
ARG WHO=world
ARG UNSET
ENV PLACE=/opt/${WHO} SHADOW=env
ARG SHADOW=arg
WORKDIR $PLACE
RUN echo "$WHO ${UNSET:-none} $SHADOW" > said
COPY ${FILE:-f.txt} ./
LABEL who="$WHO" place=${PLACE}
""", "f.txt": "f"})
    res = build(cli, state_root, ctx, "-t", "a", "--build-arg", "WHO=class", "--build-arg", "EXTRA=1")
    assert res.returncode == 0, res.stderr
    assert "[Warning] One or more build-args ['EXTRA'] were not consumed" in res.stdout
    cfg = inspect(cli, state_root, "a")["Config"]
    assert "PLACE=/opt/class" in cfg["Env"] and cfg["WorkingDir"] == "/opt/class"
    assert cfg["Labels"] == {"who": "class", "place": "/opt/class"}
    assert not any(e.startswith("WHO=") for e in cfg["Env"])          # ARG values are not kept in the image
    out = mc(cli, state_root, "run", "--rm", "--network", "none", "a", "cat", "said", "f.txt").stdout
    assert out == "class none env\nf"
    # a different build argument is a different RUN step: a cache miss from there on
    res2 = build(cli, state_root, ctx, "--build-arg", "WHO=other")
    assert "Running in" in res2.stdout


def test_multi_stage_copy_from_and_target(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": """FROM busybox AS build
RUN mkdir /out && echo built > /out/result && chmod 640 /out/result
FROM scratch AS final
COPY --from=build /out/ /
COPY --from=build /bin/busybox /bin/cat
CMD ["/bin/cat", "/result"]
FROM build AS debug
RUN echo debug > /debug
"""})
    res = build(cli, state_root, ctx, "-t", "final", "--target", "final")
    assert res.returncode == 0, res.stderr
    assert "Step 6/6" in res.stdout and "debug" not in res.stdout
    image = inspect(cli, state_root, "final")
    assert len(image["RootFS"]["Layers"]) == 2                          # nothing of busybox but what was copied
    assert mc(cli, state_root, "run", "--rm", "--network", "none", "final").stdout == "built\n"
    res = build(cli, state_root, ctx, "-t", "debug")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("Using cache") >= 4                         # the earlier stages come from the cache
    assert mc(cli, state_root, "run", "--rm", "--network", "none", "debug", "cat", "/debug", "/out/result"
              ).stdout == "debug\nbuilt\n"


def test_dockerignore_and_add(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY . /ctx/\nADD bundle.tgz /bundle/\n",
                                   ".dockerignore": "*.log\nsecret/\n!secret/public.txt\n",
                                   "keep.txt": "k", "debug.log": "no", "secret/key": "no", "secret/public.txt": "p",
                                   "src/x": "x"})
    with tarfile.open(ctx / "bundle.tgz", "w:gz") as t:
        t.add(ctx / "src", arcname="src")
    res = build(cli, state_root, ctx, "-t", "ig")
    assert res.returncode == 0, res.stderr
    out = mc(cli, state_root, "run", "--rm", "--network", "none", "ig", "find", "/ctx", "/bundle").stdout.split()
    assert sorted(out) == sorted(["/ctx", "/ctx/Dockerfile", "/ctx/.dockerignore", "/ctx/keep.txt",
                                  "/ctx/bundle.tgz", "/ctx/secret", "/ctx/secret/public.txt", "/ctx/src",
                                  "/ctx/src/x", "/bundle", "/bundle/src", "/bundle/src/x"])
    (ctx / "debug.log").write_text("changed")                 # ignored: the cache does not notice
    assert build(cli, state_root, ctx).stdout.count("Using cache") == 2


def test_config_only_instructions(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": """FROM busybox
LABEL a=1 "b c"="d e"
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL INT
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=5s --retries=2 CMD true
MAINTAINER someone
RUN echo $0 $- > /shell
"""})
    res = build(cli, state_root, ctx, "-t", "meta")
    assert res.returncode == 0, res.stderr
    image = inspect(cli, state_root, "meta")
    cfg = image["Config"]
    assert cfg["Labels"] == {"a": "1", "b c": "d e"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}} and cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGINT" and cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert image["Author"] == "someone"
    assert "e" in mc(cli, state_root, "run", "--rm", "--network", "none", "meta", "cat", "/shell").stdout


def test_failing_run_leaves_nothing(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo first; echo second >&2; "
                                                 "touch /junk; exit 7\n"})
    before = store_state(state_root)
    res = build(cli, state_root, ctx, "-t", "broken")
    assert res.returncode != 0
    assert "returned a non-zero code: 7" in res.stderr and "second" in res.stderr
    assert "echo first" in res.stderr
    after = store_state(state_root)
    assert after == dict(before, build_tmp=[])
    assert census(state_root)["mounts"] == []
    assert mc(cli, state_root, "inspect", "broken").returncode != 0


def test_interrupted_build_leaves_nothing(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    before = store_state(state_root)
    proc = subprocess.Popen([cli, "--root", str(state_root), "build", str(ctx)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        short = ""
        for line in proc.stdout:
            if line.startswith(" ---> Running in "):
                short = line.split()[-1]
            if line.strip() == "started":
                break
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and len(short) == 12
    assert store_state(state_root) == dict(before, build_tmp=[])
    left = census(state_root)
    # other test sessions may run containers on this host at the same time: look for ours only
    assert not [c for c in left["cgroups"] if os.path.basename(c).startswith(short)]
    assert not [p for p in left["processes"] if "sleep 60" in p]
    assert not left["mounts"]


def test_errors_are_one_clear_line(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN true\nCOPPY a b\n"})
    res = build(cli, state_root, ctx)
    assert res.returncode == 125 and res.stderr.strip() == "minicontainer: Dockerfile:3: unknown instruction: COPPY: COPPY a b"
    (ctx / "Dockerfile").write_text("FROM busybox\nADD https://example.com/x.tgz /\n")
    res = build(cli, state_root, ctx)
    assert res.returncode != 0 and "not supported offline" in res.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY missing /\n")
    res = build(cli, state_root, ctx)
    assert "Dockerfile:2: file not found in build context" in res.stderr
    res = build(cli, state_root, ctx, "-t", "Bad:Tag!")
    assert res.returncode == 125 and "invalid reference format" in res.stderr
    assert container_dirs(state_root) == []


def test_run_applies_the_images_user_unless_told_otherwise(cli, state_root, tmp_path):
    ctx = tmp_path / "user"
    write(ctx, {"Dockerfile": 'FROM busybox\nUSER nobody\nCMD ["id", "-u"]\n'})
    assert build(cli, state_root, ctx, "-t", "asnobody").returncode == 0
    assert mc(cli, state_root, "run", "--rm", "--network", "none", "asnobody").stdout.strip() == "65534"
    assert mc(cli, state_root, "run", "--rm", "--network", "none", "-u", "0", "asnobody").stdout.strip() == "0"


HEREDOCS = """FROM busybox
ARG WHO=world
ENV GREETING=hello
RUN <<EOF
echo "$GREETING $WHO" > /run-simple.txt
# a comment inside the script is the shell's, not the Dockerfile's
echo second >> /run-simple.txt
EOF
RUN <<-EOT
\t\techo tabs-stripped > /run-chomp.txt
\tEOT
RUN cat <<'EOF' > /quoted.txt && cat <<EOF2 > /unquoted.txt
$GREETING stays
EOF
$GREETING expanded
EOF2
RUN <<EOF
#!/usr/bin/awk -f
BEGIN { print "awk ran this" > "/shebang.txt" }
EOF
COPY <<FILE1 <<'FILE2' /dest/
one $GREETING ${WHO} "q"
FILE1
two $GREETING
FILE2
COPY --chmod=0755 <<EOF /usr/local/bin/hello
#!/bin/sh
echo hello from a heredoc script
EOF
RUN hello > /hello.txt
"""


def test_heredocs_run_and_copy(cli, state_root, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": HEREDOCS})
    res = build(cli, state_root, ctx, "-t", "heredocs:1")
    assert res.returncode == 0, res.stdout + res.stderr

    def cat(*paths):
        out = mc(cli, state_root, "run", "--rm", "--network", "none", "heredocs:1", "cat", *paths)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert cat("/run-simple.txt") == "hello world\nsecond\n"       # the body is the shell's script
    assert cat("/run-chomp.txt") == "tabs-stripped\n"               # <<- stripped the tabs
    assert cat("/quoted.txt") == "$GREETING stays\n"                # <<'EOF': the shell expands nothing
    assert cat("/unquoted.txt") == "hello expanded\n"
    assert cat("/shebang.txt") == "awk ran this\n"                  # #! ran awk, not sh
    assert cat("/dest/FILE1") == 'one hello world "q"\n'            # COPY expands with ARG/ENV, keeps quotes
    assert cat("/dest/FILE2") == "two $GREETING\n"                  # quoted: verbatim
    assert cat("/hello.txt") == "hello from a heredoc script\n"
    modes = mc(cli, state_root, "run", "--rm", "--network", "none", "heredocs:1", "stat", "-c", "%a %n",
               "/dest/FILE1", "/usr/local/bin/hello")
    assert modes.stdout.split("\n")[:2] == ["644 /dest/FILE1", "755 /usr/local/bin/hello"], modes.stderr
    pipes = mc(cli, state_root, "run", "--rm", "--network", "none", "heredocs:1", "ls", "/dev/pipes")
    assert pipes.returncode != 0                                    # the #! script never entered a layer

    again = build(cli, state_root, ctx, "-t", "heredocs:1")
    assert again.returncode == 0 and again.stdout.count(" ---> Using cache") == 9, again.stdout
    changed = HEREDOCS.replace("awk ran this", "awk ran that").replace("two $GREETING", "TWO $GREETING")
    write(ctx, {"Dockerfile": changed})
    rebuilt = build(cli, state_root, ctx, "-t", "heredocs:1")
    assert rebuilt.returncode == 0, rebuilt.stderr
    steps = rebuilt.stdout.split("Step ")[1:]
    assert [("Using cache" in s) for s in steps] == [False, True, True, True, True, True, False, False, False,
                                                    False]       # a body is part of its step's key
    assert cat("/shebang.txt", "/dest/FILE2") == "awk ran that\nTWO $GREETING\n"
    assert store_state(state_root)["build_tmp"] == [] and store_state(state_root)["containers"] == []
