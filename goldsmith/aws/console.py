"""An instance's console output (where cloud-init prints the SSH host keys; goldsmith.ssh.reach reads them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws.calls import aws_call

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def console_output(ec2: EC2Client, instance_id: str) -> str:
    """The latest console output of the instance ('' when EC2 has none yet)."""
    with aws_call("GetConsoleOutput", instance_id):
        return str(ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or "")
