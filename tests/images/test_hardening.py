"""A baseline security suite for any Linux image (run by Goldsmith's validate step, or by hand).

    pytest tests/images/test_hardening.py --hosts='paramiko://admin@HOST?ssh_identity_file=KEY'

Settings (recipe variables, which Goldsmith passes as GOLDSMITH_VAR_<NAME>; export them by hand too):
  allowed_ports   comma-separated TCP ports that may listen besides sshd's own (default: 22)
  suid_allowed    comma-separated extra paths allowed to be set-uid/set-gid
Goldsmith also sets GOLDSMITH_BUILD_PUBLIC_KEY (the bake's temporary key, which must be gone),
GOLDSMITH_VALIDATION_PUBLIC_KEY (the key this run logs in with) and GOLDSMITH_SSH_PORT.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

SYSTEM_PATHS = ("/etc", "/usr", "/bin", "/sbin", "/lib")
SUID_ALLOWED = frozenset({
    "/usr/bin/chfn", "/usr/bin/chsh", "/usr/bin/gpasswd", "/usr/bin/mount", "/usr/bin/newgrp",
    "/usr/bin/passwd", "/usr/bin/su", "/usr/bin/sudo", "/usr/bin/umount", "/usr/bin/chage", "/usr/bin/expiry",
    "/usr/bin/crontab", "/usr/bin/ssh-agent", "/usr/sbin/unix_chkpwd", "/usr/lib/openssh/ssh-keysign",
    "/usr/lib/dbus-1.0/dbus-daemon-launch-helper", "/usr/bin/fusermount3", "/usr/bin/pkexec",
    "/usr/lib/polkit-1/polkit-agent-helper-1", "/usr/bin/wall", "/usr/bin/write", "/usr/bin/bsd-write",
    "/usr/bin/dotlockfile", "/usr/lib/x86_64-linux-gnu/utempter/utempter",
    "/usr/lib/aarch64-linux-gnu/utempter/utempter",
})
HISTORY_FILES = (".bash_history", ".zsh_history", ".sh_history", ".ash_history", ".python_history",
                 ".mysql_history", ".psql_history", ".lesshst", ".viminfo")
# Every authorized_keys file of every account, one "path<TAB>line" per key line.
AUTHORIZED_KEYS = r"""getent passwd | cut -d: -f6 | sort -u | while read -r home; do
  for f in "$home/.ssh/authorized_keys" "$home/.ssh/authorized_keys2"; do
    [ -f "$f" ] && sed -e '/^[[:space:]]*$/d' -e '/^[[:space:]]*#/d' -e "s|^|$f\t|" "$f"
  done
done; true"""


def setting(name: str, default: str = "") -> str:
    return os.environ.get(f"GOLDSMITH_VAR_{name.upper()}", default)


def as_root(host: Any, command: str) -> str:
    with host.sudo():
        return str(host.check_output(command))


def key_blob(public_key: str) -> str:
    """The base64 part of an OpenSSH public key line ("" if there is none)."""
    fields = public_key.split()
    return fields[1] if len(fields) >= 2 else ""


@pytest.fixture(scope="module")
def sshd_settings(host: Any) -> dict[str, str]:
    """sshd's effective configuration (`sshd -T`), keyword -> value."""
    output = as_root(host, "sshd -T -C user=root,host=localhost,addr=127.0.0.1 2>/dev/null || sshd -T")
    pairs = (line.split(None, 1) for line in output.splitlines() if line.strip())
    return {p[0].lower(): (p[1] if len(p) > 1 else "") for p in pairs}


@pytest.fixture(scope="module")
def authorized_keys(host: Any) -> list[tuple[str, str]]:
    """(file, line) for every key any account accepts, except the one this validation logs in with."""
    ours = key_blob(os.environ.get("GOLDSMITH_VALIDATION_PUBLIC_KEY", ""))
    entries = [tuple(line.split("\t", 1)) for line in as_root(host, AUTHORIZED_KEYS).splitlines() if "\t" in line]
    return [(path, line) for path, line in entries if not ours or ours not in line]


def test_sshd_forbids_password_login(sshd_settings: dict[str, str]) -> None:
    assert sshd_settings.get("passwordauthentication") == "no", "sshd allows PasswordAuthentication"
    assert sshd_settings.get("kbdinteractiveauthentication", "no") == "no", "sshd allows keyboard-interactive"
    assert sshd_settings.get("permitemptypasswords") == "no", "sshd allows empty passwords"


def test_sshd_forbids_root_login_with_a_password(sshd_settings: dict[str, str]) -> None:
    assert sshd_settings.get("permitrootlogin") in ("no", "prohibit-password", "without-password",
                                                    "forced-commands-only")


def test_no_world_writable_files_in_system_paths(host: Any) -> None:
    found = as_root(host, f"find -H {' '.join(SYSTEM_PATHS)} -xdev -perm -0002 ! -type l "
                          "! \\( -type d -perm -1000 \\) -print 2>/dev/null; true")
    assert found.split() == []


def test_build_key_is_not_authorized(authorized_keys: list[tuple[str, str]]) -> None:
    build_key = key_blob(os.environ.get("GOLDSMITH_BUILD_PUBLIC_KEY", ""))
    if not build_key:
        pytest.skip("GOLDSMITH_BUILD_PUBLIC_KEY not set (not run by a bake)")
    left = [path for path, line in authorized_keys if build_key in line]
    assert left == [], f"the bake's temporary key is still authorized in {', '.join(sorted(set(left)))}"


def test_no_goldsmith_key_is_authorized(authorized_keys: list[tuple[str, str]]) -> None:
    named = [f"{path}: {line[-60:]}" for path, line in authorized_keys if re.search(r"goldsmith-", line)]
    assert named == [], "keys of Goldsmith key pairs are still authorized"


def test_no_shell_history_left(host: Any) -> None:
    names = " ".join(HISTORY_FILES)
    left = as_root(host, "getent passwd | cut -d: -f6 | sort -u | while read -r home; do "
                         f"for name in {names}; do [ -s \"$home/$name\" ] && echo \"$home/$name\"; done; done; true")
    assert left.split() == [], "shell history left in the image"


def test_no_bake_temporary_files_left(host: Any) -> None:
    left = as_root(host, "ls -d /tmp/goldsmith-* /var/tmp/goldsmith-* 2>/dev/null; true")
    assert left.split() == []


def test_only_expected_ports_listen(host: Any) -> None:
    allowed = {int(p) for p in setting("allowed_ports", "22").replace(" ", "").split(",") if p}
    if os.environ.get("GOLDSMITH_SSH_PORT"):
        allowed.add(int(os.environ["GOLDSMITH_SSH_PORT"]))  # sshd itself, wherever it listens
    # Only sockets of processes this host can see (`users:`): a shared network namespace, as in the
    # sandbox, shows the machine's other sockets too.
    lines = as_root(host, "ss -Hltnp").splitlines()
    ports = {int(line.split()[3].rsplit(":", 1)[1]): line.split("users:", 1)[1] for line in lines if "users:" in line}
    unexpected = {port: who for port, who in ports.items() if port not in allowed}
    assert unexpected == {}


def test_package_list_is_auditable(host: Any) -> None:
    if host.exists("dpkg-query"):
        packages = host.check_output("dpkg-query -W -f '${Package} ${Version}\\n'").splitlines()
    else:
        packages = host.check_output("rpm -qa --qf '%{NAME} %{VERSION}\\n'").splitlines()
    assert any(line.startswith("openssh-server ") for line in packages)
    assert all(len(line.split()) == 2 for line in packages)


def test_no_account_has_an_empty_password(host: Any) -> None:
    empty = as_root(host, "awk -F: '$2 == \"\" {print $1}' /etc/shadow")
    assert empty.split() == []


def test_shadow_is_not_readable_by_others(host: Any) -> None:
    shadow = host.file("/etc/shadow")
    assert shadow.user == "root"
    assert shadow.mode & 0o137 == 0, f"/etc/shadow is {oct(shadow.mode)}; want 0640 or stricter"


def test_sudoers_are_not_writable_by_others(host: Any) -> None:
    writable = as_root(host, "find /etc/sudoers /etc/sudoers.d -perm /0022 -print 2>/dev/null; true")
    assert writable.split() == []


def test_setuid_files_are_allow_listed(host: Any) -> None:
    extra = {p for p in setting("suid_allowed").replace(" ", "").split(",") if p}
    found = as_root(host, "find / -xdev -type f -perm /6000 -print 2>/dev/null; true").split()
    # Debian's merged /usr: /bin is /usr/bin, so the same file may be reported by either name.
    unexpected = sorted(p for p in found if p not in SUID_ALLOWED | extra and f"/usr{p}" not in SUID_ALLOWED)
    assert unexpected == []


def test_root_home_is_private(host: Any) -> None:
    root = host.file("/root")
    assert root.mode & 0o077 == 0, f"/root is {oct(root.mode)}; want 0700"
