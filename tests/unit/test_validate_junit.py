"""JUnit parsing and the pure parts of validation (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goldsmith.bake.steps.launch_instance import deletable_mappings
from goldsmith.errors import ValidationFailed
from goldsmith.ssh.keys import PrivateKey
from goldsmith.validate.junit import MESSAGE_LIMIT, Failure, parse_junit
from goldsmith.validate.plan import failure_message
from goldsmith.validate.plugin import load_vars
from goldsmith.validate.suites import Connection, SuiteResult, pytest_command, suite_environment

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5">
  <testcase classname="tests.images.test_hardening" name="test_ok[paramiko://10.0.0.5]" time="0.1"/>
  <testcase classname="tests.images.test_hardening" name="test_sshd[paramiko://10.0.0.5]" time="0.1">
    <failure message="AssertionError: sshd allows PasswordAuthentication&#10;assert 'yes' == 'no'">trace</failure>
  </testcase>
  <testcase classname="tests.images.test_hardening.TestFiles" name="test_shadow" time="0.1">
    <error message="">Traceback ...
E   RuntimeError: cannot run sudo</error>
  </testcase>
  <testcase classname="tests.images.test_hardening" name="test_build_key" time="0.0">
    <skipped message="not run by a bake"/>
  </testcase>
  <testcase classname="test_local" name="test_two" time="0.0"/>
</testsuite></testsuites>
"""


def test_counts_and_failures_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(REPORT)
    summary = parse_junit(path)
    assert (summary.passed, summary.failed, summary.errors, summary.skipped) == (2, 1, 1, 1)
    assert summary.failures == (
        Failure("tests/images/test_hardening.py::test_sshd[paramiko://10.0.0.5]",
                "AssertionError: sshd allows PasswordAuthentication assert 'yes' == 'no'", "failure"),
        Failure("tests/images/test_hardening.py::TestFiles::test_shadow", "E RuntimeError: cannot run sudo", "error"),
    )


def test_long_messages_are_shortened(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(f'<testsuite><testcase classname="test_x" name="t"><failure message="{"x" * 2000}"/>'
                    "</testcase></testsuite>")
    [failure] = parse_junit(path).failures
    assert len(failure.message) == MESSAGE_LIMIT and failure.message.endswith("…")


@pytest.mark.parametrize("content", ["", "<testsuite><testcase", "not xml"])
def test_an_unreadable_report_is_a_validation_failure(tmp_path: Path, content: str) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(content)
    with pytest.raises(ValidationFailed, match="could not be read"):
        parse_junit(path)


def test_result_is_ok_only_when_tests_ran_and_none_failed() -> None:
    def result(passed: int, failed: int = 0, errors: int = 0, timed_out: bool = False) -> SuiteResult:
        return SuiteResult(passed, failed, errors, [], Path("j.xml"), timed_out=timed_out)

    assert result(3).ok
    assert not result(0).ok
    assert not result(3, failed=1).ok
    assert not result(3, errors=1).ok
    assert not result(3, timed_out=True).ok


def test_failure_message_names_tests_and_report() -> None:
    failures = [Failure(f"t.py::test_{i}", f"assert {i}") for i in range(7)]
    message = failure_message("image ami-1", SuiteResult(1, 7, 0, failures, Path("/r/j.xml")))
    assert message.startswith("image ami-1 failed validation (1 passed, 7 failed, 0 errors): t.py::test_0: assert 0")
    assert "test_4" in message and "test_5" not in message and "(and 2 more)" in message
    assert message.endswith("Report: /r/j.xml")


def test_validation_volumes_never_outlive_the_instance() -> None:
    image = {"BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1", "VolumeSize": 8, "VolumeType": "gp3",
                                            "DeleteOnTermination": True, "Encrypted": True}},
        {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": "snap-2", "VolumeSize": 10, "VolumeType": "io2",
                                           "Iops": 3000, "DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
    ]}
    assert deletable_mappings(image) == [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1", "VolumeSize": 8, "VolumeType": "gp3",
                                            "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": "snap-2", "VolumeSize": 10, "VolumeType": "io2",
                                           "Iops": 3000, "DeleteOnTermination": True}},
    ]


def test_suite_environment_carries_variables_and_drops_the_callers_settings() -> None:
    key = PrivateKey.generate_ed25519()
    connection = Connection("10.0.0.5", 22, "admin", key, host_key="ssh-ed25519 AAAA")
    base = {"PATH": "/usr/bin", "SSH_AUTH_SOCK": "/tmp/agent", "PYTEST_ADDOPTS": "-x", "GOLDSMITH_VAR_OLD": "stale"}
    env = suite_environment(base, {"WEB_PORT": "8080"}, {"port": "8080", "Name": "x"}, connection)
    assert env["PATH"] == "/usr/bin" and env["WEB_PORT"] == "8080"
    assert "SSH_AUTH_SOCK" not in env and "PYTEST_ADDOPTS" not in env and "GOLDSMITH_VAR_OLD" not in env
    assert env["GOLDSMITH_VAR_PORT"] == "8080" and env["GOLDSMITH_VAR_NAME"] == "x"
    assert load_vars(env) == {"port": "8080", "Name": "x"}
    assert json.loads(env["GOLDSMITH_VARS_JSON"]) == {"port": "8080", "Name": "x"}
    assert env["GOLDSMITH_HOST_KEY"] == "ssh-ed25519 AAAA"
    assert env["GOLDSMITH_VALIDATION_PUBLIC_KEY"] == key.public_openssh()
    assert "PRIVATE" not in json.dumps(env)


def test_pytest_command_uses_the_paramiko_backend_and_our_plugin(tmp_path: Path) -> None:
    suite = tmp_path / "suites" / "test_x.py"
    suite.parent.mkdir()
    suite.write_text("def test_x(host): pass\n")
    connection = Connection("10.0.0.5", 2222, "admin", PrivateKey.generate_ed25519())
    command = pytest_command([suite], connection, tmp_path / "work", tmp_path / "junit.xml")
    [hosts] = [a for a in command if a.startswith("--hosts=")]
    assert hosts.startswith("--hosts=paramiko://admin@10.0.0.5:2222?ssh_identity_file=")
    assert "&ssh_config=" in hosts and "&timeout=30" in hosts
    assert command[command.index("goldsmith.validate.plugin") - 1] == "-p"
    assert f"--confcutdir={suite.parent}" in command
    key_files = list((tmp_path / "work" / "key").iterdir())
    assert len(key_files) == 1 and oct(key_files[0].stat().st_mode & 0o777) == "0o600"
