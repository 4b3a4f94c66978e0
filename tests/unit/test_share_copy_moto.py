"""KMS preflight, sharing and region copies against a real moto server process (with Goldsmith's fixes)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from goldsmith.aws import kms
from goldsmith.aws.ec2 import Waits
from goldsmith.aws.session import Aws
from goldsmith.errors import AwsError, Interrupted, PreflightError
from goldsmith.images.clean import clean
from goldsmith.images.copy import CopyHooks, CopyRequest, RegionCopier, RegionCopy, copy_image_to_regions
from goldsmith.images.share import share_image, share_spec
from tests.sandbox.helpers import deprecated_a_moment_ago

CONSUMER, OTHER = "222222222222", "333333333333"
REGIONS = ["us-west-2", "eu-west-1"]
_names = itertools.count()


def new_image(aws: Aws, *, encrypt_key: str | None = None) -> str:
    """A two-device AMI of our own, tagged, registered from fresh snapshots."""
    ec2 = aws.ec2()
    snaps = {}
    for device, size in (("/dev/xvda", 8), ("/dev/sdf", 4)):
        extra = {"Encrypted": True, "KmsKeyId": encrypt_key} if encrypt_key else {}
        volume = ec2.create_volume(Size=size, AvailabilityZone="us-east-1a", **extra)  # type: ignore[arg-type]
        snaps[device] = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    return ec2.register_image(
        Name=f"shared-{next(_names)}", Description="a shared image", RootDeviceName="/dev/xvda",
        Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"SnapshotId": s}} for d, s in snaps.items()],
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Role", "Value": "shared"},
                                                              {"Key": "goldsmith:build-id", "Value": "b-1"}]}],
    )["ImageId"]


def key(aws: Aws, region: str, *, consumers: tuple[str, ...] = (), enabled: bool = True) -> str:
    client = aws.kms(region)
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                         "Action": "kms:*", "Resource": "*"}]
    if consumers:
        statements.append({"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in consumers]},
                           "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"], "Resource": "*"})
    arn = client.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))["KeyMetadata"]["Arn"]
    if not enabled:
        client.disable_key(KeyId=arn.split("/")[-1])  # moto wants the bare id here
    return arn


def named(aws: Aws, region: str, name: str) -> list[dict[str, Any]]:
    flt = [{"Name": "name", "Values": [name]}]
    return list(aws.ec2(region).describe_images(Owners=["self"], Filters=flt)["Images"])


# KMS preflight: the four cases of the issue, and the ones that pass ---------------------------------------
def test_a_key_that_does_not_exist(aws: Aws) -> None:
    for missing in ("alias/does-not-exist", "0b8a4e6e-1111-2222-3333-444455556666"):
        with pytest.raises(PreflightError, match=f"KMS key {missing} does not exist in us-east-1"):
            kms.describe_key(aws.kms("us-east-1"), missing, "us-east-1", field="image.encrypt.kms_key")


def test_a_disabled_key(aws: Aws) -> None:
    arn = key(aws, "us-east-1", enabled=False)
    with pytest.raises(PreflightError, match=r"is Disabled, not Enabled: enable it"):
        kms.describe_key(aws.kms("us-east-1"), arn, "us-east-1", field="image.encrypt.kms_key")


def test_the_default_ebs_key_cannot_serve_a_consumer(aws: Aws) -> None:
    info = kms.describe_key(aws.kms("us-east-1"), "alias/aws/ebs", "us-east-1", field="image.encrypt.kms_key")
    kms.check_consumers(aws.kms("us-east-1"), info, accounts=[], field="f")  # not shared: fine
    with pytest.raises(PreflightError, match=rf"alias/aws/ebs .*AWS managed key.*{CONSUMER}"):
        kms.check_consumers(aws.kms("us-east-1"), info, accounts=[CONSUMER], field="image.encrypt.kms_key")


def test_a_policy_without_the_consumer(aws: Aws) -> None:
    arn = key(aws, "us-east-1", consumers=(OTHER,))
    info = kms.describe_key(aws.kms("us-east-1"), arn, "us-east-1", field="image.encrypt.kms_key")
    with pytest.raises(PreflightError) as err:
        kms.check_consumers(aws.kms("us-east-1"), info, accounts=[CONSUMER, OTHER], field="image.encrypt.kms_key")
    message = str(err.value)
    assert arn in message and f"{CONSUMER} (missing kms:Decrypt, kms:CreateGrant, kms:DescribeKey)" in message
    assert f"{OTHER} (" not in message


def test_a_policy_or_a_grant_that_serves_the_consumer(aws: Aws) -> None:
    info = kms.describe_key(aws.kms("us-east-1"), key(aws, "us-east-1", consumers=(CONSUMER,)), "us-east-1", field="f")
    kms.check_consumers(aws.kms("us-east-1"), info, accounts=[CONSUMER], field="f")
    granted = key(aws, "us-east-1")
    aws.kms("us-east-1").create_grant(KeyId=granted, GranteePrincipal=f"arn:aws:iam::{CONSUMER}:root",
                                      Operations=["Decrypt", "DescribeKey", "CreateGrant"])
    info = kms.describe_key(aws.kms("us-east-1"), granted, "us-east-1", field="f")
    kms.check_consumers(aws.kms("us-east-1"), info, accounts=[CONSUMER], field="f")


def test_a_key_of_another_region(aws: Aws) -> None:
    arn = key(aws, "us-west-2")
    with pytest.raises(PreflightError, match="is in us-west-2, but it must be in us-east-1"):
        kms.describe_key(aws.kms("us-east-1"), arn, "us-east-1", field="image.encrypt.kms_key")


# Sharing an existing AMI ----------------------------------------------------------------------------------
def test_share_is_idempotent_and_remove_takes_it_back(aws: Aws) -> None:
    image_id = new_image(aws)
    spec = share_spec([CONSUMER, OTHER], ["arn:aws:organizations::123456789012:organization/o-abcde12345"], [],
                      snapshots=True)
    first = share_image(aws, "us-east-1", image_id, spec)
    assert first.changed and len(first.launch_changed) == 3 and len(first.snapshots_changed) == 2
    assert not share_image(aws, "us-east-1", image_id, spec).changed
    perms = aws.ec2().describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert {p.get("UserId") for p in perms} >= {CONSUMER, OTHER} and {"Group": "all"} not in perms
    removed = share_image(aws, "us-east-1", image_id, share_spec([OTHER], [], [], snapshots=True), remove=True)
    assert removed.launch_changed == [{"UserId": OTHER}]
    perms = aws.ec2().describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert {p.get("UserId") for p in perms if "UserId" in p} == {CONSUMER}
    assert not share_image(aws, "us-east-1", image_id, share_spec([OTHER], [], []), remove=True).changed


def test_sharing_an_encrypted_image_checks_its_key_first(aws: Aws) -> None:
    image_id = new_image(aws, encrypt_key=key(aws, "us-east-1"))
    with pytest.raises(PreflightError, match=CONSUMER):
        share_image(aws, "us-east-1", image_id, share_spec([CONSUMER], [], []))
    perms = aws.ec2().describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == []


# Region copies --------------------------------------------------------------------------------------------
def test_copy_repeats_name_tags_permissions_deprecation_and_encrypts_per_region(aws: Aws, tmp_path: Path) -> None:
    image_id = new_image(aws)
    share_image(aws, "us-east-1", image_id, share_spec([CONSUMER], [], [], snapshots=True))
    when = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    aws.ec2().enable_image_deprecation(ImageId=image_id, DeprecateAt=when)
    keys = {r: key(aws, r, consumers=(CONSUMER,)) for r in REGIONS}
    result = copy_image_to_regions(aws, source_region="us-east-1", image_id=image_id, regions=REGIONS,
                                   kms_keys=keys, timeout=30, delay=0.05, work_dir=tmp_path)
    source = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]
    for region in REGIONS:
        ec2 = aws.ec2(region)
        copy = ec2.describe_images(ImageIds=[result.copies[region].image_id])["Images"][0]
        assert copy["Name"] == source["Name"] and copy["Description"] == "a shared image"
        assert {t["Key"]: t["Value"] for t in copy["Tags"]} == {"Role": "shared", "goldsmith:build-id": "b-1"}
        assert copy["DeprecationTime"].startswith(when.strftime("%Y-%m-%dT%H:%M"))
        perms = ec2.describe_image_attribute(ImageId=copy["ImageId"], Attribute="launchPermission")
        assert perms["LaunchPermissions"] == [{"UserId": CONSUMER}]
        assert set(result.copies[region].snapshots) == {"/dev/xvda", "/dev/sdf"}
        for snapshot_id in result.copies[region].snapshots.values():
            snap = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
            assert snap["Encrypted"] and snap["KmsKeyId"] == keys[region]
            assert {"Key": "goldsmith:build-id", "Value": "b-1"} in snap["Tags"]
            attr = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
            assert attr["CreateVolumePermissions"] == [{"UserId": CONSUMER}]
    again = copy_image_to_regions(aws, source_region="us-east-1", image_id=image_id, regions=REGIONS,
                                  kms_keys=keys, timeout=30, delay=0.05, work_dir=tmp_path)
    assert again.copies == {} and again.existing == {r: c.image_id for r, c in result.copies.items()}


def test_copy_of_an_image_whose_deprecation_has_passed_warns_and_leaves_it_out(aws: Aws, tmp_path: Path) -> None:
    """EnableImageDeprecation refuses a past time; re-applying it failed the copy and removed every copy."""
    image_id = new_image(aws)
    share_image(aws, "us-east-1", image_id, share_spec([CONSUMER], [], []))
    when = deprecated_a_moment_ago(aws.ec2(), image_id)
    lines: list[str] = []
    result = copy_image_to_regions(aws, source_region="us-east-1", image_id=image_id, regions=REGIONS,
                                   kms_keys={}, timeout=30, delay=0.05, work_dir=tmp_path, report=lines.append)
    assert set(result.copies) == set(REGIONS)
    for region in REGIONS:
        copy_id = result.copies[region].image_id
        ec2 = aws.ec2(region)
        copy = ec2.describe_images(ImageIds=[copy_id])["Images"][0]
        assert "DeprecationTime" not in copy
        perms = ec2.describe_image_attribute(ImageId=copy_id, Attribute="launchPermission")
        assert perms["LaunchPermissions"] == [{"UserId": CONSUMER}]  # the rest is still repeated
        assert (f"warning: {region}: {copy_id} is not deprecated: the source's deprecation time "
                f"{when:%Y-%m-%d %H:%M} UTC has passed, and AWS refuses a time in the past") in lines


def test_a_failed_copy_removes_every_copy(aws: Aws) -> None:
    image_id = new_image(aws)
    name = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]["Name"]
    good = key(aws, "us-west-2")
    requests = [CopyRequest("us-west-2", name, "", {"goldsmith:build-id": "b-2"}, good),
                CopyRequest("eu-west-1", name, "", {"goldsmith:build-id": "b-2"}, "alias/not-there")]
    made: list[RegionCopy] = []
    copier = RegionCopier(aws, source_region="us-east-1", source_image_id=image_id, requests=requests,
                          timeout=30, delay=0.05, token="t-fail",
                          hooks=CopyHooks(finished=made.append))
    with pytest.raises(AwsError, match="CopyImage"):
        copier.run()
    assert copier.remove_all() == []
    for region in REGIONS:
        assert named(aws, region, name) == []
    for copy in made:
        found = aws.ec2(copy.region).describe_snapshots(Filters=[{"Name": "snapshot-id",
                                                                  "Values": list(copy.snapshots.values())}])
        assert found["Snapshots"] == []


def test_ctrl_c_while_copying_leaves_nothing(aws: Aws) -> None:
    image_id = new_image(aws)
    name = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]["Name"]
    requests = [CopyRequest(r, name, "", {}, None) for r in REGIONS]

    def interrupt(request: CopyRequest, image_id: str, token: object) -> None:
        if request.region == REGIONS[0]:  # one real Ctrl-C; it lands in the main thread, which is waiting
            os.kill(os.getpid(), signal.SIGINT)

    copier = RegionCopier(aws, source_region="us-east-1", source_image_id=image_id, requests=requests,
                          timeout=30, delay=0.05, token="t-int", hooks=CopyHooks(copied=interrupt))
    with pytest.raises(KeyboardInterrupt):
        copier.run()
    assert copier.cancel.is_set()
    assert copier.remove_all() == []
    for region in REGIONS:
        assert named(aws, region, name) == []


# `invoke copy` and signals: SIGTERM, a second Ctrl-C, SIGKILL then `invoke clean` ----------------------------
COPY_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.errors import Interrupted
from goldsmith.images.copy import copy_image_to_regions

url, image_id, work, fault = sys.argv[1:5]
aws = Aws(AwsSettings(region="us-east-1", endpoint_url=url, access_key_id="testing",
                      secret_access_key="testing", max_attempts=1))

def report(line):
    print(line, flush=True)
    if line.endswith(" available"):  # every copy exists; the first one is being published
        os.kill(os.getpid(), getattr(signal, fault))
        time.sleep(5)

try:
    copy_image_to_regions(aws, source_region="us-east-1", image_id=image_id, regions=sys.argv[5:],
                          kms_keys={}, timeout=30, delay=0.05, work_dir=Path(work), report=report)
except Interrupted as exc:
    print(f"interrupted: {exc}", flush=True)
    sys.exit(exc.exit_code)
"""


def _copy_in_subprocess(aws: Aws, image_id: str, work: Path, fault: str) -> subprocess.CompletedProcess[str]:
    url = aws.ec2().meta.endpoint_url
    return subprocess.run([sys.executable, "-c", COPY_SCRIPT, url, image_id, str(work), fault, *REGIONS],
                          capture_output=True, text=True, timeout=120, check=False)


def _copy_journal(work: Path) -> dict[str, Any]:
    (path,) = (work / "builds").glob("copy-*.json")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_copy_journals_its_copies_and_a_succeeded_copy_is_left_by_clean(aws: Aws, tmp_path: Path) -> None:
    image_id = new_image(aws)
    result = copy_image_to_regions(aws, source_region="us-east-1", image_id=image_id, regions=REGIONS,
                                   kms_keys={}, timeout=30, delay=0.05, work_dir=tmp_path)
    data = _copy_journal(tmp_path)
    assert data["build_id"] == result.copy_id and data["status"] == "succeeded"
    images = {(e["region"], e["id"]) for e in data["entries"] if e["kind"] == "image"}
    assert images == {(r, c.image_id) for r, c in result.copies.items()}
    cleaned = clean(aws, regions=REGIONS, work_dir=tmp_path, build_id=result.copy_id,
                    waits=Waits(delay=0.05), dry_run=False, report=lambda line: None)
    assert cleaned.count == 0
    for region, copy in result.copies.items():
        assert aws.ec2(region).describe_images(ImageIds=[copy.image_id])["Images"]


def test_sigterm_while_copying_removes_every_copy_and_exits_130(aws: Aws, tmp_path: Path) -> None:
    image_id = new_image(aws)
    name = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]["Name"]
    proc = _copy_in_subprocess(aws, image_id, tmp_path, "SIGTERM")
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "interrupted by SIGTERM" in proc.stdout
    for region in REGIONS:
        assert named(aws, region, name) == []
    data = _copy_journal(tmp_path)
    assert data["status"] == "interrupted"
    assert {e["status"] for e in data["entries"]} == {"deleted"}


def test_a_second_ctrl_c_does_not_stop_the_removal_of_the_copies(aws: Aws, tmp_path: Path) -> None:
    image_id = new_image(aws)
    name = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]["Name"]

    def impatient(line: str) -> None:  # Ctrl-C once all copies exist, and again at the first removal
        if line.endswith(" available") or ": removed " in line:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)

    raised: BaseException | None = None
    try:  # not pytest.raises: a KeyboardInterrupt escaping the removal must fail this test, not stop pytest
        copy_image_to_regions(aws, source_region="us-east-1", image_id=image_id, regions=REGIONS,
                              kms_keys={}, timeout=30, delay=0.05, work_dir=tmp_path, report=impatient)
    except BaseException as exc:
        raised = exc
    assert isinstance(raised, Interrupted) and "Ctrl-C" in str(raised), repr(raised)
    for region in REGIONS:
        assert named(aws, region, name) == []


def test_clean_build_id_removes_the_copies_a_sigkilled_copy_left(aws: Aws, tmp_path: Path) -> None:
    image_id = new_image(aws)
    name = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]["Name"]
    proc = _copy_in_subprocess(aws, image_id, tmp_path, "SIGKILL")
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    left = {r: named(aws, r, name) for r in REGIONS}
    assert all(len(images) == 1 for images in left.values()), left
    snapshots = {r: [m["Ebs"]["SnapshotId"] for m in i[0]["BlockDeviceMappings"]] for r, i in left.items()}
    copy_id = _copy_journal(tmp_path)["build_id"]
    cleaned = clean(aws, regions=[], work_dir=tmp_path, build_id=copy_id, waits=Waits(delay=0.05),
                    dry_run=False, report=lambda line: None)
    assert cleaned.failures == []
    for region in REGIONS:
        assert named(aws, region, name) == []
        found = aws.ec2(region).describe_snapshots(OwnerIds=["self"])["Snapshots"]
        assert {s["SnapshotId"] for s in found} & set(snapshots[region]) == set()
    assert _copy_journal(tmp_path)["status"] == "cleaned"
