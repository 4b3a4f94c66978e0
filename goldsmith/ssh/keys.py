"""Private keys held in memory only: EC2's key material, a user's key file, or a fresh test key.

The material never appears in ``repr``/``str``; it reaches the disk only when a tool that insists on a
file (testinfra's ``ssh_identity_file``, OpenSSH) asks for one through :meth:`write_private_file`.

paramiko and cryptography are imported when a key is first made or loaded: a bake that reuses a cached
image never makes one, and importing them costs ~0.2 s of its start-up on a 2-core EPYC.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from goldsmith.errors import InputError

if TYPE_CHECKING:
    import paramiko


def _loaders() -> tuple[tuple[type, type[paramiko.PKey]], ...]:
    import paramiko
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    return (
        (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
        (rsa.RSAPrivateKey, paramiko.RSAKey),
        (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    )


class PrivateKey:
    """An SSH private key; the public half and a fingerprint are safe to show, the rest is not."""

    __slots__ = ("_material", "_pkey")

    def __init__(self, material: str, pkey: paramiko.PKey) -> None:
        self._material = material if material.endswith("\n") else material + "\n"
        self._pkey = pkey

    @classmethod
    def from_openssh(cls, material: str) -> PrivateKey:
        """Load OpenSSH-format (ed25519, RSA, ECDSA) or PEM (RSA, EC) key text, unencrypted."""
        from cryptography.hazmat.primitives import serialization

        data = material.strip().encode() + b"\n"
        try:
            try:
                loaded: object = serialization.load_ssh_private_key(data, password=None)
            except ValueError:
                loaded = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            # The exception text of cryptography never contains the key; keep only its class name.
            raise InputError(
                f"the SSH private key could not be read ({type(exc).__name__}): expected an unencrypted "
                "OpenSSH or PEM private key (ed25519, RSA or ECDSA)"
            ) from None
        for crypto_type, key_class in _loaders():
            if isinstance(loaded, crypto_type):
                pkey = key_class.from_private_key(io.StringIO(data.decode()))
                return cls(data.decode(), pkey)
        raise InputError(f"unsupported SSH key type {type(loaded).__name__}: use ed25519, RSA or ECDSA")

    @classmethod
    def from_file(cls, path: Path) -> PrivateKey:
        """Load a key file (``~`` expanded); the error names the file, never its content."""
        path = Path(path).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"cannot read SSH private key file {path}: {exc.strerror}") from exc
        try:
            return cls.from_openssh(text)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None

    @classmethod
    def generate_ed25519(cls) -> PrivateKey:
        """A fresh ed25519 key (tests, local servers, the sandbox's key pairs)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        return cls.from_openssh(pem.decode())

    @property
    def pkey(self) -> paramiko.PKey:
        """The paramiko key, for goldsmith.ssh's own use."""
        return self._pkey

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` as ``ssh-keygen -l`` prints it."""
        return str(self._pkey.fingerprint)

    def public_openssh(self) -> str:
        """The public key line for authorized_keys, e.g. ``ssh-ed25519 AAAA...``."""
        return f"{self._pkey.get_name()} {self._pkey.get_base64()}"

    def write_private_file(self, directory: Path, *, name: str | None = None) -> Path:
        """Write the key to a 0600 file in ``directory`` (made 0700); the caller deletes it.

        Without ``name`` the file gets a fresh random name; with one, an existing file is replaced.
        """
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        path = directory / (name or f"id-{secrets.token_hex(6)}")
        temp = directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(self._material)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and self.public_openssh() == other.public_openssh()

    def __hash__(self) -> int:
        return hash(self.public_openssh())

    def __repr__(self) -> str:
        return f"PrivateKey({self._pkey.get_name()}, {self.fingerprint})"

    __str__ = __repr__

    def __copy__(self) -> PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> PrivateKey:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("PrivateKey is not picklable: key material stays in this process's memory")
