"""The reaper (`invoke clean --older-than HOURS`) in the sandbox: it removes what a SIGKILLed bake left, in every
region of the account, while a bake running at the same time (same work dir) goes on untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from goldsmith.engine.runner import FAULT_ENV
from tests.sandbox.helpers import REPO, build_ids, leftovers, run_invoke

pytestmark = pytest.mark.sandbox

RECIPE = """\
name: reap
version: "1.0.0"
variables:
  gate: {default: "/"}
source:
  filter:
    name: debian-12-sandbox-amd64-*
    owners: ["136693071363"]
build:
  instance_type: t3.micro
  ssh_username: admin
  timeouts: {ssh: 60}
provision:
  # The bake waits (up to 5 min) until the gate file exists in the instance: the test opens it.
  - {type: shell, inline: ["timeout 300 sh -c 'until [ -e {{ gate }} ]; do sleep 0.2; done'"]}
image:
  name: "reap-{{ timestamp }}-{{ build_id[-4:] }}"
"""


GATE = "/var/tmp/reaper-go"


def _instance_launched(work: Path, build_id: str) -> str | None:
    """The id of the build's instance once its journal records it."""
    path = work / "builds" / f"{build_id}.json"
    if not path.exists():
        return None
    entries = json.loads(path.read_text()).get("entries", [])
    return next((str(e["id"]) for e in entries if e["kind"] == "instance" and e.get("id")), None)


def test_clean_older_than_0_removes_a_killed_bake_and_leaves_a_running_one(
    sandbox: Any, ec2: Any, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "recipes").mkdir(parents=True)
    (project / "invoke.yaml").write_text("goldsmith: {}\n")
    recipe = project / "recipes" / "reap.yaml"
    recipe.write_text(RECIPE)
    work = tmp_path / "work"
    env = {**os.environ, "INVOKE_GOLDSMITH_WORK_DIR": str(work), "INVOKE_GOLDSMITH_PLAIN": "true"}
    running = subprocess.Popen([sys.executable, "-m", "invoke", "bake", str(recipe), "--var", f"gate={GATE}"], cwd=REPO,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (build_ids(work) and _instance_launched(work, build_ids(work)[0])):
            assert time.monotonic() < deadline and running.poll() is None, "the running bake did not launch"
            time.sleep(0.2)
        (alive,) = build_ids(work)
        killed = run_invoke(["bake", str(recipe)], work_dir=work, env={FAULT_ENV: "launch-instance:SIGKILL"})
        assert killed.returncode in (-9, 137), killed.stdout[-2000:] + killed.stderr[-2000:]
        (dead,) = set(build_ids(work)) - {alive}
        assert leftovers(ec2, dead).get("instances"), "the killed bake left no instance to reap"

        reap = run_invoke(["clean", "--older-than", "0", "--yes"], work_dir=work)
        assert reap.returncode == 0, reap.stdout + reap.stderr
        assert leftovers(ec2, dead) == {}
        assert running.poll() is None, "the reaper ran after the running bake ended: the test proves nothing"
        assert set(leftovers(ec2, alive)) >= {"instances", "key-pairs", "security-groups"}
        # Open the gate: the instance's root filesystem is a directory of the sandbox on this host.
        instance_id = _instance_launched(work, alive)
        (Path(sandbox.state_dir) / "runtime" / "instances" / str(instance_id) / "root" / GATE.lstrip("/")).touch()
        output, _ = running.communicate(timeout=300)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    assert running.returncode == 0, output[-3000:]
    assert set(leftovers(ec2, alive)) <= {"images", "snapshots"}
