"""GetConsoleOutput shows the instance's real host keys (as cloud-init prints them), so bakes can pin them."""

from __future__ import annotations

import socket
from typing import Any

import paramiko
import pytest

from goldsmith.ssh.reach import host_keys_from_console
from tests.sandbox.helpers import ssh_group

pytestmark = pytest.mark.sandbox


def _server_key(host: str, port: int, key_type: str) -> str:
    with socket.create_connection((host, port), timeout=10) as sock:
        transport = paramiko.Transport(sock)
        transport.get_security_options().key_types = (key_type,)
        transport.start_client(timeout=10)
        key = transport.get_remote_server_key()
        transport.close()
    return f"{key.get_name()} {key.get_base64()}"


def test_console_output_carries_the_host_keys_sshd_presents(ec2: Any, sandbox: Any, sandbox_client: Any) -> None:
    image = ec2.describe_images(Owners=["136693071363"])["Images"][0]
    group = ssh_group(ec2, sandbox.host_address)
    instance_id = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1,
                                    SecurityGroupIds=[group])["Instances"][0]["InstanceId"]
    try:
        keys = host_keys_from_console(ec2.get_console_output(InstanceId=instance_id)["Output"])
        assert {k.split()[0] for k in keys} >= {"ssh-ed25519"}
        host, port = sandbox_client.endpoint(instance_id)
        for key in keys:
            assert _server_key(host, port, key.split()[0]) == key
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
