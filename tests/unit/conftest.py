"""Shared fixtures of the unit tests that talk to a real moto server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.sandbox.moto_server import MotoProcess


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    """A moto server of the module's own (no state shared between modules), no retries, fast waiters. Its
    clients know every operation: tests prepare resources (volumes, VPCs, ...) Goldsmith never creates."""
    server = MotoProcess.start(base_image_name="debian-12-sandbox-amd64-20260101")
    yield Aws(AwsSettings(region="us-east-1", endpoint_url=server.url, access_key_id="testing",
                          secret_access_key="testing", max_attempts=1), full_models=True)
    server.stop()
