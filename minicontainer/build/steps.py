"""The steps that make a layer: RUN, WORKDIR, COPY and ADD, planned for the cache.

Each ``plan_*`` function returns a dict the builder understands: ``key`` (the text the
cache key is made of, after substitution), ``content`` (for COPY/ADD: the digest of the
copied files), ``run`` (a function that does the work and returns the child's config)
and ``layer`` (True: the step adds a layer). Nothing is done until ``run`` is called,
so a cache hit costs a hash and a lookup, not a container.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path

from ..errors import MiniContainerError, UsageError
from . import filesteps as F
from . import instructions as I
from .context import BuildContext, IgnoreRules, content_hash
from .runstep import BuildStepError, drop_runtime_artifacts, run_attached, step_container


def plan_run(b, inst, state) -> dict:
    """RUN: in a container made from the parent (on ``build --network``), committed as one layer.

    Here-documents become the shell's script (:func:`.instructions.heredoc_script`); a
    ``#!`` one is written to a file bind-mounted read-only at ``/dev/pipes/NAME`` (in
    the container's private /dev, so never in the layer). Their bodies are in the key."""
    argv = I.command(inst, state.shell)
    script_doc = I.heredoc_script(inst)[1] if inst.heredocs and inst.json is None else None
    image_env = I.env_dict(state.config.get("Env") or [])
    # build arguments are in the command's environment (not in the image), ENV wins over them
    args_env = {k: v for k, v in sorted(state.args.items()) if k not in image_env}
    user = state.config.get("User") or ""
    workdir = state.config.get("WorkingDir") or "/"
    key = "RUN " + json.dumps(argv) + "".join(f"\0{k}={v}" for k, v in args_env.items()) + f"\0{user}"
    key += "".join(f"\0<<{d.name}\0{d.chomp}\0{d.body}" for d in inst.heredocs)
    shown = "RUN " + " ".join(argv) if inst.json is None else "RUN " + json.dumps(argv)
    if args_env:
        shown = f"|{len(args_env)} " + " ".join(f"{k}={v}" for k, v in args_env.items()) + " " + shown

    def run() -> dict:
        layers = b.layers_top_first(state)
        parent = b._materialize(state)
        env = [f"{k}={v}" for k, v in args_env.items()]
        volumes = []
        if script_doc is not None:
            docs = b.staging("heredoc")
            script = docs / script_doc.name
            script.write_bytes(script_doc.content.encode("utf-8", "surrogateescape"))
            script.chmod(0o755)
            volumes.append(f"{docs}:{I.HEREDOC_DIR}:ro")
        with step_container(b.runtime, parent, argv, env=env, workdir=workdir, user=user, volumes=volumes,
                            network=b.opts.network) as c:
            b.say(f" ---> Running in {c.short_id}\n")
            try:
                code, tail = run_attached(b.runtime, c, b.say)
            except BuildStepError:
                raise
            except MiniContainerError as err:     # anything else is a bug: it propagates as it is
                raise BuildStepError(f"the command {' '.join(argv)!r} could not be started: {err}",
                                     op="RUN") from err
            if code != 0:
                lines = "\n".join("    " + line for line in tail)
                raise BuildStepError(f"the command {' '.join(argv)!r} returned a non-zero code: {code}"
                                     + (f"\nlast lines of its output:\n{lines}" if tail else ""), op="RUN")
            drop_runtime_artifacts(c.upper_dir, layers)
            raw = b.add_layer(state, c.upper_dir, shown, translate_overlay=True)
            b.say(f"Removing intermediate container {c.short_id}\n")
        return raw

    return {"key": key, "run": run, "layer": True}


def plan_workdir(b, inst, state, env: dict, esc: str) -> dict:
    """WORKDIR: set the working directory; create it in a layer when the image lacks it."""
    path = I.workdir(inst, state.config.get("WorkingDir") or "/", env, esc)
    user = state.config.get("User") or ""
    layers = b.layers_top_first(state)
    exists = path == "/" or F.lower_path(layers, path.lstrip("/")) is not None
    raw = state.derive()
    raw["config"]["WorkingDir"] = path
    shown = f"WORKDIR {path}"
    if exists:
        raw.setdefault("history", []).append({"created": raw["created"], "created_by": shown, "empty_layer": True})
        return {"key": shown + "\0exists", "run": lambda: raw, "layer": False}

    def run() -> dict:
        owner = F.resolve_owner(layers, user) if user else (0, 0)
        tree = b.staging("workdir")
        F.ensure_dirs(tree, layers, path, owner)
        child = b.add_layer(state, tree, shown, translate_overlay=False)
        child["config"]["WorkingDir"] = path
        return child

    return {"key": f"{shown}\0{user}", "run": run, "layer": True}


def plan_copy(b, inst, state, env: dict, esc: str, stages, stage_no: int) -> dict:
    """COPY/ADD from the build context, or COPY --from an earlier stage (or an image)."""
    from .stages import stage_index
    sources, dest = I.copy_args(inst, env, esc)
    docs = [s for s in sources if isinstance(s, I.Heredoc)]
    sources = [s for s in sources if not isinstance(s, I.Heredoc)]
    for doc in docs:
        I.heredoc_file_name(doc, inst.cmd)
    workdir = state.config.get("WorkingDir") or "/"
    keep_slash = dest.endswith("/") or dest in (".", "./")
    dest = posixpath.normpath(posixpath.join(workdir, dest)) + ("/" if keep_slash else "")
    if dest == "//":
        dest = "/"
    chown = I.expand_flag(inst.flags.get("chown", ""), env, esc)
    chmod = inst.flags.get("chmod")
    mode = None
    if chmod is not None:
        if not chmod or any(c not in "01234567" for c in chmod) or len(chmod) > 4:
            raise UsageError(f"invalid --chmod={chmod}: only octal modes are supported", op=inst.cmd)
        mode = int(chmod, 8)
    source_ctx, keep_owner, content = b.ctx, False, ""
    from_ref = inst.flags.get("from")
    if from_ref is not None:
        if inst.cmd == "ADD":
            raise UsageError("ADD does not support --from", op="ADD")
        from_ref = I.expand_flag(from_ref, env, esc)
        idx = stage_index(stages, from_ref, stage_no)
        image = b.store.resolve(b.stage_images[idx] if idx is not None else from_ref)
        source_ctx, keep_owner, content = None, True, image.id     # flattened only on a cache miss
    if len(sources) + len(docs) > 1 and not dest.endswith("/"):
        raise UsageError(f"when using {inst.cmd} with more than one source file, the destination must be a "
                         "directory and end with a /", op=inst.cmd, path=dest)
    urls = [s for s in sources if F.is_url(s)]
    if urls and inst.cmd == "ADD":
        raise UsageError(f"ADD from a URL is not supported offline: {urls[0]} "
                         "(download it into the build context and COPY it)", op="ADD")
    resolved = list(sources)
    if source_ctx is not None:
        resolved = [r for s in sources for r in source_ctx.sources(s, inst.cmd)]
        content = content_hash(source_ctx, resolved)
    if docs:      # BuildKit's history line: "COPY <<NAME ... DEST"; the bodies go in the content key
        from ..images.digest import sha256_bytes
        bodies = sha256_bytes(json.dumps([[d.name, d.body] for d in docs]).encode())
        content = f"{content}+{bodies}" if content else bodies
    named = resolved + [f"<<{d.name}" for d in docs]
    shown = f"{inst.cmd} " + " ".join(f"--{k}={v}" for k, v in sorted(inst.flags.items())) + \
        (" " if inst.flags else "") + " ".join(named or ["."]) + f" {dest}"
    shown = " ".join(shown.split())

    def run() -> dict:
        nonlocal source_ctx, resolved
        if source_ctx is None:
            source_ctx = _flattened(b, image)
            resolved = [r for s in sources for r in source_ctx.sources(s, inst.cmd)]
        layers = b.layers_top_first(state)
        owner = F.resolve_owner(layers, chown) if chown else None
        tree = b.staging("copy")
        plain = []
        for src in resolved:
            path = source_ctx.root / src
            if inst.cmd == "ADD" and path.is_file() and F.is_local_tar(path):
                F.add_tar(path, tree, dest, layers, b.store.syscalls, owner)
            else:
                plain.append(src)
        if plain:
            F.copy_sources(source_ctx, plain, dest, tree, layers, owner=owner,
                           keep_owner=keep_owner and owner is None, chmod=mode, what=inst.cmd)
        if docs:
            F.copy_sources(_heredoc_context(b, docs), [d.name for d in docs], dest, tree, layers, owner=owner,
                           chmod=mode, what=inst.cmd)
        return b.add_layer(state, tree, f"{shown} # {content[:19]}", translate_overlay=False)

    return {"key": shown, "content": content + f"\0{chown}\0{chmod}", "run": run, "layer": True}


def _heredoc_context(b, docs) -> BuildContext:
    """The here-documents of a COPY/ADD as files (mode 0644, as BuildKit makes them) in a
    small context of their own."""
    root = b.staging("heredoc")
    for doc in docs:
        (root / doc.name).write_bytes(doc.body.encode("utf-8", "surrogateescape"))
        (root / doc.name).chmod(0o644)
    return BuildContext(root, IgnoreRules([]))


def _flattened(b, image) -> BuildContext:
    """The whole file system of ``image`` (layers applied in order) as a source for COPY --from."""
    from ..images import tarreader
    from ..images.extract import Unpacker, open_layer
    if image.id not in b._flat:
        tree = b.staging("from")
        for diff_id in image.diff_ids:
            stream = open_layer(b.store.blob_path(diff_id))
            try:
                Unpacker(tree, b.store.syscalls, whiteouts="apply", allow_devices=os.geteuid() == 0).run(
                    tarreader.TarReader(stream))
            finally:
                stream.close()
        b._flat[image.id] = tree
    return BuildContext(Path(b._flat[image.id]), IgnoreRules([]))
