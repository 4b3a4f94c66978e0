"""SshSession against the host's real OpenSSH server on 127.0.0.1 (root; skipped otherwise)."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldsmith.errors import SshError
from goldsmith.ssh.connect import HostKeyChanged
from goldsmith.ssh.localsshd import LocalSshd, free_port
from goldsmith.ssh.session import CommandTimeout, ConnectionDropped, SshSession

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"), reason="needs root and /usr/sbin/sshd"
)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[LocalSshd]:
    server = LocalSshd(tmp_path / "sshd")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def session(sshd: LocalSshd) -> Iterator[SshSession]:
    with SshSession.connect(sshd.target(), timeout=10) as live:
        yield live


@pytest.fixture
def private_dirs(session: SshSession, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The private temp directories this session makes (/tmp is shared with the other workers' tests,
    so counting names there races with them)."""
    made: list[str] = []
    original = session._private_dir

    def recording(kind: str) -> str:
        made.append(original(kind))
        return made[-1]

    monkeypatch.setattr(session, "_private_dir", recording)
    return made


def test_connect_waits_for_a_server_that_starts_late(tmp_path: Path) -> None:
    server = LocalSshd(tmp_path / "late")
    retries: list[tuple[int, str]] = []
    timer = threading.Timer(1.0, server.start)
    timer.start()
    try:
        with SshSession.connect(server.target(), timeout=15, on_retry=lambda n, why: retries.append((n, why))) as s:
            assert s.run("echo up").output_tail == "up"
        assert retries, "the server was not up at first, so there must have been retries"
        assert [n for n, _ in retries] == list(range(1, len(retries) + 1))
        assert "connection refused" in retries[0][1]
    finally:
        timer.join()
        server.stop()


def test_connect_gives_up_after_the_timeout_naming_the_address(tmp_path: Path) -> None:
    server = LocalSshd(tmp_path / "never", port=free_port())  # never started
    with pytest.raises(SshError) as info:
        SshSession.connect(server.target(), timeout=0.5)
    message = str(info.value)
    assert f"127.0.0.1:{server.port}" in message
    assert "connection refused" in message
    assert "tried" in message


def test_a_changed_host_key_is_refused_without_retrying(sshd: LocalSshd) -> None:
    with SshSession.connect(sshd.target(), timeout=10) as first:
        pinned = first.host_key
    assert pinned == sshd.host_public_key
    sshd.stop()
    sshd.new_host_key()
    sshd.start()
    retries: list[int] = []
    with pytest.raises(HostKeyChanged, match=rf"host key of 127.0.0.1:{sshd.port} changed.*refusing"):
        SshSession.connect(sshd.target(), timeout=10, known_host_key=pinned, on_retry=lambda n, _: retries.append(n))
    assert retries == []
    with SshSession.connect(sshd.target(), timeout=10, known_host_key=sshd.host_public_key) as again:
        assert again.host_key == sshd.host_public_key


def test_wrong_key_is_retried_then_reported_as_authentication(sshd: LocalSshd) -> None:
    from goldsmith.ssh.keys import PrivateKey

    target = sshd.target()
    stranger = type(target)(target.host, target.port, "root", PrivateKey.generate_ed25519())
    with pytest.raises(SshError, match="authentication failed"):
        SshSession.connect(stranger, timeout=0.5)


def test_run_streams_output_with_exit_status_env_and_redaction(session: SshSession) -> None:
    lines: list[str] = []
    result = session.run(
        'echo "token=$TOKEN"; echo "quote=$Q" >&2; printf partial; exit 7',
        env={"TOKEN": "s3cr3t-value", "Q": 'it\'s "$(not run)"'},
        on_output=lines.append,
        secrets={"s3cr3t-value"},
    )
    assert result.exit_status == 7
    assert lines == ["token=***", 'quote=it\'s "$(not run)"', "partial"]
    assert "s3cr3t" not in result.output_tail
    assert result.output_tail.splitlines()[-1] == "partial"


def test_run_times_out(session: SshSession) -> None:
    with pytest.raises(CommandTimeout) as info:
        session.run("echo started; sleep 30", timeout=1)
    assert info.value.output_tail == "started"
    assert session.run("echo still usable").exit_status == 0


def test_run_reports_a_dropped_connection(sshd: LocalSshd, session: SshSession) -> None:
    threading.Timer(0.5, sshd.kill_sessions).start()
    with pytest.raises(ConnectionDropped):
        session.run("echo working; sleep 30", timeout=20)
    assert not session.active


def test_upload_file_bytes_and_tree_with_mode_and_owner(
    session: SshSession, private_dirs: list[str], tmp_path: Path
) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    local.chmod(0o750)
    dest = tmp_path / "remote" / "deep" / "copy.bin"
    session.upload_file(local, str(dest))
    assert dest.read_bytes() == local.read_bytes()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750
    session.upload_file(local, str(dest), mode=0o600, owner="nobody:nogroup")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert dest.stat().st_uid == 65534

    note = tmp_path / "remote" / "note.txt"
    session.upload_bytes(b"hello\n", str(note))
    assert note.read_bytes() == b"hello\n"
    assert stat.S_IMODE(note.stat().st_mode) == 0o644

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.sh").write_text("#!/bin/sh\n")
    (tree / "a.sh").chmod(0o755)
    (tree / "sub" / "b.txt").write_text("b")
    session.upload_tree(tree, str(tmp_path / "remote-tree"), owner="nobody")
    copied = tmp_path / "remote-tree"
    assert (copied / "sub" / "b.txt").read_text() == "b"
    assert stat.S_IMODE((copied / "a.sh").stat().st_mode) == 0o755
    assert (copied / "sub" / "b.txt").stat().st_uid == 65534
    assert len(private_dirs) == 4
    assert not [folder for folder in private_dirs if Path(folder).exists()]


def test_failed_upload_leaves_no_temp_file(session: SshSession, private_dirs: list[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(SshError, match="placing"):
        session.upload_bytes(b"data", str(blocker / "below" / "x"))
    assert len(private_dirs) == 1
    assert not Path(private_dirs[0]).exists()


def test_upload_into_a_directory_keeps_its_mode_and_uses_the_source_name(session: SshSession, tmp_path: Path) -> None:
    local = tmp_path / "app.conf"
    local.write_text("port=80\n")
    existing = tmp_path / "etc-app"
    existing.mkdir(mode=0o755)
    session.upload_file(local, str(existing), mode=0o600, owner="nobody:nogroup")
    placed = existing / "app.conf"
    assert placed.read_text() == "port=80\n"
    assert stat.S_IMODE(placed.stat().st_mode) == 0o600
    assert placed.stat().st_uid == 65534
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755 and existing.stat().st_uid == 0
    assert sorted(p.name for p in existing.iterdir()) == ["app.conf"]

    slash = tmp_path / "new-dir"
    session.upload_bytes(b"x", f"{slash}/", mode=0o640, name="rendered.txt")
    assert (slash / "rendered.txt").read_bytes() == b"x"
    assert stat.S_IMODE((slash / "rendered.txt").stat().st_mode) == 0o640
    with pytest.raises(SshError, match="is a directory: give the file name"):
        session.upload_bytes(b"y", str(existing))
    assert sorted(p.name for p in existing.iterdir()) == ["app.conf"]
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755


def test_upload_sets_owner_and_mode_before_the_file_appears(session: SshSession, tmp_path: Path) -> None:
    """A failing chown shows the order: nothing may reach the destination with the wrong owner/mode."""
    dest = tmp_path / "secret.conf"
    with pytest.raises(SshError, match="placing"):
        session.upload_bytes(b"password=1", str(dest), mode=0o600, owner="no-such-user-here")
    assert not dest.exists()


def test_run_with_env_keeps_values_off_disk_when_the_connection_drops(sshd: LocalSshd, session: SshSession) -> None:
    threading.Timer(1.0, sshd.kill_sessions).start()
    lines: list[str] = []
    with pytest.raises(ConnectionDropped):
        session.run('echo "$0"; sleep 30', env={"TOKEN": "dropped-secret"}, on_output=lines.append, timeout=20)
    script = Path(lines[0])
    assert script.name == "run.sh" and script.parent.name.startswith("goldsmith-run-")
    assert not script.parent.exists()


def test_bastion_jump(tmp_path: Path) -> None:
    with LocalSshd(tmp_path / "jump") as jump, LocalSshd(tmp_path / "inner") as inner:
        target = inner.target(bastion=jump.target())
        with SshSession.connect(target, timeout=10) as session:
            assert session.host_key == inner.host_public_key
            assert session.run("echo through").output_tail == "through"
            session.upload_bytes(b"via jump", str(tmp_path / "jumped.txt"))
        assert (tmp_path / "jumped.txt").read_bytes() == b"via jump"


def test_bastion_host_key_is_pinned(tmp_path: Path) -> None:
    from goldsmith.ssh import hostkeys

    with LocalSshd(tmp_path / "jump") as jump, LocalSshd(tmp_path / "inner") as inner:
        right_line = jump.host_public_key
        right_fingerprint = hostkeys.pin_fingerprint(right_line)
        for pin in (right_line, right_fingerprint):
            bastion = dataclasses.replace(jump.target(), known_host_key=pin)
            with SshSession.connect(inner.target(bastion=bastion), timeout=10) as session:
                assert session.bastion_host_key == right_line
                assert session.run("echo through").output_tail == "through"
        wrong = dataclasses.replace(jump.target(), known_host_key=inner.host_public_key)
        retries: list[int] = []
        with pytest.raises(HostKeyChanged, match=rf"127.0.0.1:{jump.port} changed"):
            SshSession.connect(inner.target(bastion=wrong), timeout=10, on_retry=lambda n, _: retries.append(n))
        assert retries == []


def test_bastion_waits_for_a_late_target(tmp_path: Path) -> None:
    with LocalSshd(tmp_path / "jump") as jump:
        inner = LocalSshd(tmp_path / "inner")
        retries: list[str] = []
        timer = threading.Timer(0.7, inner.start)
        timer.start()
        try:
            target = inner.target(bastion=jump.target())
            with SshSession.connect(target, timeout=15, on_retry=lambda _, why: retries.append(why)) as session:
                assert session.run("true").exit_status == 0
            assert any("bastion could not reach" in why for why in retries), retries
        finally:
            timer.join()
            inner.stop()


def test_the_connection_sends_small_requests_at_once(session: SshSession) -> None:
    """TCP_NODELAY: with Nagle on, each small SFTP request or command waited ~40 ms for a delayed ACK."""
    import socket

    sock = session._connection.transport.sock
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_a_pin_of_a_server_s_other_key_type_is_accepted(tmp_path: Path, kind: str) -> None:
    """A server with ed25519 and another key shows ed25519 first: a pinned ECDSA/RSA key line asks for
    that type, a bare fingerprint of it is tried against each type; a key nobody has is still refused."""
    from goldsmith.ssh import hostkeys

    with LocalSshd(tmp_path / "multi", extra_host_key_types=(kind,)) as server:
        pub = server.extra_host_keys[kind].with_suffix(".pub").read_text().split()
        line = f"{pub[0]} {pub[1]}"
        for pin in (line, hostkeys.pin_fingerprint(line)):
            with SshSession.connect(server.target(), timeout=10, known_host_key=pin) as session:
                assert hostkeys.pin_fingerprint(session.host_key) == hostkeys.pin_fingerprint(line)
        with LocalSshd(tmp_path / "other") as other:
            stranger = hostkeys.pin_fingerprint(other.host_public_key)
        with pytest.raises(HostKeyChanged):
            SshSession.connect(server.target(), timeout=10, known_host_key=stranger)


def test_private_dirs_left_by_a_dropped_connection_are_removed(session: SshSession) -> None:
    """An upload whose run never happened (the connection dropped in between) leaves its folder with the
    exported values; the sweep the bake runs after provisioning removes it, and nothing else."""
    left = session._private_dir("run")
    session._upload_stream(io.BytesIO(b"export TOKEN='s3cret'\n"), f"{left}/run.sh")
    bystander = Path(tempfile.mkdtemp(prefix="goldsmith-runner-"))  # a similar name that is not ours
    try:
        assert Path(left, "run.sh").exists()
        session.remove_private_dirs()
        assert not Path(left).exists()
        assert bystander.exists()
    finally:
        shutil.rmtree(bystander, ignore_errors=True)
