"""Trimmed service models: a client made from one can call every operation Goldsmith calls (and no other),
builds the same requests as a client of the full model, and the trimmed file is cached per botocore release."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest

from goldsmith.aws.models import TrimmedLoader, operations_called, trim


def _client(loader: botocore.loaders.Loader, service: str = "ec2") -> object:
    session = botocore.session.Session()
    session.register_component("data_loader", loader)
    return session.create_client(service, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                                 aws_secret_access_key="secret")


def test_every_operation_called_is_in_the_service_model() -> None:
    """A typo or a renamed operation in the policy would otherwise vanish silently from the trimmed model."""
    full = botocore.loaders.create_loader()
    iam_only = {"kms": {"ReEncryptFrom", "ReEncryptTo"}, "iam": {"PassRole"}}  # permissions, not operations
    for service, operations in operations_called().items():
        known = set(full.load_service_model(service, "service-2")["operations"])
        assert operations - iam_only.get(service, set()) <= known, f"{service}: {sorted(operations - known)}"
    assert {"RunInstances", "CreateSnapshots", "DescribeImages", "CopyImage"} <= operations_called()["ec2"]
    assert operations_called()["sts"] == {"GetCallerIdentity"}


def test_trim_keeps_the_operations_and_every_shape_they_reach() -> None:
    full = botocore.loaders.create_loader().load_service_model("ec2", "service-2")
    small = trim(full, {"DescribeImages", "NoSuchOperation"})
    assert set(small["operations"]) == {"DescribeImages"}
    assert small["metadata"] == full["metadata"]
    assert {"DescribeImagesRequest", "DescribeImagesResult", "Image", "BlockDeviceMapping", "EbsBlockDevice",
            "Filter"} <= set(small["shapes"])
    assert "RunInstancesRequest" not in small["shapes"]
    for shape in small["shapes"].values():  # closed: nothing refers outside the trimmed set
        refs = [m["shape"] for m in shape.get("members", {}).values()]
        refs += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
        assert set(refs) <= set(small["shapes"])


def _sent(client: object, operation: str, params: dict[str, object]) -> AWSPreparedRequest:
    """The request `client` would send (captured before it leaves)."""
    seen: list[AWSPreparedRequest] = []

    def capture(request: AWSPreparedRequest, **_: object) -> object:
        seen.append(request)
        raise _Stop

    events = client.meta.events  # type: ignore[attr-defined]
    events.register("before-send", capture)
    with pytest.raises(_Stop):
        getattr(client, operation)(**params)
    return seen[0]


class _Stop(Exception):
    pass


def test_a_trimmed_client_sends_what_the_full_one_sends(tmp_path: Path) -> None:
    trimmed = _client(TrimmedLoader(operations_called(), tmp_path))
    full = _client(botocore.loaders.create_loader())
    params: dict[str, object] = {
        "ImageId": "ami-12345678", "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1, "ClientToken": "t",
        "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 10, "VolumeType": "gp3"}}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "goldsmith:build-id", "Value": "b"}]}],
    }
    a, b = _sent(trimmed, "run_instances", params), _sent(full, "run_instances", params)
    assert (a.url, a.body) == (b.url, b.body)
    assert not hasattr(trimmed, "create_vpc") and hasattr(full, "create_vpc")
    assert trimmed.can_paginate("describe_images")  # type: ignore[attr-defined]
    assert trimmed.get_waiter("image_available").config.operation == "DescribeImages"  # type: ignore[attr-defined]


def test_the_trimmed_model_is_written_once_and_read_back(tmp_path: Path) -> None:
    _client(TrimmedLoader(operations_called(), tmp_path))
    files = sorted(tmp_path.glob("ec2-*.json"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    cached = json.loads(files[0].read_text())
    assert set(cached["operations"]) == operations_called()["ec2"]
    cached["documentation"] = "read from the cache"  # a later process reads the file, not botocore's model
    files[0].write_text(json.dumps(cached))
    assert TrimmedLoader(operations_called(), tmp_path).load_service_model("ec2", "service-2")[
        "documentation"] == "read from the cache"


def test_an_unwritable_cache_trims_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    client = _client(TrimmedLoader(operations_called(), blocked / "cache"))
    assert hasattr(client, "describe_images") and not hasattr(client, "create_vpc")


def test_a_corrupt_cache_file_is_replaced(tmp_path: Path) -> None:
    _client(TrimmedLoader(operations_called(), tmp_path))
    path = next(tmp_path.glob("ec2-*.json"))
    path.write_text('{"trunc')
    client = _client(TrimmedLoader(operations_called(), tmp_path))
    assert hasattr(client, "describe_images")
    assert json.loads(path.read_text())["operations"]


def test_services_goldsmith_does_not_trim_load_whole(tmp_path: Path) -> None:
    client = _client(TrimmedLoader({"ec2": frozenset({"DescribeImages"})}, tmp_path), "kms")
    assert hasattr(client, "create_key")


def test_the_cache_lives_under_the_users_home_or_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """XDG_CACHE_HOME (absolute: a relative one is ignored, as the XDG spec says), else ~/.cache; with no home
    directory there is no cache at all rather than one in a shared place, and clients are still trimmed."""
    from goldsmith.engine.files import user_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir("x") == tmp_path / "xdg" / "goldsmith" / "x"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir("x") == tmp_path / "home" / ".cache" / "goldsmith" / "x"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr("os.path.expanduser", lambda path: path)  # no HOME and no passwd entry
    with pytest.raises(OSError):
        user_cache_dir("x")
    client = _client(TrimmedLoader(operations_called()))
    assert hasattr(client, "describe_images") and not hasattr(client, "create_vpc")
    assert not (tmp_path / "home").exists()
