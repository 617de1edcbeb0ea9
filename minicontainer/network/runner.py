"""Running the host's firewall tools (nft(8), iptables(8)): the one place that spawns them.

The packet filter lives in the kernel (netfilter), but its rules are sent over netlink in
a format only libnftables really speaks; calling the ``nft`` program with a script on its
standard input (``nft -f -``) is how Docker's and podman's helpers talk to it too, and
one script is applied as **one transaction**: every command in it takes effect, or none.

:class:`Runner` runs a command and returns its standard output; a failure is a
:class:`NetworkError` carrying the tool's own last error line. :class:`RecordingRunner`
runs nothing: it keeps every call (argv and the script) and answers with canned output,
so the rule generation can be tested without root.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

from .. import log
from ..errors import NetworkError

TIMEOUT = 30


class Runner:
    """Run a firewall command for real."""

    def run(self, argv: Sequence[str], stdin: str | None = None, *, check: bool = True) -> tuple[int, str, str]:
        """(exit status, stdout, stderr); with ``check`` a non-zero status raises NetworkError."""
        argv = list(argv)
        log.debug("network", "run %s%s", " ".join(argv), f" <<EOF\n{stdin}EOF" if stdin else "")
        try:
            res = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
        except FileNotFoundError as err:
            raise NetworkError(f"{argv[0]} not found", op="nat", path=argv[0]) from err
        except OSError as err:
            raise NetworkError(f"cannot run: {(err.strerror or str(err)).lower()}", op="nat", path=argv[0]) from err
        except subprocess.TimeoutExpired as err:
            raise NetworkError(f"timed out after {TIMEOUT} s", op="nat", path=argv[0]) from err
        if check and res.returncode != 0:
            raise NetworkError(error_line(res.stderr, res.returncode), op="nat", path=" ".join(argv[:3]))
        return res.returncode, res.stdout, res.stderr


def error_line(stderr: str, code: int) -> str:
    """The tool's first ``Error:`` line (nft prints the script line after it), lower-cased."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith(("error", "iptables"))]
    text = (errors or lines or [f"exit status {code}"])[0]
    if text.lower().startswith("error:"):
        text = text[len("error:"):].strip()
    return text.lower().rstrip(".")


class RecordingRunner(Runner):
    """Records each call as (argv, stdin); ``answer(argv, stdin)`` gives (status, stdout, stderr)."""

    def __init__(self, answer: Callable[[list[str], str | None], tuple[int, str, str]] | None = None) -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.answer = answer or (lambda argv, stdin: (0, "", ""))

    def run(self, argv, stdin=None, *, check=True):
        argv = list(argv)
        self.calls.append((argv, stdin))
        code, out, err = self.answer(argv, stdin)
        if check and code != 0:
            raise NetworkError(error_line(err, code), op="nat", path=" ".join(argv[:3]))
        return code, out, err

    def scripts(self) -> list[str]:
        """Every script sent on stdin, in order."""
        return [stdin for _, stdin in self.calls if stdin]
