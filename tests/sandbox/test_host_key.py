"""Host-key pinning as it must work on EC2: cloud-init's block arrives through `logger` (every line
prefixed, "ec2: ssh-ed25519 AAAA..."), and EC2 posts console output some time after boot. The sandbox
behaves that way (prefixed lines; the "aws" latency profile delays the console), so these bakes pin
from the console only if the console is parsed and polled as AWS requires."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goldsmith.engine.runner import FAULT_ENV
from tests.sandbox.helpers import REPO, build_ids, leftovers, run_invoke

pytestmark = pytest.mark.sandbox

BASE = REPO / "recipes" / "base.yaml"


@pytest.fixture
def recipe(tmp_path: Path) -> Iterator[Any]:
    """base.yaml with build settings added (host_key, timeouts), inside the project as recipes must be."""
    made: list[Path] = []

    def make(build_lines: str) -> Path:
        # Unique across xdist workers: tmp_path's name is cut to 30 characters and numbered per worker, so two
        # parametrized cases on two workers got the same name and one removed the other's recipe.
        path = REPO / "recipes" / f".test-hostkey-{secrets.token_hex(6)}.yaml"
        path.write_text(BASE.read_text().replace("build:\n", f"build:\n{build_lines}", 1))
        made.append(path)
        return path

    yield make
    for path in made:
        path.unlink(missing_ok=True)


@pytest.fixture
def control(sandbox_client: Any) -> Iterator[Any]:
    yield sandbox_client
    sandbox_client.set_latency("instant")


def _log(work: Path) -> str:
    (log,) = (work / "logs").glob("*.jsonl")
    return log.read_text()


def test_the_console_carries_the_keys_as_cloud_init_on_ec2_prints_them(ec2: Any) -> None:
    image = ec2.describe_images(Owners=["136693071363"])["Images"][0]
    instance_id = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    try:
        output = ec2.get_console_output(InstanceId=instance_id, Latest=True)["Output"]
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
    assert "ec2: -----BEGIN SSH HOST KEY KEYS-----" in output
    assert "\nec2: ssh-ed25519 AAAA" in output


def test_a_bake_pins_the_build_and_validation_keys_from_the_console(
    sandbox_dir: Path, recipe: Any, tmp_path: Path
) -> None:
    """With `required`, a key not read from the console fails the bake: this bake passing proves both
    instances were pinned from the console's ec2:-prefixed lines."""
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)}
    proc = run_invoke(["bake", str(recipe("  host_key: required\n"))], work_dir=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = _log(tmp_path)
    assert "host key ssh-ed25519 pinned from the console output" in log
    assert "host key ssh-ed25519 of the validation instance pinned from the console output" in log


def test_a_console_posted_late_is_polled_until_the_keys_are_there(
    sandbox_dir: Path, control: Any, recipe: Any, tmp_path: Path
) -> None:
    control.set_latency("aws", scale=1.0)  # the console appears 3 s after boot; running after 2 s
    before = len(control.requests("GetConsoleOutput"))
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), FAULT_ENV: "wait-for-ssh:error"}
    proc = run_invoke(["bake", str(recipe("  host_key: required\n"))], work_dir=tmp_path, env=env)
    assert "injected fault in step wait-for-ssh" in proc.stderr, proc.stdout + proc.stderr
    assert "pinned from the console output" in _log(tmp_path)
    assert len(control.requests("GetConsoleOutput")) - before > 1  # read again until the keys came


@pytest.mark.parametrize("mode", ["required", "first-use"])
def test_no_key_on_the_console_in_time(mode: str, sandbox_dir: Path, control: Any, recipe: Any, ec2: Any,
                                       tmp_path: Path) -> None:
    control.set_latency("aws", scale=3.0)  # the console appears 9 s after boot, the recipe waits 1 s
    env = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), FAULT_ENV: "wait-for-ssh:error"}
    proc = run_invoke(["bake", str(recipe(f"  host_key: {mode}\n  timeouts: {{host_key: 1}}\n"))],
                      work_dir=tmp_path, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    (build_id,) = build_ids(tmp_path)
    assert leftovers(ec2, build_id) == {}
    if mode == "required":
        assert "no SSH host keys on its console within 1 s" in out and "refuses to trust" in out, out
        assert "injected fault" not in out
    else:
        assert "trusting the host key it shows first" in out, out
        assert "injected fault in step wait-for-ssh" in out  # it went on and connected
