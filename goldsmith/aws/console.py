"""An instance's console output (where cloud-init prints the SSH host keys; goldsmith.ssh.reach reads them)."""

from __future__ import annotations

from typing import Any

from goldsmith.aws.calls import aws_call


def console_output(ec2: Any, instance_id: str) -> str:
    """The latest console output of the instance ('' when EC2 has none yet)."""
    with aws_call("GetConsoleOutput", instance_id):
        return str(ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or "")
