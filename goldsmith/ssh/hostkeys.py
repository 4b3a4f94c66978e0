"""Host-key pinning: trust the first key an instance shows, then refuse any other.

A pin is either the key itself (``ssh-ed25519 AAAA...``, an optional comment is ignored, a bare base64
blob is accepted too) or its fingerprint (``SHA256:...`` as ``ssh-keygen -l`` prints it).
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from goldsmith.errors import InputError

if TYPE_CHECKING:
    import paramiko


def key_line(key: paramiko.PKey) -> str:
    """The server's key as ``type base64``, the form known_hosts uses."""
    return f"{key.get_name()} {key.get_base64()}"


def fingerprint_of_blob(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint (unpadded base64) of a public key blob."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def fingerprint(key: paramiko.PKey) -> str:
    """The SHA256 fingerprint of a paramiko key."""
    return fingerprint_of_blob(key.asbytes())


# Host key algorithms to offer for a pinned key of each type (an RSA key signs with SHA-2 these days).
PIN_KEY_TYPES: dict[str, tuple[str, ...]] = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),  # the key type is ssh-rsa; SHA-1 signatures are gone
}
# A bare fingerprint does not say its key's type: a server with several keys shows its preferred one
# first, so the others are asked for in turn before the pin is declared broken.
FINGERPRINT_KEY_TYPES: tuple[tuple[str, ...], ...] = (
    ("ssh-ed25519",),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "rsa-sha2-256"),
)


def pin_key_types(pin: str) -> tuple[str, ...] | None:
    """The host key algorithms to ask for when the pin is a whole key line of a known type."""
    fields = pin.split()
    return PIN_KEY_TYPES.get(fields[0]) if len(fields) >= 2 else None


def pin_fingerprint(pin: str) -> str:
    """Normalise a pin (key line, bare base64 or SHA256 fingerprint) to a SHA256 fingerprint."""
    pin = pin.strip()
    if pin.startswith("SHA256:"):
        return pin.rstrip("=")
    fields = pin.split()
    blob_text = fields[1] if len(fields) >= 2 else (fields[0] if fields else "")
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except ValueError:
        blob = b""
    if not blob:
        raise InputError(
            f"host key pin {pin[:40]!r} is neither 'type base64' (as in known_hosts) nor a SHA256:... fingerprint"
        )
    return fingerprint_of_blob(blob)


def matches(pin: str, key: paramiko.PKey) -> bool:
    """True when the server's key is the pinned one."""
    return pin_fingerprint(pin) == fingerprint(key)
