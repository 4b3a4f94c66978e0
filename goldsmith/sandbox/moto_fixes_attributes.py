"""Fixes to moto 5.2.5's AMI attributes, as AMI tools other than Goldsmith set and read them.

Found by driving the sandbox with the AWS CLI through a bake (tests/sandbox/test_aws_cli.py):
- ModifyImageAttribute changes only launch permissions in moto: a new ``Description`` (``Description.Value``,
  or ``Attribute=description`` with ``Value``) or ``ImdsSupport`` answered 200 and changed nothing.
- DescribeImageAttribute ``imdsSupport`` and ``ramdisk`` fail (HTTP 500), and an unknown image id fails the
  same way instead of answering InvalidAMIID.NotFound.
- DescribeImages leaves out where an AMI comes from: ``ImageLocation`` (owner/name for an EBS-backed AMI),
  ``Hypervisor`` (always xen), and for CreateImage and CopyImage ``SourceImageId``/``SourceImageRegion``.
- An AMI with ImdsSupport v2.0 launched instances with IMDSv1 allowed: AWS sets their ``HttpTokens`` to
  required and ``HttpPutResponseHopLimit`` to 2 unless the launch says otherwise (RegisterImage reference).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import MissingParameterError
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.amis import AmisResponse

from goldsmith.sandbox.moto_fixes_ebs import ec2_error

IMDS_V2 = "v2.0"  # the only ImdsSupport value AWS takes; once set it cannot be undone


def set_provenance(ami: Any, source_image_id: str | None = None, source_region: str | None = None) -> None:
    """What DescribeImages shows of an AMI's origin. AWS: ImageLocation is "<owner>/<name>" for an
    EBS-backed AMI; Hypervisor is xen for every AMI; SourceImageId and SourceImageRegion appear only for an
    AMI made by CreateImage (the instance's AMI) or CopyImage (the copied AMI)."""
    ami.image_location = ami.image_location or f"{ami.owner_id}/{ami.name}"
    ami.hypervisor = ami.hypervisor or "xen"
    if source_image_id:
        ami.source_image_id, ami.source_image_region = source_image_id, source_region


def _attribute_value(response: AmisResponse, name: str, attribute: str) -> str | None:
    """A ModifyImageAttribute value in either of the API's forms: Name.Value, or Attribute=name + Value."""
    given = response._get_param(name)
    if isinstance(given, dict) and given.get("Value") is not None:
        return str(given["Value"])
    if response._get_param("Attribute") == attribute:
        value = response._get_param("Value")
        if value is None:
            raise MissingParameterError("value")
        return str(value)
    return None


def _modify_image_attribute(self: AmisResponse) -> Any:
    """AWS ModifyImageAttribute also changes the description and the IMDS support (v2.0 only, for good);
    launch permissions are moto's own (with the sandbox's other fixes)."""
    ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]  # InvalidAMIID.NotFound
    description = _attribute_value(self, "Description", "description")
    imds = _attribute_value(self, "ImdsSupport", "imdsSupport")
    if imds is not None and imds != IMDS_V2:
        raise ec2_error("InvalidParameterValue",
                        f"ImdsSupport {imds!r} is not valid: the only valid value is {IMDS_V2}.")
    self.error_on_dryrun()
    if description is not None:
        ami.description = description
    if imds is not None:
        ami.imds_support = imds
    return _orig_modify_image_attribute(self)


def _describe_image_attribute(self: AmisResponse) -> ActionResult:
    """AWS DescribeImageAttribute answers imdsSupport and ramdisk (no Value when unset), and
    InvalidAMIID.NotFound for an unknown image (moto: HTTP 500 for all three)."""
    image_id = self._get_param("ImageId")
    ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
    attribute = self._get_param("Attribute")
    if attribute == "imdsSupport":
        value = getattr(ami, "imds_support", None)
        return ActionResult({"ImageId": image_id, "ImdsSupport": {"Value": value} if value else {}})
    if attribute == "ramdisk":
        return ActionResult({"ImageId": image_id, "RamdiskId": {}})  # no sandbox AMI has a ramdisk
    answer: ActionResult = _orig_describe_image_attribute(self)
    return answer


def _run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str],
                   **kwargs: Any) -> Any:
    """AWS: instances of an ImdsSupport v2.0 AMI require IMDSv2 (hop limit 2) unless MetadataOptions say
    otherwise."""
    ami = self.amis.get(image_id)
    if getattr(ami, "imds_support", None) == IMDS_V2:
        options = dict(kwargs.get("metadata_options") or {})
        options.setdefault("HttpTokens", "required")
        options.setdefault("HttpPutResponseHopLimit", 2)
        kwargs["metadata_options"] = options
    return _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)


_orig_modify_image_attribute: Any = None
_orig_describe_image_attribute: Any = None
_orig_run_instances: Any = None


def install() -> None:
    """Patch moto's image attribute calls (called once by moto_fixes.apply_all, after the fixes whose
    DescribeImageAttribute and RunInstances it wraps)."""
    global _orig_modify_image_attribute, _orig_describe_image_attribute, _orig_run_instances
    _orig_modify_image_attribute = AmisResponse.modify_image_attribute
    _orig_describe_image_attribute = AmisResponse.describe_image_attribute
    _orig_run_instances = InstanceBackend.run_instances
    InstanceBackend.run_instances = _run_instances  # type: ignore[method-assign]
    AmisResponse.modify_image_attribute = _modify_image_attribute  # type: ignore[method-assign]
    AmisResponse.describe_image_attribute = _describe_image_attribute  # type: ignore[method-assign]
