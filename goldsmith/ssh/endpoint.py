"""Where to reach an instance over SSH: address, user, key, and an optional jump host."""

from __future__ import annotations

from dataclasses import dataclass

from goldsmith.ssh.keys import PrivateKey


@dataclass(frozen=True)
class SshTarget:
    """One SSH endpoint; ``bastion`` is reached first and the target through it (ProxyJump).

    ``known_host_key`` pins the endpoint's host key (key line or SHA256 fingerprint, see hostkeys.py);
    without it the first key seen is trusted. It matters most for a bastion, which has no other pin.
    """

    host: str
    port: int
    username: str
    key: PrivateKey
    bastion: SshTarget | None = None
    known_host_key: str | None = None

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 in brackets) for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        """``user@host:port`` plus the jump chain, for messages and logs (never the key)."""
        via = f" via {self.bastion.describe()}" if self.bastion else ""
        return f"{self.username}@{self.address}{via}"
