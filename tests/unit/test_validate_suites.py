"""run_suites against the host's real OpenSSH server: pytest + testinfra in a subprocess, JUnit parsed.

Needs root and /usr/sbin/sshd (skipped otherwise). The suites are written per test into tmp_path, so
they are never collected by the project's own test run.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldsmith.errors import InputError
from goldsmith.ssh.localsshd import LocalSshd
from goldsmith.validate.junit import parse_junit
from goldsmith.validate.suites import Connection, SuiteResult, run_suites

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"), reason="needs root and /usr/sbin/sshd"
)

PASSING = '''
def test_echo(host):
    assert host.run("echo hello").stdout.strip() == "hello"

def test_root(host):
    assert host.user().name == "root"
'''

FAILING = '''
def test_ok(host):
    assert host.file("/").is_directory

def test_motd_says_goldsmith(host):
    content = host.run("echo nothing here").stdout
    assert "goldsmith" in content, "the motd does not mention goldsmith"
'''

VARIABLES = '''
import os

def test_fixture(goldsmith_vars):
    assert goldsmith_vars == {"greeting": "hi there", "Port": "8080"}

def test_environment(host):
    assert os.environ["GOLDSMITH_VAR_GREETING"] == "hi there"
    assert os.environ["GOLDSMITH_VAR_PORT"] == "8080"
    assert os.environ["EXTRA"] == "from validate.env"
    assert os.environ["GOLDSMITH_SSH_PORT"] == str(host.backend.host.port)
'''


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[LocalSshd]:
    server = LocalSshd(tmp_path / "sshd")
    server.start()
    yield server
    server.stop()


def suite(tmp_path: Path, name: str, body: str) -> Path:
    directory = tmp_path / "suites"
    directory.mkdir(exist_ok=True)
    path = directory / f"test_{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def connection(sshd: LocalSshd, *, host_key: str | None = "pinned") -> Connection:
    pin = sshd.host_public_key if host_key == "pinned" else host_key
    return Connection(host="127.0.0.1", port=sshd.port, user="root", key=sshd.client_key, host_key=pin)


def run(tmp_path: Path, sshd: LocalSshd, suites: list[Path], *, timeout: float = 120,
        lines: list[str] | None = None, host_key: str | None = "pinned", env: dict[str, str] | None = None,
        variables: dict[str, str] | None = None, secrets: frozenset[str] = frozenset()) -> SuiteResult:
    sink = lines if lines is not None else []
    return run_suites(suites, connection=connection(sshd, host_key=host_key), env=env or {},
                      variables=variables or {}, junit_path=tmp_path / "report" / "junit.xml", timeout=timeout,
                      on_output=sink.append, secrets=secrets)


def test_a_passing_suite_is_ok_and_its_report_is_written(tmp_path: Path, sshd: LocalSshd) -> None:
    lines: list[str] = []
    result = run(tmp_path, sshd, [suite(tmp_path, "pass", PASSING)], lines=lines)
    assert (result.passed, result.failed, result.errors) == (2, 0, 0), lines
    assert result.ok
    assert result.junit_path.exists()
    assert parse_junit(result.junit_path).passed == 2
    assert any("test_echo" in line and "PASSED" in line for line in lines)


def test_a_failing_suite_reports_the_test_and_its_assertion(tmp_path: Path, sshd: LocalSshd) -> None:
    result = run(tmp_path, sshd, [suite(tmp_path, "fail", FAILING)])
    assert (result.passed, result.failed) == (1, 1)
    assert not result.ok
    [failure] = result.failures
    assert failure.test.endswith("test_fail.py::test_motd_says_goldsmith[paramiko://127.0.0.1]")
    assert "the motd does not mention goldsmith" in failure.message
    assert result.record()["failures"] == [failure.as_dict()]


def test_variables_reach_the_suite_as_fixture_and_environment(tmp_path: Path, sshd: LocalSshd) -> None:
    lines: list[str] = []
    result = run(tmp_path, sshd, [suite(tmp_path, "vars", VARIABLES)], lines=lines,
                 variables={"greeting": "hi there", "Port": "8080"}, env={"EXTRA": "from validate.env"})
    assert (result.passed, result.failed, result.errors) == (2, 0, 0), "\n".join(lines)


def test_secrets_are_redacted_in_output_failures_and_report(tmp_path: Path, sshd: LocalSshd) -> None:
    body = '''
    def test_leak(goldsmith_vars):
        print("the token is", goldsmith_vars["token"])
        assert goldsmith_vars["token"] == "", "token " + goldsmith_vars["token"] + " should be empty"
    '''
    lines: list[str] = []
    result = run(tmp_path, sshd, [suite(tmp_path, "secret", body)], lines=lines,
                 variables={"token": "s3cr3t-value"}, secrets=frozenset({"s3cr3t-value"}))
    assert result.failed == 1
    assert "s3cr3t-value" not in "\n".join(lines)
    assert "s3cr3t-value" not in result.failures[0].message and "***" in result.failures[0].message
    assert "s3cr3t-value" not in result.junit_path.read_text()


def test_a_hung_suite_is_killed_at_the_timeout(tmp_path: Path, sshd: LocalSshd) -> None:
    marker = tmp_path / "hung-pid"
    body = f'''
    import os, time
    def test_hangs():
        open({str(marker)!r}, "w").write(str(os.getpid()))
        time.sleep(600)
    '''
    result = run(tmp_path, sshd, [suite(tmp_path, "hang", body)], timeout=5)
    assert result.timed_out and not result.ok
    assert "did not finish within 5 s" in result.failures[-1].message
    pid = int(marker.read_text())
    for _ in range(50):  # the group was SIGKILLed already; the pid may take a moment to be reaped
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the hung pytest process is still alive"


def test_the_key_file_exists_during_the_run_and_is_removed_after(tmp_path: Path, sshd: LocalSshd) -> None:
    seen = tmp_path / "key-path"
    body = f'''
    import os, stat, urllib.parse
    def test_key_file(request):
        spec = request.config.option.hosts
        path = urllib.parse.parse_qs(urllib.parse.urlparse(spec).query)["ssh_identity_file"][0]
        open({str(seen)!r}, "w").write(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    '''
    lines: list[str] = []
    result = run(tmp_path, sshd, [suite(tmp_path, "key", body)], lines=lines)
    assert result.passed == 1, "\n".join(lines)
    path = Path(seen.read_text())
    assert path.name.startswith("id-")
    assert not path.exists()
    assert not path.parent.parent.exists()


def test_the_key_file_is_removed_when_the_suite_times_out(tmp_path: Path, sshd: LocalSshd,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "temp"  # a temp dir of its own: other bakes on the machine use /tmp at the same time
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    run(tmp_path, sshd, [suite(tmp_path, "hang2", "import time\ndef test_x():\n    time.sleep(600)\n")], timeout=3)
    assert not list(temp.glob("goldsmith-validate-*"))


def test_a_different_host_key_stops_every_test_before_it_runs(tmp_path: Path, sshd: LocalSshd) -> None:
    other = LocalSshd(tmp_path / "other")  # only for its (different) host key
    touched = tmp_path / "touched"
    body = f'''
    def test_writes(host):
        host.run("touch {touched}")
    '''
    result = run(tmp_path, sshd, [suite(tmp_path, "mitm", body)], host_key=other.host_public_key)
    assert result.errors == 1 and result.passed == 0
    assert "HOST KEY MISMATCH" in result.failures[0].message
    assert not touched.exists(), "a command ran on a host whose key did not match the pin"


def test_without_a_pin_a_warning_is_printed(tmp_path: Path, sshd: LocalSshd) -> None:
    lines: list[str] = []
    result = run(tmp_path, sshd, [suite(tmp_path, "nopin", PASSING)], lines=lines, host_key=None)
    assert result.ok
    assert any("no host key pinned" in line for line in lines)


def test_an_empty_suite_is_not_a_pass(tmp_path: Path, sshd: LocalSshd) -> None:
    result = run(tmp_path, sshd, [suite(tmp_path, "empty", "X = 1\n")])
    assert not result.ok
    assert "no tests were collected" in result.failures[-1].message


def test_a_missing_suite_is_an_input_error(tmp_path: Path, sshd: LocalSshd) -> None:
    with pytest.raises(InputError, match="not found"):
        run(tmp_path, sshd, [tmp_path / "nope.py"])


def test_suites_reach_the_instance_through_a_pinned_bastion(tmp_path: Path, sshd: LocalSshd) -> None:
    """ProxyCommand = our relay: the bastion's pin is enforced (a wrong one means no suite reaches the
    instance, which proves the tunnel is the path), and the instance's own pin still holds behind it."""
    from goldsmith.validate.suites import Jump

    with LocalSshd(tmp_path / "jump") as jump:
        def through(pin: str) -> SuiteResult:
            bastion = Jump(host="127.0.0.1", port=jump.port, user="root", key=jump.client_key, host_key=pin)
            via = Connection(host="127.0.0.1", port=sshd.port, user="root", key=sshd.client_key,
                             host_key=sshd.host_public_key, connect_timeout=10, bastion=bastion)
            return run_suites([suite(tmp_path, "pass", PASSING)], connection=via, env={}, variables={},
                              junit_path=tmp_path / "report" / f"{pin[:8]}.xml", timeout=120,
                              on_output=lines.append, secrets=frozenset())

        lines: list[str] = []
        result = through(jump.host_public_key)
        assert (result.passed, result.failed, result.errors) == (2, 0, 0), "\n".join(lines)
        lines.clear()
        result = through(sshd.host_public_key)  # the bastion shows another key: refused
        assert result.passed == 0 and not result.ok, "\n".join(lines)
        assert any("changed" in line for line in lines), "\n".join(lines)
