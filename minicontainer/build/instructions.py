"""What each instruction means for the image config, once its variables are known.

Most Dockerfile instructions never touch the file system: they only change the image's
*config* (the JSON the runtime reads when it starts a container) and leave an
``empty_layer`` line in the history. The functions here turn an instruction's text into
the value stored under Docker's config key:

=============  ===============================  =====================================
instruction    config key                       example value
=============  ===============================  =====================================
ENV            ``Env``                          ``["PATH=/bin", "A=1"]``
CMD            ``Cmd``                          ``["/bin/sh", "-c", "echo hi"]``
ENTRYPOINT     ``Entrypoint``                   ``["/app"]``
WORKDIR        ``WorkingDir``                   ``"/app"``
USER           ``User``                         ``"nobody"``
LABEL          ``Labels``                       ``{"org.example.v": "1"}``
EXPOSE         ``ExposedPorts``                 ``{"80/tcp": {}}``
VOLUME         ``Volumes``                      ``{"/data": {}}``
STOPSIGNAL     ``StopSignal``                   ``"SIGINT"``
SHELL          ``Shell``                        ``["/bin/sh", "-c"]``
HEALTHCHECK    ``Healthcheck``                  ``{"Test": ["CMD-SHELL", "true"], ...}``
=============  ===============================  =====================================

The *shell form* ``CMD echo hi`` becomes ``SHELL + ["echo hi"]`` (``/bin/sh -c`` unless
SHELL changed it); the *exec form* ``CMD ["echo", "hi"]`` is kept as it is. A RUN with
here-documents becomes one shell script, by BuildKit's rules (:func:`heredoc_script`). How CMD and
ENTRYPOINT combine is Docker's rule, applied by :func:`minicontainer.runtime.options.command_for`.
See the OCI image spec (config.md) and https://docs.docker.com/reference/dockerfile/
"""

from __future__ import annotations

import posixpath
import re
import signal

from ..errors import UsageError
from .parser import Heredoc, Instruction
from .words import expand, expand_heredoc, is_heredoc_word, process_word, split_words

DEFAULT_SHELL = ["/bin/sh", "-c"]
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
       "h": 3_600_000_000_000}


def command(inst: Instruction, shell: list[str]) -> list[str]:
    """RUN/CMD/ENTRYPOINT as an argv: the exec form as is, the shell form behind ``shell``."""
    if inst.json is not None:
        return list(inst.json)
    if inst.heredocs:
        return list(shell) + [heredoc_script(inst)[0]]
    return list(shell) + [inst.args]


#: where a RUN's ``#!`` here-document is bind-mounted, read-only, to be executed (as in BuildKit)
HEREDOC_DIR = "/dev/pipes"


def heredoc_script(inst: Instruction) -> tuple[str, Heredoc | None]:
    """What the shell runs for a RUN with here-documents, and the document to mount as an
    executable file, if any (BuildKit's dispatchRun):

    * ``RUN <<EOF`` alone, body starting with ``#!``: the body is a script file
      (``/dev/pipes/EOF``, mode 0755) and the shell runs that path, so the kernel starts
      the interpreter the ``#!`` line names;
    * ``RUN <<EOF`` alone, any other body: the body itself is the shell's script;
    * anything else (``RUN cat <<EOF > file``, several documents): the line, then each
      body followed by its terminator, as one script: the shell reads the documents
      itself, so quoting (``<<'EOF'``), ``<<-`` and ``$VAR`` mean what they mean in sh.
    """
    if len(inst.heredocs) == 1 and is_heredoc_word(inst.args.strip()):
        doc = inst.heredocs[0]
        if doc.content.startswith("#!"):
            return f"{HEREDOC_DIR}/{heredoc_file_name(doc, 'RUN')}", doc
        return doc.content, None
    return inst.args + "".join("\n" + doc.body + doc.name for doc in inst.heredocs), None


def env_pairs(inst: Instruction, env: dict[str, str], escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL ``K=V ...`` pairs; ARG gives ``(K, None)`` for a declaration without default."""
    from .words import key_values
    return key_values(inst.args, env, escape, inst.cmd)


def exposed_ports(inst: Instruction, env: dict[str, str], escape: str) -> list[str]:
    """``EXPOSE 80 53/udp 8000-8001`` -> ``["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]``."""
    out = []
    for word in split_words(inst.args, escape):
        spec = process_word(word, env, escape)
        port, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        m = re.match(r"^(\d+)(?:-(\d+))?$", port)
        if not m or proto not in ("tcp", "udp", "sctp"):
            raise UsageError(f"invalid port {spec!r} (want PORT[/tcp|udp|sctp] or LOW-HIGH)", op="EXPOSE")
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if not (0 < low <= high <= 65535) or high - low > 1000:
            raise UsageError(f"invalid port range {spec!r}", op="EXPOSE")
        out += [f"{p}/{proto}" for p in range(low, high + 1)]
    return out


def volumes(inst: Instruction, env: dict[str, str], escape: str) -> list[str]:
    paths = inst.json if inst.json is not None else [process_word(w, env, escape)
                                                     for w in split_words(inst.args, escape)]
    if not paths or any(not p for p in paths):
        raise UsageError("VOLUME specified can not be an empty string", op="VOLUME")
    return paths


def workdir(inst: Instruction, current: str, env: dict[str, str], escape: str) -> str:
    """WORKDIR: an absolute path, or one relative to the previous WORKDIR."""
    path = expand(inst.args, env, escape)
    return posixpath.normpath(posixpath.join(current or "/", path))


def user(inst: Instruction, env: dict[str, str], escape: str) -> str:
    return expand(inst.args, env, escape)


def stop_signal(inst: Instruction, env: dict[str, str], escape: str) -> str:
    """STOPSIGNAL: a name (``SIGTERM``, ``TERM``) or a number, checked now rather than at ``stop``."""
    value = expand(inst.args, env, escape)
    name = value.upper()
    if name.isdigit():
        if not 0 < int(name) < signal.NSIG:
            raise UsageError(f"invalid signal: {value}", op="STOPSIGNAL")
        return name
    name = name if name.startswith("SIG") else "SIG" + name
    if not hasattr(signal, name) or name in ("SIG_DFL", "SIG_IGN", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK"):
        raise UsageError(f"invalid signal: {value}", op="STOPSIGNAL")
    return name


def duration_ns(text: str, what: str) -> int:
    """Go duration syntax (``30s``, ``1m30s``, ``500ms``) in nanoseconds, as Docker stores them."""
    if not _DURATION.match(text):
        raise UsageError(f"invalid duration {text!r} for --{what} (e.g. 30s, 1m30s)", op="HEALTHCHECK")
    return int(sum(float(num) * _NS[unit] for num, unit in _DURATION_PART.findall(text)))


def healthcheck(inst: Instruction, shell: list[str]) -> dict:
    """HEALTHCHECK [--interval=D --timeout=D --start-period=D --retries=N] CMD ... | NONE."""
    kind, _, rest = inst.args.partition(" ")
    if kind.upper() == "NONE":
        return {"Test": ["NONE"]}
    rest = rest.strip()
    from .parser import _json_array
    argv = _json_array(rest) if rest.startswith("[") else None
    test = ["CMD", *argv] if argv is not None else ["CMD-SHELL", rest]
    out: dict = {"Test": test}
    keys = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
            "start-interval": "StartInterval"}
    for flag, key in keys.items():
        if flag in inst.flags:
            out[key] = duration_ns(inst.flags[flag], flag)
    if "retries" in inst.flags:
        if not inst.flags["retries"].isdigit() or int(inst.flags["retries"]) < 1:
            raise UsageError(f"--retries must be a positive integer, not {inst.flags['retries']!r}",
                             op="HEALTHCHECK")
        out["Retries"] = int(inst.flags["retries"])
    return out


def heredoc_file_name(doc: Heredoc, op: str) -> str:
    """The document's NAME as the file it becomes (COPY, and a RUN ``#!`` script): one path
    component, so ``<<../x`` cannot write elsewhere."""
    if "/" in doc.name or doc.name in (".", "..") or "\0" in doc.name:
        raise UsageError(f"heredoc name {doc.name!r} cannot be a file name", op=op)
    return doc.name


def copy_args(inst: Instruction, env: dict[str, str], escape: str) -> tuple[list, str]:
    """COPY/ADD ``SRC... DEST`` (or the JSON form, for names with blanks) after substitution.

    A ``<<NAME`` source is returned as its :class:`Heredoc`, in place, with its content
    substituted unless NAME was quoted (BuildKit's parseSourcesAndDest)."""
    if inst.json is not None:
        words = [process_word(w, env, escape) if "$" in w else w for w in inst.json]
    else:
        docs = iter(inst.heredocs)
        words = []
        for w in split_words(inst.args, escape):
            doc = next(docs, None) if inst.heredocs and is_heredoc_word(w) else None
            if doc is not None:
                content = expand_heredoc(doc.content, env, escape) if doc.expand else doc.content
                words.append(Heredoc(doc.name, content, expand=False, chomp=False))
            else:
                words.append(process_word(w, env, escape))
    if len(words) < 2:
        raise UsageError(f"{inst.cmd} requires at least two arguments", op=inst.cmd)
    if isinstance(words[-1], Heredoc):
        raise UsageError(f"{inst.cmd} cannot accept a heredoc as a destination", op=inst.cmd)
    return words[:-1], words[-1]


def set_env(env_list: list[str], key: str, value: str) -> list[str]:
    """Replace or append ``key=value`` in a config's ``Env`` list (order kept, as Docker does)."""
    out = [e for e in env_list]
    for i, item in enumerate(out):
        if item.partition("=")[0] == key:
            out[i] = f"{key}={value}"
            return out
    out.append(f"{key}={value}")
    return out


def env_dict(env_list: list[str]) -> dict[str, str]:
    out = {}
    for item in env_list or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def expand_flag(value: str, env: dict[str, str], escape: str) -> str:
    """A flag value (``--chown=$UID:$GID``, ``--from=$STAGE``) after substitution."""
    return process_word(value, env, escape) if value else value
