"""The IAM permissions Goldsmith needs, as data: the source of docs/iam-policy.json (bake, validate, copy to
regions, clean) and docs/iam-policy-sharing.json (the same plus sharing and the consumers' KMS key checks).

Each statement lists the API actions some code path of Goldsmith calls (tests/unit/test_iam_policy.py scans
the code and fails when a call has no statement here), plus the ones AWS authorizes on the caller's behalf
while serving a call of ours: the KMS actions EC2 uses for encrypted volumes and copies, ``ec2:CreateTags``
for tags given at creation, ``iam:PassRole`` for ``build.iam_instance_profile``. Resources are ``*``: most EC2
Describe and Create actions take no resource-level restriction, and Goldsmith's resources are only known
by their ``goldsmith:build-id`` tag once they exist.

The bake's permission preflight asks IAM (SimulatePrincipalPolicy) about the statements a recipe needs
(`needed_statements`), and an access denial anywhere names the statement and the document
(`advice_for`). ``python -m goldsmith.aws.permissions [--sharing]`` prints a document; ``invoke docs``
writes both.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

POLICY_FILE = "docs/iam-policy.json"
SHARING_POLICY_FILE = "docs/iam-policy-sharing.json"


@dataclass(frozen=True)
class Statement:
    """One statement of the policy: a Sid saying what it is for, its actions, and whether it belongs to the
    sharing variant only. `condition` holds for actions AWS calls on our behalf (evaluated by AWS only)."""

    sid: str
    actions: tuple[str, ...]
    sharing: bool = False
    condition: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"Sid": self.sid, "Effect": "Allow", "Action": sorted(self.actions), "Resource": "*"}
        if self.condition:
            doc["Condition"] = {op: dict(values) for op, values in self.condition.items()}
        return doc


STATEMENTS: tuple[Statement, ...] = (
    # resolve-source, preflight, the waits, `invoke clean` (find everything tagged with a build id)
    Statement("ReadImagesInstancesAndNetwork", (
        "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeVolumes",
        "ec2:DescribeSecurityGroups", "ec2:DescribeKeyPairs", "ec2:DescribeVpcs", "ec2:DescribeSubnets",
        "ec2:DescribeRegions", "ec2:GetEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId",
        "ec2:GetConsoleOutput", "ec2:GetInstanceUefiData", "kms:DescribeKey")),
    # the bake's permission preflight: what this identity may do, asked before anything is launched
    Statement("CheckOwnPermissions", ("iam:SimulatePrincipalPolicy", "iam:GetRole")),
    Statement("TemporaryKeyPairAndSecurityGroup", (
        "ec2:CreateKeyPair", "ec2:DeleteKeyPair", "ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup")),
    Statement("BuildAndValidationInstances", ("ec2:RunInstances", "ec2:StopInstances", "ec2:TerminateInstances")),
    # tags at creation (TagSpecifications) need CreateTags too; and goldsmith:validation on images
    Statement("TagWhatGoldsmithCreates", ("ec2:CreateTags",)),
    Statement("SnapshotAndRegister", (
        "ec2:CreateSnapshots", "ec2:RegisterImage", "ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:DeleteVolume")),
    Statement("CopyToRegionsAndDeprecate", ("ec2:CopyImage", "ec2:EnableImageDeprecation")),
    # EC2 uses the recipe's (or the account's default) KMS key for encrypted volumes, snapshots and copies
    Statement("EncryptedVolumesThroughEc2", (
        "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom",
        "kms:ReEncryptTo"), condition={"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}),
    Statement("PassBuildInstanceProfileRole", ("iam:PassRole",),
              condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
    # channels (image.channel, source.channel, `invoke promote` / `rollback`): SSM parameters of type aws:ec2:image
    Statement("Channels", (
        "ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory", "ssm:GetParametersByPath",
        "ssm:PutParameter", "ssm:DeleteParameter")),
    # retention (image.retention, `invoke prune`, `invoke images --enable`): disable, re-enable, and see which
    # images launch templates still name
    Statement("RetireImages", ("ec2:DisableImage", "ec2:EnableImage", "ec2:DescribeLaunchTemplates",
                               "ec2:DescribeLaunchTemplateVersions")),
    # sharing: launch permissions (accounts, organizations, OUs, public) and snapshot permissions
    Statement("ShareImagesAndSnapshots", (
        "ec2:ModifyImageAttribute", "ec2:DescribeImageAttribute", "ec2:ModifySnapshotAttribute",
        "ec2:DescribeSnapshotAttribute", "ec2:GetImageBlockPublicAccessState"), sharing=True),
    # may the consumers use the KMS keys of a shared encrypted image (key policy and grants)?
    Statement("CheckConsumerKeyAccess", ("kms:GetKeyPolicy", "kms:ListGrants"), sharing=True),
)
_BY_SID = {s.sid: s for s in STATEMENTS}


UNLISTED_CALLS: tuple[str, ...] = ("sts:GetCallerIdentity",)
"""Calls Goldsmith makes that need no statement: AWS answers GetCallerIdentity for any valid credentials."""


def policy_document(*, sharing: bool) -> dict[str, Any]:
    """The IAM policy document: the base statements, plus the sharing ones for the sharing variant."""
    return {"Version": "2012-10-17",
            "Statement": [s.document() for s in STATEMENTS if sharing or not s.sharing]}


def render(*, sharing: bool) -> str:
    """The document as the docs/ files hold it (stable order, 2-space indent, final newline)."""
    return json.dumps(policy_document(sharing=sharing), indent=2) + "\n"


def statement_of(action: str) -> Statement | None:
    """The statement that grants `action` ('ec2:RunInstances'), or None if Goldsmith never needs it."""
    return next((s for s in STATEMENTS if action in s.actions), None)


def action_named(operation: str) -> str | None:
    """The IAM action of an API operation name ('RunInstances' -> 'ec2:RunInstances'), from the table."""
    return next((a for s in STATEMENTS for a in s.actions if a.split(":", 1)[1] == operation), None)


@dataclass(frozen=True)
class Needs:
    """What a bake of one recipe does beyond the base: each flag adds statements to check."""

    copy_regions: bool = False
    deprecate: bool = False
    share: bool = False
    encrypted: bool = False  # explicit or by default: EC2 uses KMS for us
    consumer_keys: bool = False  # an encrypted image shared with others: their key access is checked
    instance_profile: bool = False
    channels: bool = False  # image.channel or source.channel
    retention: bool = False  # image.retention


def needed_statements(needs: Needs) -> list[Statement]:
    """The statements a bake with these needs uses, in document order."""
    wanted = {"ReadImagesInstancesAndNetwork", "TemporaryKeyPairAndSecurityGroup", "BuildAndValidationInstances",
              "TagWhatGoldsmithCreates", "SnapshotAndRegister"}
    wanted |= {"CopyToRegionsAndDeprecate"} if needs.copy_regions or needs.deprecate else set()
    wanted |= {"ShareImagesAndSnapshots"} if needs.share else set()
    wanted |= {"EncryptedVolumesThroughEc2"} if needs.encrypted else set()
    wanted |= {"CheckConsumerKeyAccess"} if needs.consumer_keys else set()
    wanted |= {"PassBuildInstanceProfileRole"} if needs.instance_profile else set()
    wanted |= {"Channels"} if needs.channels else set()
    wanted |= {"RetireImages"} if needs.retention else set()
    return [s for s in STATEMENTS if s.sid in wanted]


def policy_file_for(statements: Iterable[Statement]) -> str:
    """The document to attach: the sharing variant as soon as one statement belongs to it."""
    return SHARING_POLICY_FILE if any(s.sharing for s in statements) else POLICY_FILE


def advice_for(actions: Sequence[str], needed: Iterable[Statement] = ()) -> str:
    """'which statement, which document' for denied actions, as the end of an error message; the sharing
    variant when a denied action or one of the `needed` statements (the whole run's) belongs to it."""
    statements = [s for s in (statement_of(a) for a in actions) if s is not None]
    sids = sorted({s.sid for s in statements})
    where = f" (statement{'s' if len(sids) > 1 else ''} {', '.join(sids)})" if sids else ""
    document = policy_file_for([*statements, *needed])
    variant = " --sharing" if document == SHARING_POLICY_FILE else ""
    return (f"attach Goldsmith's IAM policy {document}{where} to this identity "
            f"(`python -m goldsmith.aws.permissions{variant}` prints it)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m goldsmith.aws.permissions",
                                     description="Print the IAM policy Goldsmith needs.")
    parser.add_argument("--sharing", action="store_true", help="the variant that also shares images and snapshots")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    sys.stdout.write(render(sharing=args.sharing))


if __name__ == "__main__":
    main()
