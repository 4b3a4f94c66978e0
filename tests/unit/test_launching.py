"""RunInstances parameters: IMDSv2 required, tags at creation, the network chosen by the recipe."""

from __future__ import annotations

from goldsmith.bake.steps.launch_instance import instance_params
from goldsmith.recipe.model import Build


def _params(build: Build) -> dict[str, object]:
    return instance_params(build, image_id="ami-12345678", instance_type="t3.micro", key_name="k",
                           group_id="sg-1", tags={"goldsmith:build-id": "b-1"}, client_token="b-1-build" * 10)


def test_imdsv2_tags_and_token() -> None:
    p = _params(Build())
    assert p["MetadataOptions"] == {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2}
    assert {s["ResourceType"] for s in p["TagSpecifications"]} == {"instance", "volume"}  # type: ignore[attr-defined]
    assert len(p["ClientToken"]) == 64  # type: ignore[arg-type]
    other = instance_params(Build(), image_id="ami-12345678", instance_type="t3.micro", key_name="k",
                            group_id="sg-1", tags={}, client_token="b-1-build" * 10 + "x")
    assert other["ClientToken"] != p["ClientToken"]  # a long token keeps what makes it unique
    assert p["SecurityGroupIds"] == ["sg-1"] and "NetworkInterfaces" not in p


def test_subnet_and_public_ip_choice_use_a_network_interface() -> None:
    p = _params(Build(subnet_id="subnet-0123456789abcdef0", associate_public_ip=False, iam_instance_profile="builder"))
    assert p["NetworkInterfaces"] == [{"DeviceIndex": 0, "Groups": ["sg-1"], "SubnetId": "subnet-0123456789abcdef0",
                                      "AssociatePublicIpAddress": False}]
    assert "SecurityGroupIds" not in p and "SubnetId" not in p
    assert p["IamInstanceProfile"] == {"Name": "builder"}
