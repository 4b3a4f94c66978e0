"""Reaching an instance: its SSH target (through an optional bastion), the connection with its host key
pinned, and the pin itself as cloud-init printed it on the instance's console.

Pinning the key read through the EC2 API (an authenticated channel) means even the first SSH
connection is verified, instead of trusting whoever answers first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.keys import PrivateKey
from goldsmith.ssh.session import SshSession

if TYPE_CHECKING:
    from goldsmith.recipe.model import Bastion

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
KEY_RE = re.compile(r"(?:^|\s)((?:ssh|ecdsa|sk)-[a-z0-9@.-]+)\s+(AAAA[A-Za-z0-9+/]+={0,3})(?:\s|$)")
PREFERRED_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def host_keys_from_console(text: str) -> list[str]:
    """The `type base64` keys between cloud-init's markers (empty when it printed none yet).

    On EC2 cloud-init writes the block through `logger`, so every line may carry a prefix
    ("ec2: ", a syslog priority, a timestamp): the markers and the keys are found anywhere on the line.
    Keys of a block that has not ended yet (the console is still being written) are not returned.
    """
    keys: list[str] = []
    block: list[str] | None = None
    for line in text.splitlines():
        if BEGIN in line:
            block = []
        elif END in line:
            if block is not None:
                keys.extend(k for k in block if k not in keys)
            block = None
        elif block is not None:
            found = KEY_RE.search(line)
            if found:
                block.append(f"{found.group(1)} {found.group(2)}")
    return keys


def preferred_host_key(keys: list[str]) -> str | None:
    """The key to pin: ed25519 first, then ECDSA (RSA is not pinned: its algorithm names vary)."""
    for key_type in PREFERRED_TYPES:
        for key in keys:
            if key.startswith(key_type + " "):
                return key
    return None


def pin_from_console(text: str) -> str | None:
    """The host key to pin from an instance's console output, or None (then: trust on first use)."""
    return preferred_host_key(host_keys_from_console(text))


def bastion_target(bastion: Bastion | None, key: PrivateKey | None, default_key: PrivateKey,
                   seen_host_key: str | None = None) -> SshTarget | None:
    """The recipe's jump host, if any: its own key (``build.bastion.private_key_file``, loaded by the
    caller) else the instance's; pinned by the recipe's host_key, else by the key a first connection saw."""
    if bastion is None:
        return None
    return SshTarget(host=bastion.host, port=bastion.port, username=bastion.username, key=key or default_key,
                     known_host_key=bastion.host_key or seen_host_key)


def connect(target: SshTarget, *, timeout: float, known_host_key: str | None, warn: Callable[[str], None],
            cancel: CancelToken = NEVER) -> SshSession:
    """A session to the instance; any host key but `known_host_key` (when given) is refused.

    A bastion the recipe did not pin is trusted on first use, with a warning naming the key to pin.
    """
    session = SshSession.connect(target, timeout=timeout, known_host_key=known_host_key, cancel=cancel)
    if target.bastion is not None and target.bastion.known_host_key is None and session.bastion_host_key:
        warn(
            f"bastion {target.bastion.address} is not pinned: trusting the host key it showed on first use "
            f"({session.bastion_host_key}); set build.bastion.host_key to that to have any other key refused"
        )
    return session
