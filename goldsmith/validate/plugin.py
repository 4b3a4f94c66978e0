"""Goldsmith's pytest plugin for validation suites (loaded with ``-p goldsmith.validate.plugin``).

It gives suites the recipe's variables (the ``goldsmith_vars`` fixture; they are also in the
environment as GOLDSMITH_VAR_<NAME>), and it pins the instance's host key: testinfra's paramiko
backend accepts any host key, so before each test we compare the key of the live connection with the
one Goldsmith saw when it first reached the instance, and refuse to run the test on a mismatch. A
ProxyCommand (the bastion relay) that exits fails the connection at once instead of after paramiko's
15 s banner timeout (goldsmith.ssh.proxycommand).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from goldsmith.validate.channel import HOST_KEY_ENV, VARS_ENV


def load_vars(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The recipe variables passed by the runner (exact names, JSON in one variable)."""
    raw = (environ if environ is not None else os.environ).get(VARS_ENV, "")
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{VARS_ENV} must hold a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def pytest_configure(config: pytest.Config) -> None:
    from goldsmith.ssh import proxycommand

    proxycommand.install()


@pytest.fixture(scope="session")
def goldsmith_vars() -> dict[str, str]:
    """The recipe's variables (name -> value) as the bake resolved them."""
    return load_vars()


@pytest.fixture(autouse=True)
def _goldsmith_host_key_pinned(request: pytest.FixtureRequest) -> None:
    """Fail the test (before it runs a command) if the instance shows a different host key."""
    pin = os.environ.get(HOST_KEY_ENV, "")
    if not pin or "_testinfra_host" not in request.fixturenames:
        return
    host = request.getfixturevalue("_testinfra_host")
    problem = host_key_problem(host.backend, pin)
    if problem:
        pytest.fail(problem, pytrace=False)


def host_key_problem(backend: Any, pin: str) -> str:
    """Why the backend's connection cannot be trusted, or "" when its server key is the pinned one."""
    from goldsmith.ssh.hostkeys import fingerprint, matches

    client = getattr(backend, "client", None)  # testinfra's paramiko backend connects here
    transport = client.get_transport() if client is not None else None
    if transport is None:
        return "the host key cannot be checked: use the paramiko connection (paramiko://...)"
    key = transport.get_remote_server_key()
    if not matches(pin, key):
        return (
            f"HOST KEY MISMATCH: the instance now shows {fingerprint(key)}, not the key Goldsmith pinned "
            "when it first connected; no command was run (possible man-in-the-middle)"
        )
    return ""
