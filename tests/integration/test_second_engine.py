"""The second-engine test infrastructure itself (issue 12 #3): a dockerd in its own network and
mount namespaces, with no images and no view of the run folder, answering on unix:// and ssh://,
and leaving the main engine alone."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import HARNESS_IMAGE, SecondEngine, docker

pytestmark = pytest.mark.docker


def test_second_engine_is_separate_and_answers_both_forms(second_engine: SecondEngine, tmp_path):
    main_id = docker("info", "--format", "{{.ID}}").stdout.strip()
    node_id = second_engine.docker("info", "--format", "{{.ID}}").stdout.strip()
    assert node_id and node_id != main_id
    # it started with no images at all (none of the main engine's, which has the harness)
    assert second_engine.images_at_start == []
    assert docker("image", "inspect", HARNESS_IMAGE, check=False).returncode == 0
    # ssh:// reaches the same engine (docker system dial-stdio on the far side)
    via_ssh = subprocess.run(["docker", "-H", second_engine.ssh_url, "info", "--format", "{{.ID}}"],
                             capture_output=True, text=True, timeout=60, env=second_engine.env({}))
    assert via_ssh.returncode == 0, via_ssh.stderr
    assert via_ssh.stdout.strip() == node_id
    # no view of this machine's /tmp (run folders live there): its mount namespace hides it
    probe = tmp_path / "visible-here"
    probe.write_text("x", encoding="utf-8")
    seen = subprocess.run(["nsenter", f"--mount=/run/{second_engine.name}/ns/mnt", "test", "-e", str(probe)])
    assert seen.returncode != 0
    # its own network namespace: no interface but loopback and its own bridge
    links = subprocess.run(["ip", "netns", "exec", second_engine.name, "ip", "-o", "link"], capture_output=True,
                           text=True).stdout
    assert "docker0" in links and "eth0" not in links
