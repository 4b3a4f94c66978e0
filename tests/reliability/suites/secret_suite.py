"""Validation suite of recipes/secret.yaml: shows the secret every way a suite can (printed, in a failure)."""

from __future__ import annotations

import os
from typing import Any


def test_the_instance_and_the_suite_see_the_token(host: Any) -> None:
    token = os.environ["GOLDSMITH_VAR_API_TOKEN"]
    print(f"suite token is {token}, env token is {os.environ['SUITE_TOKEN']}")
    assert host.file("/var/tmp/token").content_string.strip() == token
    assert os.environ.get("GOLDSMITH_VAR_FAIL") != "yes", f"failing on purpose; the token is {token}"
