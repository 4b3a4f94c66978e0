"""One sandbox for the whole session (tests/sandbox and tests/reliability share it): moto + gateway +
instance runtime, in a private state dir.

The base image cache (GOLDSMITH_IMAGE_CACHE, default /var/cache/goldsmith/images) is shared with the
user's, so it is built once per machine. Subprocess bakes reach this same sandbox through
GOLDSMITH_SANDBOX_DIR.

The build cache is off for the session's bakes (INVOKE_GOLDSMITH_CACHE=false): many tests bake the same
recipe and mean a bake each time (a kill matrix killing a bake the cache skipped would test nothing).
Tests of the cache turn it on for their own bakes (tests/sandbox/test_build_cache.py).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CACHE_ENV = "INVOKE_GOLDSMITH_CACHE"


def _why_not() -> str:
    if os.geteuid() != 0:
        return "the sandbox needs root"
    for tool in ("unshare", "debootstrap", "systemd-nspawn"):
        if shutil.which(tool) is None:
            return f"the sandbox needs {tool} (bash scripts/setup.sh installs it)"
    return ""


def pytest_configure(config: pytest.Config) -> None:
    """The suite interrupts its bakes with SIGINT, as Ctrl-C does. Started in the background by a
    non-interactive shell (`.ci/run &`), pytest inherits SIGINT ignored, and so would every bake it starts,
    which would then never see the tests' Ctrl-C: restore Python's handler (children start with the default)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    from tests.reliability.matrix import MatrixCollector

    if not hasattr(config, "workerinput"):  # pytest-xdist's workers send their reports to this process
        config.pluginmanager.register(MatrixCollector(), "kill-matrix")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _why_not()
    if not reason:
        return
    for item in items:
        if "sandbox" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="session")
def sandbox(sandbox_dir: Path) -> Iterator[Any]:
    """The running sandbox (a SandboxInfo: gateway_url, region, ...); stopped at the end of the session."""
    from goldsmith.sandbox import manage

    info = manage.up(sandbox_dir, progress=lambda line: print(line, flush=True))
    settings = {"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir), CACHE_ENV: "false"}
    old = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield info
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        manage.down(sandbox_dir)


@pytest.fixture
def sandbox_client(sandbox: Any) -> Any:
    return sandbox.client()


@pytest.fixture
def ec2(sandbox: Any) -> Any:
    """A boto3 EC2 client on the gateway (tests may use boto3 directly; the product goes through aws/)."""
    import boto3

    return boto3.client("ec2", region_name="us-east-1", endpoint_url=sandbox.gateway_url,
                        aws_access_key_id=sandbox.credentials.access_key_id,
                        aws_secret_access_key=sandbox.credentials.secret_access_key)
