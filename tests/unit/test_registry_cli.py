"""The pull/push printer: Docker's lines everywhere, progress bars only on a terminal."""

import io

from minicontainer.cli.registry import Printer


class Tty(io.StringIO):
    def isatty(self):
        return True


EVENTS = [{"status": "Pulling from library/x", "id": "latest"},
          {"id": "abc", "status": "Pulling fs layer"},
          {"id": "abc", "status": "Downloading", "progressDetail": {"current": 500, "total": 1000}},
          {"id": "abc", "status": "Downloading", "progressDetail": {"current": 1000, "total": 1000}},
          {"id": "abc", "status": "Pull complete"},
          {"status": "Status: Downloaded newer image for x:latest"}]


def test_not_a_terminal_gets_only_the_status_lines():
    out = io.StringIO()
    p = Printer(out)
    for e in EVENTS:
        p(e)
    assert out.getvalue().splitlines() == ["latest: Pulling from library/x", "abc: Pulling fs layer",
                                           "abc: Pull complete", "Status: Downloaded newer image for x:latest"]


def test_a_terminal_also_gets_a_bar_per_layer():
    out = Tty()
    p = Printer(out)
    for e in EVENTS:
        p(e)
    text = out.getvalue()
    assert "\rabc: Downloading [" in text and "100.0%" in text
    assert text.rstrip().endswith("Status: Downloaded newer image for x:latest")


def test_quiet_prints_nothing():
    out = Tty()
    p = Printer(out, quiet=True)
    for e in EVENTS:
        p(e)
    assert out.getvalue() == ""
