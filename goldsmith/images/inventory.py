"""`invoke images`: every AMI Goldsmith made, one row per build, for people (a table) and scripts (JSON).

Each row: recipe, version, build id, AMI per region, creation time, validation status, the channels naming it,
who it is shared with, deprecation, disabled regions, total snapshot size and when it was last launched
(DescribeImageAttribute lastLaunchedTime; AWS updates it within 24 hours of a launch).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from goldsmith.aws import parameters
from goldsmith.aws.calls import aws_call
from goldsmith.aws.sharing import grantee
from goldsmith.images.builds import Build, find_builds

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef

    from goldsmith.aws.session import Aws


@dataclass
class Row:
    recipe: str
    version: str
    build_id: str
    created: str
    validation: str
    images: dict[str, str]  # region -> AMI id
    channels: list[str] = field(default_factory=list)  # "recipe/channel (region)"
    shared_with: list[str] = field(default_factory=list)
    deprecation: str = ""
    disabled: list[str] = field(default_factory=list)  # regions where it is disabled
    snapshot_gib: int = 0
    last_launched: str = ""


def channel_values(aws: Aws, regions: list[str], prefix: str) -> dict[tuple[str, str], list[str]]:
    """(region, AMI id) -> the channels naming it now, as 'recipe/channel'."""
    root = prefix.rstrip("/")
    named: dict[tuple[str, str], list[str]] = {}
    for region in regions:
        for name, value in parameters.channels_under(aws.ssm(region), root + "/").items():
            named.setdefault((region, value), []).append(name[len(root) + 1:])
    return named


def _attributes(aws: Aws, region: str, image_id: str) -> tuple[list[str], str]:
    """(who may launch it, when it was last launched) from DescribeImageAttribute."""
    ec2 = aws.ec2(region)
    with aws_call("DescribeImageAttribute", image_id):
        permissions = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
        launched = ec2.describe_image_attribute(ImageId=image_id, Attribute="lastLaunchedTime")
    who = [grantee(p) for p in permissions.get("LaunchPermissions", [])]
    return who, str(launched.get("LastLaunchedTime", {}).get("Value", ""))


def snapshot_gib(image: ImageTypeDef) -> int:
    return sum(int(m["Ebs"].get("VolumeSize", 0)) for m in image.get("BlockDeviceMappings", []) if "Ebs" in m)


def rows(aws: Aws, regions: list[str], recipe: str | None, prefix: str) -> list[Row]:
    """One row per build of the recipe (or of every recipe) found in the regions, newest first."""
    builds = find_builds(aws, regions, recipe)
    named = channel_values(aws, regions, prefix)
    jobs = [(b, r, i["ImageId"]) for b in builds for r, i in b.images.items()]
    with ThreadPoolExecutor(8) as pool:
        attributes = dict(zip([(r, i) for _, r, i in jobs], pool.map(lambda j: _attributes(aws, j[1], j[2]), jobs),
                              strict=True))
    return [_row(b, named, attributes) for b in builds]


def _row(build: Build, named: dict[tuple[str, str], list[str]],
         attributes: dict[tuple[str, str], tuple[list[str], str]]) -> Row:
    row = Row(build.recipe, build.version, build.build_id, build.created, build.validation, build.image_ids())
    for region, image in sorted(build.images.items()):
        image_id = image["ImageId"]
        row.channels += [f"{c} ({region})" for c in named.get((region, image_id), [])]
        who, launched = attributes[(region, image_id)]
        row.shared_with += [w for w in who if w not in row.shared_with]
        row.last_launched = max(row.last_launched, launched)
        row.deprecation = row.deprecation or str(image.get("DeprecationTime", ""))
        if image.get("State") == "disabled":
            row.disabled.append(region)
        row.snapshot_gib += snapshot_gib(image)
    return row


def as_json(found: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in found]


def table(found: list[Row]) -> str:
    """A rich table as text (plain when not on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    grid = Table(show_lines=False)
    for title in ("recipe", "version", "build", "AMIs", "created", "validation", "channels", "shared with",
                  "deprecation", "disabled", "GiB", "last launched"):
        grid.add_column(title, no_wrap=title in ("recipe", "version", "build", "AMIs"))  # ids stay whole
    for r in found:
        grid.add_row(r.recipe, r.version, r.build_id, "\n".join(f"{k}: {v}" for k, v in r.images.items()),
                     r.created, r.validation, "\n".join(r.channels), "\n".join(r.shared_with), r.deprecation,
                     ", ".join(r.disabled), str(r.snapshot_gib), r.last_launched or "never")
    out = io.StringIO()
    Console(file=out, width=240, no_color=True).print(grid)
    return out.getvalue().rstrip()
