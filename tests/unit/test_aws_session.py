"""The AWS session: the SDK's standard chain (profiles, config files, environment), botocore's clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldsmith.aws.session import Aws, AwsSettings
from goldsmith.errors import InputError


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config"
    path.write_text("[profile release]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_a_profile_s_region_comes_from_the_config_file(config: Path) -> None:
    aws = Aws(AwsSettings(profile="release"))
    assert aws.region == "eu-central-1"
    assert aws.ec2().meta.region_name == "eu-central-1"
    assert aws.ec2() is aws.ec2("eu-central-1"), "one client per (service, region)"


def test_the_region_setting_and_aws_region_win_over_the_profile(config: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert Aws(AwsSettings(profile="release", region="us-west-2")).region == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert Aws(AwsSettings(profile="release")).region == "ap-south-1"


@pytest.mark.parametrize("from_env", [False, True])
def test_an_unknown_profile_is_bad_input_naming_the_profiles_there_are(
        config: Path, monkeypatch: pytest.MonkeyPatch, from_env: bool) -> None:
    if from_env:
        monkeypatch.setenv("AWS_PROFILE", "relase")
    with pytest.raises(InputError, match=r"relase.*profiles in your AWS config and credentials files: release"):
        Aws(AwsSettings(profile=None if from_env else "relase"))


def test_explicit_credentials_and_endpoint_are_used(config: Path) -> None:
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url="http://127.0.0.1:1", access_key_id="AKIDEXAMPLE",
                          secret_access_key="secret"))
    client = aws.sts()
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    signer: Any = client._request_signer  # type: ignore[attr-defined]  # as botocore resolved them
    credentials = signer._credentials
    assert credentials.access_key == "AKIDEXAMPLE"


def test_no_region_anywhere_is_a_clear_error(config: Path) -> None:
    with pytest.raises(InputError, match="No AWS region is set"):
        _ = Aws(AwsSettings()).region
