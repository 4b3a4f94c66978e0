"""A bake through a bastion, end to end in the sandbox: build, validate.on_build and the image's
validation all reach their instances through the jump host (a real OpenSSH server on this machine),
whose host key the recipe pins."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldsmith.ssh.localsshd import LocalSshd
from tests.sandbox.helpers import build_ids, manifest_of, run_invoke

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"), reason="needs root and sshd"),
]

SUITE = """\
def test_the_image_was_provisioned(host):
    assert host.file("/etc/via-bastion").contains("provisioned through the bastion")
"""


def recipe(project: Path, jump: LocalSshd) -> Path:
    """A small recipe in its own project: the bastion's key file and the suite live inside it."""
    (project / "suites").mkdir(parents=True)
    (project / "keys").mkdir()
    (project / "invoke.yaml").write_text("{}\n")
    jump.client_key.write_private_file(project / "keys", name="bastion")
    (project / "suites" / "test_bastion.py").write_text(SUITE)
    data = {
        "name": "viabastion",
        "version": "1.0.0",
        "source": {"filter": {"name": "debian-12-sandbox-amd64-*", "owners": ["136693071363"]}},
        "build": {"ssh_username": "admin",
                  "bastion": {"host": "127.0.0.1", "port": jump.port, "username": "root",
                              "private_key_file": "keys/bastion", "host_key": jump.host_public_key}},
        "provision": [{"type": "shell", "sudo": True,
                       "inline": ["echo 'provisioned through the bastion' > /etc/via-bastion"]}],
        "image": {"name": "viabastion-{{ timestamp }}-{{ build_id }}"},
        "validate": {"suites": ["suites/test_bastion.py"], "on_build": True},
    }
    path = project / "viabastion.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_build_and_both_validations_go_through_the_pinned_bastion(sandbox: Any, sandbox_dir: Path,
                                                                   tmp_path: Path) -> None:
    with LocalSshd(tmp_path / "jump", settings={"LogLevel": "VERBOSE"}) as jump:
        path = recipe(tmp_path / "project", jump)
        work = tmp_path / "work"
        proc = run_invoke(["bake", str(path)], work_dir=work, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (build_id,) = build_ids(work)
        validation = manifest_of(work, build_id)["validation"]
        assert validation["build"]["passed"] == 1 and validation["passed"] == 1, validation
        # Build connection, the on_build suite's relay, the image instance's wait and its suite's relay.
        accepted = jump.log_file.read_text().count("Accepted publickey for root")
        assert accepted >= 4, jump.log_file.read_text()[-3000:]
