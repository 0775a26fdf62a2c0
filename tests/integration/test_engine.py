"""The runtime seam against the real engine: an explicit Engine reaches it through the argv built
in one place, and an engine that does not answer is a prerequisite error, not a traceback."""

from __future__ import annotations

import os

import pytest

from composer.errors import PrerequisiteError
from composer.images import HARNESS_IMAGE
from composer.runtime import Engine, missing_images, preflight

pytestmark = pytest.mark.docker

SOCKET = "/var/run/docker.sock"


def _socket_engine() -> Engine:
    host = os.environ.get("DOCKER_HOST") or f"unix://{SOCKET}"
    if not host.startswith("unix://") or not os.path.exists(host.removeprefix("unix://")):
        pytest.skip(f"the engine is not on a local unix socket ({host})")
    return Engine(host=host)


def test_an_explicit_host_engine_is_the_default_one(docker_engine):
    engine = _socket_engine()
    assert preflight(engine) == preflight()
    assert missing_images([HARNESS_IMAGE, "evalcompose/no-such-image:0"], engine) == ["evalcompose/no-such-image:0"]


def test_an_engine_that_does_not_answer_is_a_prerequisite_error(docker_engine, tmp_path):
    with pytest.raises(PrerequisiteError, match="daemon is not answering"):
        preflight(Engine(host=f"unix://{tmp_path}/nothing.sock"))


def test_an_unknown_context_is_named(docker_engine):
    with pytest.raises(PrerequisiteError):
        preflight(Engine(context="evalcompose-no-such-context"))
