"""Keys, host-key pins and command quoting: pure functions, no server."""

from __future__ import annotations

import copy
import pickle
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from goldsmith.errors import InputError, SshError
from goldsmith.ssh import hostkeys
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.keys import PrivateKey
from goldsmith.ssh.scripts import wrapper
from goldsmith.ssh.session import _Lines, shell_command


def keygen(tmp_path: Path, kind: str, fmt: str | None = None) -> Path:
    path = tmp_path / f"id_{kind}"
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)]
    if fmt:
        args += ["-m", fmt]
    subprocess.run(args, check=True)
    return path


@pytest.mark.parametrize(("kind", "fmt"), [("ed25519", None), ("rsa", None), ("rsa", "PEM"), ("ecdsa", None)])
def test_keys_from_ssh_keygen_give_the_same_public_key(tmp_path: Path, kind: str, fmt: str | None) -> None:
    path = keygen(tmp_path, kind, fmt)
    key = PrivateKey.from_file(path)
    expected = " ".join(path.with_suffix(".pub").read_text().split()[:2])
    assert key.public_openssh() == expected
    assert PrivateKey.from_openssh(path.read_text()) == key


def test_repr_and_str_never_show_the_material() -> None:
    key = PrivateKey.generate_ed25519()
    for text in (repr(key), str(key), f"{key}", repr(SshTarget("h", 22, "u", key))):
        assert "PRIVATE" not in text
        assert key.fingerprint in text or "PrivateKey" in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert copy.deepcopy(key) is key


def test_write_private_file_is_private_and_usable_by_openssh(tmp_path: Path) -> None:
    key = PrivateKey.generate_ed25519()
    path = key.write_private_file(tmp_path / "keys")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], check=True, capture_output=True, text=True)
    assert public.stdout.split()[:2] == key.public_openssh().split()
    named = key.write_private_file(tmp_path / "keys", name="build.pem")
    again = PrivateKey.generate_ed25519().write_private_file(tmp_path / "keys", name="build.pem")
    assert named == again == tmp_path / "keys" / "build.pem"
    assert stat.S_IMODE(named.stat().st_mode) == 0o600
    assert PrivateKey.from_file(named) != key
    assert sorted(p.name for p in named.parent.iterdir()) == ["build.pem", path.name]


def test_bad_key_material_is_a_sentence_without_the_material(tmp_path: Path) -> None:
    bogus = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(InputError) as info:
        PrivateKey.from_openssh(bogus)
    assert "c2VjcmV0" not in str(info.value)
    with pytest.raises(InputError, match="cannot read SSH private key file"):
        PrivateKey.from_file(tmp_path / "missing")


def test_host_key_pins_accept_line_blob_and_fingerprint() -> None:
    server: paramiko.PKey = PrivateKey.generate_ed25519().pkey
    line = hostkeys.key_line(server)
    fingerprint = hostkeys.fingerprint(server)
    assert fingerprint == str(server.fingerprint)
    for pin in (line, line + " comment@host", line.split()[1], fingerprint):
        assert hostkeys.matches(pin, server)
    other = PrivateKey.generate_ed25519().pkey
    assert not hostkeys.matches(line, other)
    with pytest.raises(InputError):
        hostkeys.pin_fingerprint("ssh-ed25519 not*base64")


@pytest.mark.parametrize(
    ("sudo", "expected"),
    [(False, "sh -c 'echo \"it'\"'\"'s\"' 2>&1"), (True, "sudo -n sh -c 'echo \"it'\"'\"'s\"' 2>&1")],
)
def test_shell_command_quotes_the_command(sudo: bool, expected: str) -> None:
    assert shell_command('echo "it\'s"', sudo=sudo) == expected


def test_wrapper_exports_quoted_values_after_unlinking_itself() -> None:
    text = wrapper("echo hi", {"A": "x y", "B": "it's"}, alone=False)
    assert text == 'rm -f "$0"\nexport A=\'x y\'\nexport B=\'it\'"\'"\'s\'\necho hi\n'
    with pytest.raises(SshError, match="cannot be exported"):
        wrapper("true", {"NOT-A-NAME": "1"})
    assert wrapper("true", None).splitlines() == ['rm -rf "${0%/*}"', "true"]


def test_output_lines_are_split_redacted_and_tailed() -> None:
    seen: list[str] = []
    lines = _Lines(seen.append, ["hunter2", ""])
    for chunk in (b"one\ntw", b"o hunter2\r\nprog 10%\rprog 100%\n", "caf\u00e9".encode(), b"\xff"):
        lines.feed(chunk)
    lines.finish()
    assert seen == ["one", "two ***", "prog 100%", "caf\u00e9\ufffd"]
    many = _Lines(None, ())
    many.feed(b"".join(f"{i}\n".encode() for i in range(100)))
    assert list(many.tail) == [str(i) for i in range(60, 100)]


def test_the_recipe_accepts_exactly_the_bastion_pins_hostkeys_understands() -> None:
    from pydantic import ValidationError

    from goldsmith.recipe.model import Bastion

    line = hostkeys.key_line(PrivateKey.generate_ed25519().pkey)
    for pin in (line, line + " root@bastion", hostkeys.pin_fingerprint(line)):
        bastion = Bastion(host="b", username="u", host_key=pin)
        assert bastion.host_key is not None
        assert hostkeys.pin_fingerprint(bastion.host_key) == hostkeys.pin_fingerprint(line)
    for bad in ("ssh-ed25519", "SHA256:short", "ssh-ed25519 not*base64", "MD5:aa:bb"):
        with pytest.raises(ValidationError, match="neither a host key"):
            Bastion(host="b", username="u", host_key=bad)
