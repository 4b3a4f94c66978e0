"""One sandbox for the whole session (tests/sandbox and tests/reliability share it): moto + gateway +
instance runtime, in a private state dir.

The base image cache (GOLDSMITH_IMAGE_CACHE, default /var/cache/goldsmith/images) is shared with the
user's, so it is built once per machine. Subprocess bakes reach this same sandbox through
GOLDSMITH_SANDBOX_DIR.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _why_not() -> str:
    if os.geteuid() != 0:
        return "the sandbox needs root"
    for tool in ("unshare", "debootstrap"):
        if shutil.which(tool) is None:
            return f"the sandbox needs {tool} (bash scripts/setup.sh installs it)"
    return ""


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
    old = os.environ.get("GOLDSMITH_SANDBOX_DIR")
    os.environ["GOLDSMITH_SANDBOX_DIR"] = str(sandbox_dir)
    try:
        yield info
    finally:
        if old is None:
            os.environ.pop("GOLDSMITH_SANDBOX_DIR", None)
        else:
            os.environ["GOLDSMITH_SANDBOX_DIR"] = old
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
