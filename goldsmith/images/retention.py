"""`invoke prune`: retire old builds of a recipe, never one still in use, and say why each stays or goes.

A build is kept, by the first rule that holds (EC2 Image Builder's lifecycle policies are the reference):
it carries goldsmith:keep=true; it is among the `keep` newest builds of its recipe; a channel names it now
(or in its last `channel_history` versions); a pending, running, stopping or stopped instance was launched
from it; the latest version of a launch template names it; it was launched within `launched_within_days`
(lastLaunchedTime); it is younger than `older_than_days`. Every other build is retired in every region it
has: disabled (DisableImage: no new launches, reversible with `invoke images --enable AMI`) or deregistered
with its snapshots deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from goldsmith.aws import parameters
from goldsmith.aws.calls import aws_call
from goldsmith.aws.images import remove_image
from goldsmith.aws.reaper import pages
from goldsmith.images.builds import KEEP_TAG, Build

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import LaunchTemplateTypeDef, ReservationTypeDef

    from goldsmith.aws.session import Aws

Action = Literal["disable", "deregister"]


@dataclass(frozen=True)
class Rules:
    keep: int
    older_than_days: int = 0
    channel_history: int = 1  # a channel's last K values protect their builds (1: only its current value)
    launched_within_days: int = 0  # 0: the rule is off (a bake's own validation launch counts as a launch)


@dataclass(frozen=True)
class Decision:
    build: Build
    retire: bool
    reason: str


@dataclass
class InUse:
    """What refers to AMIs, by AMI id: channels, instances, launch templates, last launches."""

    channels: dict[str, str]  # AMI id -> "recipe/channel"
    instances: dict[str, str]  # AMI id -> an instance id
    templates: dict[str, str]  # AMI id -> "template name (version N)"
    launched: dict[str, str]  # AMI id -> lastLaunchedTime


def in_use(aws: Aws, regions: list[str], builds: list[Build], prefix: str, rules: Rules) -> InUse:
    found = InUse({}, {}, {}, {})
    root = prefix.rstrip("/")
    for region in regions:
        ssm = aws.ssm(region)
        for name in parameters.channels_under(ssm, root + "/"):
            for version in parameters.history(ssm, name)[-rules.channel_history:]:
                found.channels.setdefault(version.value, name[len(root) + 1:])
        reservations: list[ReservationTypeDef] = pages(
            aws.ec2(region), "DescribeInstances", "Reservations",
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
        for instance in (i for r in reservations for i in r["Instances"]):
            found.instances.setdefault(instance.get("ImageId", ""), instance["InstanceId"])
        found.templates.update(_template_images(aws, region))
        if rules.launched_within_days:
            for build in builds:
                image = build.images.get(region)
                if image is not None:
                    with aws_call("DescribeImageAttribute", image["ImageId"]):
                        answer = aws.ec2(region).describe_image_attribute(ImageId=image["ImageId"],
                                                                          Attribute="lastLaunchedTime")
                    when = answer.get("LastLaunchedTime", {}).get("Value")
                    if when:
                        found.launched[image["ImageId"]] = str(when)
    return found


def _template_images(aws: Aws, region: str) -> dict[str, str]:
    """AMI id -> the launch template whose latest version names it."""
    ec2 = aws.ec2(region)
    templates: list[LaunchTemplateTypeDef] = pages(ec2, "DescribeLaunchTemplates", "LaunchTemplates")
    named: dict[str, str] = {}
    for template in templates:
        template_id = template.get("LaunchTemplateId", "")
        with aws_call("DescribeLaunchTemplateVersions", template_id):
            versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id,
                                                             Versions=["$Latest"])["LaunchTemplateVersions"]
        for version in versions:
            image_id = version.get("LaunchTemplateData", {}).get("ImageId", "")
            if image_id.startswith("ami-"):  # resolve:ssm:... names a channel, which protects its AMI already
                named[image_id] = f"{template.get('LaunchTemplateName', template_id)} (version " \
                                  f"{version.get('VersionNumber', '?')})"
    return named


def _age_days(created: str, now: datetime) -> float:
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (now - (when if when.tzinfo else when.replace(tzinfo=UTC))).total_seconds() / 86400


def decide(builds: list[Build], used: InUse, rules: Rules, now: datetime) -> list[Decision]:
    """Keep or retire each build (newest first per recipe), with the rule that decided."""
    decisions: list[Decision] = []
    rank: dict[str, int] = {}
    for build in sorted(builds, key=lambda b: (b.created, b.build_id), reverse=True):
        rank[build.recipe] = rank.get(build.recipe, 0) + 1
        reason = _keep_reason(build, rank[build.recipe], used, rules, now)
        decisions.append(Decision(build, not reason, reason or f"not among the {rules.keep} newest and nothing "
                                  "uses it"))
    return decisions


def _keep_reason(build: Build, rank: int, used: InUse, rules: Rules, now: datetime) -> str:
    images = {i["ImageId"]: r for r, i in build.images.items()}
    checks: list[tuple[dict[str, str], str]] = [
        (used.channels, "channel {} names it"), (used.instances, "instance {} was launched from it"),
        (used.templates, "launch template {} names it"),
    ]
    if build.tag(KEEP_TAG).lower() == "true":
        return f"tagged {KEEP_TAG}=true"
    if rank <= rules.keep:
        return f"among the {rules.keep} newest of {build.recipe} (#{rank})"
    for refs, text in checks:
        for image_id, region in images.items():
            if image_id in refs:
                return text.format(f"{refs[image_id]} ({region})")
    since = now - timedelta(days=rules.launched_within_days)
    for image_id, region in images.items():
        launched = used.launched.get(image_id, "")
        if launched and _age_days(launched, now) < rules.launched_within_days:
            return f"launched at {launched} ({region}), after {since:%Y-%m-%d}"
    if rules.older_than_days and _age_days(build.created, now) < rules.older_than_days:
        return f"younger than {rules.older_than_days} days (created {build.created})"
    return ""


def retire(aws: Aws, decisions: list[Decision], action: Action, report: Callable[[str], None]) -> list[str]:
    """Disable or deregister (with snapshots) every retired build in each of its regions; returns failures."""
    failures: list[str] = []
    for decision in (d for d in decisions if d.retire):
        for region, image in sorted(decision.build.images.items()):
            image_id = image["ImageId"]
            ec2 = aws.ec2(region)
            try:
                if action == "disable":
                    if image.get("State") != "disabled":
                        with aws_call("DisableImage", image_id):
                            ec2.disable_image(ImageId=image_id)
                    report(f"disabled {image_id} ({region}, {decision.build.recipe} {decision.build.version})")
                else:
                    snapshots = remove_image(ec2, image_id)
                    report(f"deregistered {image_id} ({region}) and deleted {', '.join(snapshots) or 'no snapshots'}")
            except Exception as exc:
                failures.append(f"{image_id} in {region}: {exc}")
    return failures


def plan_lines(decisions: list[Decision], action: Action) -> list[str]:
    verb = "disable" if action == "disable" else "deregister (and delete snapshots)"
    return [f"{'RETIRE' if d.retire else 'keep  '} {d.build.recipe} {d.build.version} {d.build.build_id} "
            f"[{', '.join(f'{r}:{i}' for r, i in d.build.image_ids().items())}]: "
            f"{(verb + ': ') if d.retire else ''}{d.reason}" for d in decisions]
