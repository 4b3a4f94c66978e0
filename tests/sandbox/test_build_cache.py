"""The build cache end to end: an unchanged re-bake reuses the image and launches nothing; a changed input,
--force, a failed validation or a deregistered image bake again; a secret never shows.

The session turns the cache off for every other test (tests/conftest.py); these bakes turn it on.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.sandbox.helpers import REPO, aws_keys, run_invoke

pytestmark = pytest.mark.sandbox

SECRET = f"s3cret-{uuid.uuid4().hex}"
CREATING = ("RunInstances", "CreateKeyPair", "CreateSecurityGroup", "CreateSnapshots", "RegisterImage", "CopyImage",
            "ModifyImageAttribute", "CreateTags")

RECIPE = """\
name: cache-test
version: 1.0.0
variables:
  api_token: {{secret: true}}
source:
  filter:
    name: debian-12-sandbox-amd64-*
    owners: ["136693071363"]
build:
  instance_type: t3.micro
  ssh_username: admin
provision:
  - type: shell
    env: {{TOKEN: "{{{{ api_token }}}}"}}
    inline: ['test -n "$TOKEN"']
  - type: shell
    script: {dir}/mark.sh
image:
  name: "cache-test-{{{{ timestamp }}}}-{{{{ build_id }}}}"
  tags: {{Role: cache-test}}
  regions: [us-west-2]
  share: {{accounts: ["111122223333"]}}
  deprecate_after: 30
validate:
  suites: [{dir}/test_mark.py]
"""

SUITE = """\
def test_marked(host):
    assert host.file("/etc/goldsmith-cache-test").exists
"""


@pytest.fixture
def project() -> Iterator[Path]:
    """The recipe, its script and its suite, in a directory of the checkout (recipe paths stay inside it)."""
    directory = REPO / f".test-cache-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    (directory / "mark.sh").write_text("#!/bin/sh\nset -eu\necho cached | sudo tee /etc/goldsmith-cache-test\n")
    (directory / "test_mark.py").write_text(SUITE)
    (directory / "recipe.yaml").write_text(RECIPE.format(dir=directory.name))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def ec2_in(sandbox: Any, region: str) -> Any:
    return boto3.client("ec2", region_name=region, endpoint_url=sandbox.gateway_url,  # type: ignore[call-overload]
                        **aws_keys(sandbox))


class Baker:
    """`invoke bake` of the project's recipe with the cache on, and what each bake asked the sandbox."""

    def __init__(self, recipe: Path, work: Path, sandbox_client: Any) -> None:
        self.recipe, self.work, self.client = recipe, work, sandbox_client

    def __call__(self, *flags: str) -> tuple[dict[str, Any], dict[str, int], str]:
        """(manifest entry, requests per action made by this bake, console output)."""
        before = self._seq()
        proc = run_invoke(["bake", str(self.recipe), "--var", f"api_token={SECRET}", *flags], work_dir=self.work,
                          env={"INVOKE_GOLDSMITH_CACHE": "true"})
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        made: dict[str, int] = {}
        for request in self.client.requests():
            if request["seq"] > before:
                made[request["action"]] = made.get(request["action"], 0) + 1
        manifest_line = next(line for line in proc.stdout.splitlines() if line.startswith("manifest: "))
        entry = json.loads(Path(manifest_line.removeprefix("manifest: ")).read_text())["builds"][-1]
        return entry, made, output

    def _seq(self) -> int:
        log = self.client.requests()
        return int(log[-1]["seq"]) if log else 0


def amis(entry: dict[str, Any]) -> dict[str, str]:
    return {region: a["ami_id"] for region, a in entry["artifacts"].items()}


def test_an_unchanged_rebake_reuses_the_image_and_a_changed_one_bakes(
    sandbox: Any, sandbox_client: Any, project: Path, tmp_path: Path
) -> None:
    bake = Baker(project / "recipe.yaml", tmp_path, sandbox_client)
    first, made, output = bake()
    assert made.get("RunInstances", 0) == 2 and first["reused"] is False  # build + validation instance
    assert "build cache: no reusable image" in output
    fingerprint = first["fingerprint"]
    assert len(fingerprint) == 64 and set(amis(first)) == {"us-east-1", "us-west-2"}
    for region, ami in amis(first).items():  # the AMI and its copy carry the fingerprint from creation
        tags = {t["Key"]: t["Value"] for t in ec2_in(sandbox, region).describe_images(
            ImageIds=[ami])["Images"][0]["Tags"]}
        assert tags["goldsmith:fingerprint"] == fingerprint and tags["goldsmith:validation"] == "passed"

    # Unchanged: nothing launched, created or changed; the same AMIs, the manifest says reused and by whom.
    again, made, output = bake()
    assert not {a: n for a, n in made.items() if a in CREATING}, made
    assert sum(made.values()) <= 6, made  # source, lookup here and in us-west-2, launch permissions x 2
    assert again["reused"] is True and again["reused_from"] == first["build_id"]
    assert again["build_id"] != first["build_id"] and again["outcome"] == "succeeded"
    assert amis(again) == amis(first) and again["artifact_id"] == first["artifact_id"]
    assert again["image_name"] == first["image_name"] and again["fingerprint"] == fingerprint
    assert f"made by build {first['build_id']}: same input fingerprint {fingerprint[:12]}" in output
    assert "reused cache-test-" in output and "nothing baked" in output

    # The secret is in no tag, manifest or output (the fingerprint keys it, never shows it).
    for region in ("us-east-1", "us-west-2"):
        ec2 = ec2_in(sandbox, region)
        tagged = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["goldsmith:fingerprint"]}])["Tags"]
        assert tagged and all(SECRET not in json.dumps(t) for t in tagged)
        for ami in ec2.describe_images(Owners=["self"])["Images"]:
            assert SECRET not in json.dumps(ami, default=str)
    for manifest in (tmp_path / "manifests").glob("*.json"):
        assert SECRET not in manifest.read_text()
    assert SECRET not in output

    # --force bakes anyway (same fingerprint, a new image).
    forced, made, _ = bake("--force")
    assert made.get("RunInstances", 0) == 2 and forced["reused"] is False
    assert forced["fingerprint"] == fingerprint and amis(forced)["us-east-1"] != amis(first)["us-east-1"]

    # A change to a file the recipe runs: a new fingerprint, baked.
    with (project / "mark.sh").open("a") as script:
        script.write("# changed\n")
    changed, made, _ = bake()
    assert made.get("RunInstances", 0) == 2 and changed["reused"] is False
    assert changed["fingerprint"] != fingerprint


def test_an_image_that_failed_validation_or_was_deregistered_is_not_reused(
    sandbox: Any, sandbox_client: Any, project: Path, tmp_path: Path
) -> None:
    bake = Baker(project / "recipe.yaml", tmp_path, sandbox_client)
    first, _, _ = bake()
    ec2 = ec2_in(sandbox, "us-east-1")
    ec2.create_tags(Resources=[amis(first)["us-east-1"]], Tags=[{"Key": "goldsmith:validation", "Value": "failed"}])
    second, made, output = bake()
    assert made.get("RunInstances", 0) == 2 and second["reused"] is False
    assert f"{amis(first)['us-east-1']} (build {first['build_id']}) failed its validation" in output

    ec2.deregister_image(ImageId=amis(second)["us-east-1"])
    third, made, _ = bake()
    assert made.get("RunInstances", 0) == 2 and third["reused"] is False
    assert amis(third)["us-east-1"] not in (amis(first)["us-east-1"], amis(second)["us-east-1"])

    # A copy gone from a region the recipe asks for: not reused either (all regions or none).
    ec2_in(sandbox, "us-west-2").deregister_image(ImageId=amis(third)["us-west-2"])
    fourth, made, output = bake()
    assert made.get("RunInstances", 0) == 2 and fourth["reused"] is False
    assert "no usable copy in us-west-2" in output
    reused, made, _ = bake()
    assert "RunInstances" not in made and amis(reused) == amis(fourth)


def test_an_image_of_a_recipe_without_suites_is_reused(
    sandbox: Any, sandbox_client: Any, project: Path, tmp_path: Path
) -> None:
    """Tagged goldsmith:validation=none at registration (nothing will validate it), so it is reusable, unlike
    an image whose bake stopped before validating (no tag at all)."""
    recipe = project / "recipe.yaml"
    text = recipe.read_text()
    recipe.write_text(text[:text.index("validate:")])
    bake = Baker(recipe, tmp_path, sandbox_client)
    first, made, _ = bake()
    assert made.get("RunInstances", 0) == 1 and first["reused"] is False  # no validation instance
    for region, ami in amis(first).items():
        tags = ec2_in(sandbox, region).describe_images(ImageIds=[ami])["Images"][0]["Tags"]
        assert {"Key": "goldsmith:validation", "Value": "none"} in tags, region
    again, made, output = bake()
    assert "RunInstances" not in made and again["reused"] is True and amis(again) == amis(first)
    assert "the recipe has no suites" in output
