"""Host keys from an instance's console output, printed there by cloud-init at first boot.

Pinning the key we read through the EC2 API (an authenticated channel) means even the first SSH
connection is verified, instead of trusting whoever answers first.
"""

from __future__ import annotations

from typing import Any

from goldsmith.aws.calls import aws_call

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"


def host_keys_from_console(text: str) -> list[str]:
    """The `type base64` key lines between cloud-init's markers (empty when it printed none)."""
    keys: list[str] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        # Console lines may carry a prefix such as "ec2: " or a timestamp before the marker.
        if BEGIN in line:
            inside = True
            continue
        if END in line:
            inside = False
            continue
        if inside:
            fields = line.split()
            if len(fields) >= 2 and (fields[0].startswith("ssh-") or fields[0].startswith("ecdsa-")):
                keys.append(f"{fields[0]} {fields[1]}")
    return keys


PREFERRED_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def preferred_host_key(keys: list[str]) -> str | None:
    """The key to pin: ed25519 first, then ECDSA (RSA is not pinned: its algorithm names vary)."""
    for key_type in PREFERRED_TYPES:
        for key in keys:
            if key.startswith(key_type + " "):
                return key
    return None


def console_host_keys(ec2: Any, instance_id: str) -> list[str]:
    with aws_call("GetConsoleOutput", instance_id):
        output = ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or ""
    return host_keys_from_console(output)
