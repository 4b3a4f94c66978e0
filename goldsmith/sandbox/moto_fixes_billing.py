"""Fixes to moto 5.2.5's AMI model for billing and platform metadata, TPM and UEFI data, as AWS keeps them.

Split from moto_fixes (which installs these too, via ``install``, and calls ``inherit`` and ``registered``
from its RegisterImage, CreateImage and CopyImage). Each function names the AWS behaviour it restores.

AWS DescribeImages shows every AMI's billing code as PlatformDetails and UsageOperation ("Understand AMI
billing information" in the EC2 User Guide): "Linux/UNIX" + "RunInstances" for an AMI without a billing
code, "Red Hat Enterprise Linux" + "RunInstances:0010", "SUSE Linux" + "RunInstances:000g", "Windows" +
"RunInstances:0002", ... moto shows neither. The codes follow an AMI through CreateImage (from an instance
launched from it) and CopyImage; RegisterImage from snapshots can keep them only when AWS finds them in the
snapshots' metadata, which the sandbox does not model: an AMI registered from snapshots is Linux/UNIX +
RunInstances, its billing code lost (what AWS documents as an unsuccessful registration for RHEL, SUSE,
Windows and SQL Server sources).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models.amis import Ami
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.amis import AmisResponse

LINUX = ("Linux/UNIX", "RunInstances")
RHEL = ("Red Hat Enterprise Linux", "RunInstances:0010")
UEFI_BOOT_MODES = ("uefi", "uefi-preferred")  # every sandbox instance type boots UEFI, so both mean UEFI


def set_billing(ami: Any, billing: tuple[str, str]) -> None:
    ami.platform_details, ami.usage_operation = billing


def inherit(ami: Any, source: Any, instance: Any = None) -> None:
    """AWS CreateImage and CopyImage: the new AMI keeps the source AMI's billing code and TpmSupport, and
    its UEFI variable store (for CreateImage, the instance's current one)."""
    if source is not None:
        ami.platform_details = source.platform_details
        ami.usage_operation = source.usage_operation
        ami.tpm_support = source.tpm_support
        ami.uefi_data = source.uefi_data
    if instance is not None:
        ami.uefi_data = uefi_store(instance.ec2_backend, instance) or None


def registered(ami: Any, params: dict[str, Any]) -> None:
    """AWS RegisterImage keeps TpmSupport and UefiData as given; the billing code stays Linux/UNIX."""
    ami.tpm_support = params.get("TpmSupport")
    ami.uefi_data = params.get("UefiData") or None


def uefi_store(backend: Any, instance: Any) -> str:
    """The instance's non-volatile UEFI variable store (base64), '' when it did not boot in UEFI mode.

    It starts as its AMI's UefiData, else as a fixed opaque blob of its own (base64 of zlib data, as on
    AWS); it is decided once, when first asked, and kept on the instance."""
    store = getattr(instance, "gs_uefi_data", None)
    if store is None:
        ami = backend.amis.get(instance.image_id)
        if ami is not None and ami.boot_mode not in UEFI_BOOT_MODES:
            store = ""
        elif ami is not None and ami.uefi_data:
            store = ami.uefi_data
        else:
            seed = hashlib.sha256(f"sandbox-uefi-varstore:{instance.id}".encode()).digest()
            store = base64.b64encode(zlib.compress(b"GSVARS01" + seed)).decode()
        instance.gs_uefi_data = store
    return str(store)


def _get_instance_uefi_data(self: Any, instance_id: str) -> bytes:
    """AWS GetInstanceUefiData: the instance's UEFI variable store (moto: always empty)."""
    return uefi_store(self, self.get_instance(instance_id)).encode("ascii")


def _describe_image_attribute(self: AmisResponse) -> ActionResult:
    """AWS DescribeImageAttribute answers tpmSupport and uefiData (moto: HTTP 500)."""
    attribute = self._get_param("Attribute")
    if attribute not in ("tpmSupport", "uefiData"):
        return _orig_describe_image_attribute(self)
    image_id = self._get_param("ImageId")
    ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
    value = ami.tpm_support if attribute == "tpmSupport" else ami.uefi_data
    result: dict[str, Any] = {"ImageId": image_id}
    if value:
        result["TpmSupport" if attribute == "tpmSupport" else "UefiData"] = {"Value": value}
    return ActionResult(result)


_orig_describe_image_attribute = AmisResponse.describe_image_attribute


def install() -> None:
    """Patch moto's AMI model (called once by moto_fixes.apply_all)."""
    Ami.platform_details, Ami.usage_operation = LINUX  # type: ignore[attr-defined]
    Ami.tpm_support = None  # type: ignore[attr-defined]
    Ami.uefi_data = None  # type: ignore[attr-defined]
    AmisResponse.describe_image_attribute = _describe_image_attribute  # type: ignore[method-assign]
    InstanceBackend.get_instance_uefi_data = _get_instance_uefi_data  # type: ignore[method-assign]
