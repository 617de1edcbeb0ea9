"""POST /build's query, checked before any byte of the context is read (no root, no server)."""

import pytest

from minicontainer.engine.build import options_from
from minicontainer.engine.errors import HTTPError
from minicontainer.engine.routes import Request
from minicontainer.errors import UsageError


def req(query: str) -> Request:
    return Request("POST", "/build", query, {}, None, None, None)


def test_the_docker_clis_query():
    opts = options_from(req("t=app%3A1&t=app%3Alatest&dockerfile=sub%2FDockerfile.dev&buildargs=%7B%22A%22%3A%221%22"
                            "%2C%22B%22%3Anull%7D&labels=%7B%22team%22%3A%22blue%22%7D&nocache=1&target=final&q=1"
                            "&rm=1&forcerm=1&pull=1&memory=0&cpushares=0&shmsize=0&networkmode=default&version=1"))
    assert opts == {"tags": ["app:1", "app:latest"], "dockerfile": "sub/Dockerfile.dev", "build_args": {"A": "1"},
                    "labels": {"team": "blue"}, "no_cache": True, "target": "final", "quiet": True,
                    "network": None}
    assert options_from(req("networkmode=none"))["network"] == "none"
    assert options_from(req("networkmode=host"))["network"] == "host"


@pytest.mark.parametrize("query, needle", [
    ("memory=1073741824", "memory"), ("remote=git%40x", "remote"),
    ("squash=1", "squash"), ("version=2", "BuildKit"), ("dockerfile=..%2Fescape", "inside"),
    ("dockerfile=%2Fetc%2Fpasswd", "inside"), ("buildargs=%5B1%5D", "JSON object"),
    ("labels=%7Bbroken", "invalid labels"), ("platform=linux%2Fs390x", "platform"),
])
def test_refused_by_name(query, needle):
    with pytest.raises(HTTPError) as err:
        options_from(req(query))
    assert err.value.status == 400 and needle in err.value.message


def test_a_bad_tag_is_a_usage_error():
    with pytest.raises(UsageError):
        options_from(req("t=Not%20A%20Tag"))
