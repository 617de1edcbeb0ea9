"""A reader's first five minutes, in a real browser: JupyterLab opens chapter 02 and runs it.

nbval proves each cell's output; this test proves the *product*: that the lab server starts,
that the chapter opens in JupyterLab's web UI, that "Run > Run All Cells" from the menu bar
(command ``runmenu:run-all``, which runs ``notebook:run-all-cells`` on the open notebook) executes it to the end on a live kernel, and that no cell shows an error. A screenshot of
the result is kept in build/browser/ for a human to look at.

How it is driven:

- JupyterLab listens on 127.0.0.1 only, on a random free port, behind a random token, with
  its config/runtime/data folders in a temporary directory, and serves a *copy* of notebooks/
  (JupyterLab autosaves; the committed chapter must never be rewritten by a test).
- Headless Chromium is Debian's (/usr/bin/chromium), driven by Playwright for Python through
  ``executable_path`` (Playwright's own browser download is never used), with a fresh profile.
  Every request the page makes to anything but 127.0.0.1 is aborted and counted as a failure.
- JupyterLab runs with ``--LabApp.expose_app_in_browser`` so the test can read the notebook
  *model* (execution counts, error outputs) instead of scraping the rendered page.

Everything started here is stopped in ``finally`` blocks: the browser, the server (through its
shutdown API, then SIGTERM/SIGKILL to the process group it leads), and any container the
chapter left behind in its state root (the kernel's TMPDIR points into tmp_path).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHAPTER = "02-namespaces.ipynb"
SCREENSHOT = ROOT / "build" / "browser" / "02-namespaces.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_TIMEOUT = 60
RUN_TIMEOUT_MS = 100_000

# JS run in the page: the open notebook's code cells as plain data, read from JupyterLab's model
READ_CELLS_JS = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!widget || !widget.content || !widget.content.model) { return null; }
  const kernel = widget.sessionContext && widget.sessionContext.session
      && widget.sessionContext.session.kernel;
  const cells = [];
  for (const cell of widget.content.model.cells) {
    if (cell.type !== 'code') { continue; }
    const json = cell.toJSON();
    const source = Array.isArray(json.source) ? json.source.join('') : json.source;
    cells.push({source: source, count: json.execution_count,
                errors: (json.outputs || []).filter(o => o.output_type === 'error')
                          .map(o => o.ename + ': ' + o.evalue)});
  }
  return {kernel: kernel ? kernel.status : null, cells: cells};
}"""


# talk to 127.0.0.1 directly even when http_proxy/https_proxy are set (corporate networks)
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _wait_for_server(base: str, token: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
            with LOCAL.open(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"jupyter lab did not answer within {SERVER_START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def _stop_server(proc: subprocess.Popen, base: str, token: str) -> None:
    """Shut the server down by its API (it stops its kernels), then by signals to its process group."""
    if proc.poll() is None:
        try:
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST", data=b"",
                                         headers={"Authorization": f"token {token}"})
            LOCAL.open(req, timeout=5).close()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)      # the group the server leads: it and its kernels
        except ProcessLookupError:
            break
        time.sleep(1)
    if proc.poll() is None:
        proc.wait(timeout=10)


def _remove_left_containers(tmp: Path) -> None:
    """The chapter removes its own state root in its last cell; if a failure stopped it earlier,
    remove whatever container it left (processes, mounts, cgroups) and the state root itself."""
    if not tmp.is_dir():
        return
    from minicontainer.runtime import Runtime
    for root in tmp.iterdir():
        if (root / "containers").is_dir():
            rt = Runtime(root)
            for c in rt.containers.list():
                rt.remove(c.id, force=True)
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lab(tmp_path):
    """A running JupyterLab serving a copy of notebooks/: yields (base_url, token)."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (scripts/install-system-deps.sh installs it)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    kernel_tmp = tmp_path / "kernel-tmp"
    kernel_tmp.mkdir()
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")):
        env[var] = str(tmp_path / "jupyter" / sub)
        Path(env[var]).mkdir(parents=True)
    env["TMPDIR"] = str(kernel_tmp)
    port, token = _free_port(), os.urandom(16).hex()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "jupyter-lab.log"
    cmd = [str(Path(sys.executable).with_name("jupyter-lab")), "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--port-retries=0", f"--ServerApp.root_dir={notebooks}",
           f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=tmp_path, start_new_session=True)
    try:
        _wait_for_server(base, token, proc, log)
        yield base, token
    finally:
        _stop_server(proc, base, token)
        _remove_left_containers(kernel_tmp)


def test_chapter_02_runs_in_jupyterlab_in_a_real_browser(lab, tmp_path):
    from playwright.sync_api import sync_playwright
    base, token = lab
    outside: list[str] = []

    def only_loopback(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1",) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
            # Chromium's crash handler writes under $HOME/.config: keep it in tmp_path too
            env={**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")})
        try:
            page = browser.new_page()
            page.route("**/*", only_loopback)
            page.goto(f"{base}/lab/tree/{CHAPTER}?token={token}", wait_until="domcontentloaded")
            # the chapter is open and its kernel has started
            page.wait_for_function("""() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
                       && w.sessionContext.session.kernel.status === 'idle' && w.content.widgets.length > 0; }""",
                                   timeout=60_000)
            assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path") == CHAPTER
            committed = page.evaluate(READ_CELLS_JS)
            assert committed["cells"], "the chapter shows no code cells"

            # as a reader would: Edit > Clear Outputs of All Cells, then Run > Run All Cells
            page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
            page.locator('.lm-Menu-item[data-command="editmenu:clear-all"]').click()
            page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
                return Array.from(w.content.model.cells).every(c => c.type !== 'code' || c.executionCount === null); }""",
                                   timeout=10_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()

            page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
                const k = w.sessionContext.session.kernel;
                const code = Array.from(w.content.model.cells).filter(c => c.type === 'code'
                               && c.sharedModel.getSource().trim() !== '');
                const failed = code.some(c => Array.from(c.outputs.toJSON())
                                                  .some(o => o.output_type === 'error'));
                // done: every cell ran, or one failed and Run All stopped there
                return k.status === 'idle' && (failed || code.every(c => c.executionCount !== null))
                       && document.querySelectorAll('.jp-InputPrompt').length > 0
                       && !Array.from(document.querySelectorAll('.jp-InputPrompt'))
                               .some(p => p.textContent.includes('*')); }""",
                                   timeout=RUN_TIMEOUT_MS, polling=500)
            ran = page.evaluate(READ_CELLS_JS)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        except Exception:
            # what the reader would have seen when it went wrong, for whoever debugs it
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT.with_name(SCREENSHOT.stem + "-failed.png")))
            raise
        finally:
            browser.close()
    elapsed = time.monotonic() - started

    code = [c for c in ran["cells"] if c["source"].strip()]
    errors = [f"cell [{c['count']}]: {e}" for c in code for e in c["errors"]]
    assert errors == [], "cells show errors:\n" + "\n".join(errors)
    counts = [c["count"] for c in code]
    # one fresh run, top to bottom, on a fresh kernel
    assert counts == list(range(1, len(code) + 1)), counts
    assert outside == [], f"the page tried to reach other hosts: {outside}"
    width, height = _png_size(SCREENSHOT)
    assert (width, height) == (1400, 1000) and SCREENSHOT.stat().st_size > 20_000
    assert elapsed < 120, f"the browser check took {elapsed:.0f} s"
