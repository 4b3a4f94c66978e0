"""Channels as SSM parameters of data type aws:ec2:image: read, history, write (and read back), delete.

A channel's history is the parameter's own version history (GetParameterHistory); nothing else is stored.
AWS validates an aws:ec2:image value asynchronously: PutParameter answers 200 even when the AMI is not
available, and then the parameter is not created or updated. So every write is read back until the new
value shows (or the time is up, which is a failure naming the AMI and region).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call
from goldsmith.errors import AwsError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import ParameterHistoryTypeDef

IMAGE_DATA_TYPE = "aws:ec2:image"


@dataclass(frozen=True)
class Version:
    """One version of a channel parameter."""

    version: int
    value: str
    modified: datetime | None = None
    description: str = ""


def current(ssm: SSMClient, name: str) -> Version | None:
    """The parameter's latest version, or None when it does not exist in this region."""
    try:
        with aws_call("GetParameter", name):
            found = ssm.get_parameter(Name=name)["Parameter"]
    except AwsError as exc:
        if exc.code == "ParameterNotFound":
            return None
        raise
    return Version(int(found.get("Version", 0)), str(found.get("Value", "")), found.get("LastModifiedDate"))


GET_PARAMETERS_LIMIT = 10  # GetParameters takes at most ten names


def current_many(ssm: SSMClient, names: list[str]) -> dict[str, Version | None]:
    """Each parameter's latest version (None where it does not exist), ten names a request: a pipeline
    checks all its channels in a region with one call instead of one per recipe."""
    found: dict[str, Version | None] = dict.fromkeys(names)
    unique = list(found)
    for start in range(0, len(unique), GET_PARAMETERS_LIMIT):
        batch = unique[start:start + GET_PARAMETERS_LIMIT]
        with aws_call("GetParameters", ", ".join(batch)):
            answer = ssm.get_parameters(Names=batch)
        for parameter in answer.get("Parameters", []):
            found[parameter["Name"]] = Version(int(parameter.get("Version", 0)), str(parameter.get("Value", "")),
                                               parameter.get("LastModifiedDate"))
    return found


def history(ssm: SSMClient, name: str) -> list[Version]:
    """Every version the parameter still has (AWS keeps the last 100), oldest first; [] when it does not exist."""
    entries: list[ParameterHistoryTypeDef] = []
    try:
        with aws_call("GetParameterHistory", name):
            for page in ssm.get_paginator("get_parameter_history").paginate(Name=name):
                entries.extend(page.get("Parameters", []))
    except AwsError as exc:
        if exc.code == "ParameterNotFound":
            return []
        raise
    versions = [Version(int(e.get("Version", 0)), str(e.get("Value", "")), e.get("LastModifiedDate"),
                        str(e.get("Description", ""))) for e in entries]
    return sorted(versions, key=lambda v: v.version)


def channels_under(ssm: SSMClient, path: str) -> dict[str, str]:
    """Every parameter below `path` (recursively): name -> value."""
    found: dict[str, str] = {}
    try:
        with aws_call("GetParametersByPath", path):
            for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True):
                params = page.get("Parameters", [])
                found.update({p["Name"]: p["Value"] for p in params if "Name" in p and "Value" in p})
    except AwsError as exc:
        if exc.code == "ParameterNotFound":
            return {}
        raise
    return found


def put_image(ssm: SSMClient, name: str, image_id: str, *, description: str, tags: Mapping[str, str],
              exists: bool, timeout: float, delay: float) -> int:
    """Point the parameter at the AMI and wait until SSM shows it; returns the new version.

    A new parameter gets `tags` (AWS refuses tags together with Overwrite, so an existing one keeps its own).
    """
    with aws_call("PutParameter", name):
        if exists:
            answer = ssm.put_parameter(Name=name, Value=image_id, Type="String", DataType=IMAGE_DATA_TYPE,
                                       Description=description, Overwrite=True)
        else:
            answer = ssm.put_parameter(Name=name, Value=image_id, Type="String", DataType=IMAGE_DATA_TYPE,
                                       Description=description, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    version = int(answer.get("Version", 0))
    deadline = time.monotonic() + timeout
    while True:
        now = current(ssm, name)
        if now is not None and now.version >= version and now.value == image_id:
            return now.version
        if time.monotonic() + delay > deadline:
            raise AwsError(f"SSM did not take {image_id} for {name}: it validates aws:ec2:image values and keeps "
                           "the old value when the AMI is not available in this region",
                           operation="PutParameter", code="ImageNotAccepted", resource=name)
        time.sleep(delay)


def delete(ssm: SSMClient, name: str) -> None:
    """Remove the parameter (and its history); gone already is fine."""
    try:
        with aws_call("DeleteParameter", name):
            ssm.delete_parameter(Name=name)
    except AwsError as exc:
        if exc.code != "ParameterNotFound":
            raise
