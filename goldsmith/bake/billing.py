"""An AMI's billing code must survive the bake, or the bake must not start.

Goldsmith registers the AMI from snapshots (RegisterImage). AWS carries a source's billing code
(PlatformDetails and UsageOperation in DescribeImages, "Understand AMI billing information" in the EC2
User Guide) into such an AMI only when it can derive it from the snapshots' metadata; otherwise a RHEL,
SUSE, Windows or SQL Server AMI comes out as plain Linux/UNIX, and fails to launch or bills wrongly. AWS's
advice is to check PlatformDetails of the new AMI and, when it is wrong, to make the AMI with CreateImage
from the instance instead. So the preflight refuses a source with a billing code, and RegisterImage checks
the new AMI's billing against the source's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.errors import BakeError, PreflightError

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef

PLAIN_PLATFORM = "Linux/UNIX"  # PlatformDetails of an AMI without a billing code
PLAIN_USAGE = "RunInstances"  # its UsageOperation (RHEL: RunInstances:0010, Windows: RunInstances:0002, ...)


def billing_of(image: ImageTypeDef) -> tuple[str, str]:
    """(PlatformDetails, UsageOperation), '' for a field the answer did not have."""
    return str(image.get("PlatformDetails") or ""), str(image.get("UsageOperation") or "")


def marketplace_codes(image: ImageTypeDef) -> set[str]:
    return {str(c.get("ProductCodeId")) for c in image.get("ProductCodes", [])
            if c.get("ProductCodeType") == "marketplace" and c.get("ProductCodeId")}


def check_source_billing(image: ImageTypeDef) -> None:
    """Refuse a source AMI with a billing code (PreflightError), before anything is launched.

    A field the answer lacks is not held against the source (RegisterImage checks the result instead).
    """
    details, usage = billing_of(image)
    windows = image.get("Platform") == "windows"
    if (not details or details == PLAIN_PLATFORM) and (not usage or usage == PLAIN_USAGE) and not windows:
        return
    shown = ", ".join(f"{name} '{value}'" for name, value in (
        ("PlatformDetails", details or ("Windows" if windows else "")), ("UsageOperation", usage)) if value)
    raise PreflightError(
        f"Source AMI {image['ImageId']} ({image.get('Name', '')}) carries a billing code ({shown}). Goldsmith "
        "registers the new AMI from snapshots (RegisterImage), which drops the billing code, so the AMI would "
        "fail to launch or be billed wrongly. Bake from a source without a billing code (PlatformDetails "
        f"'{PLAIN_PLATFORM}', UsageOperation '{PLAIN_USAGE}'), or make this image with a tool that creates the "
        "AMI from the instance (CreateImage): Goldsmith does not support that yet."
    )


def check_image_billing(source: ImageTypeDef, image: ImageTypeDef) -> str:
    """Raise BakeError when the new AMI's billing differs from its source's (a code RegisterImage dropped);
    returns a note when there was nothing to compare with (the source showed no billing fields)."""
    wanted, got = billing_of(source), billing_of(image)
    differs = [f"{name} '{have or '(none)'}' instead of the source's '{want}'"
               for name, want, have in zip(("PlatformDetails", "UsageOperation"), wanted, got, strict=True)
               if want and have != want]
    lost = sorted(marketplace_codes(source) - marketplace_codes(image))
    if lost:
        differs.append(f"no Marketplace product code {', '.join(lost)}")
    if differs:
        raise BakeError(
            f"The new AMI {image.get('ImageId', '')} does not bill like its source {source.get('ImageId', '')}: it "
            f"has {'; '.join(differs)}. RegisterImage did not carry the source's billing code over, so the AMI "
            "would fail to launch or be billed wrongly; it is removed. Bake from a source without a billing "
            f"code (PlatformDetails '{PLAIN_PLATFORM}', UsageOperation '{PLAIN_USAGE}'), or make this image "
            "with a tool that creates the AMI from the instance (CreateImage): Goldsmith does not support that yet."
        )
    if not any(wanted):
        return (f"the source {source.get('ImageId', '')} shows no billing fields; the new AMI shows "
                f"{' / '.join(v for v in got if v) or 'none either'}")
    return ""
