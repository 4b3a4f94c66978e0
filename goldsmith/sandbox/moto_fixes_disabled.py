"""Disabled AMIs as AWS has them (moto 5.2.5 has DisableImage/EnableImage, but nothing else changes).

AWS DisableImage: the AMI's state becomes ``disabled``, all its launch permissions are removed (a public or
shared AMI becomes private; EnableImage does not bring them back), and "a disabled AMI does not appear in
DescribeImages API calls by default": only with ``IncludeDisabled=true``. moto lists disabled AMIs in every
DescribeImages and keeps their launch permissions, so a name check, a cleanup or an inventory that forgets
IncludeDisabled would pass in the sandbox and miss the AMI on AWS. The AMI keeps its name, so its name is
still taken (RegisterImage and CopyImage refuse it), as on AWS.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models.amis import AmiBackend
from moto.ec2.responses.amis import AmisResponse

DISABLED = "disabled"


def visible(images: list[Any], include_disabled: bool) -> list[Any]:
    """What DescribeImages lists: disabled AMIs only when asked for (by id or not)."""
    return images if include_disabled else [i for i in images if getattr(i, "state", "") != DISABLED]


def _describe_images(self: AmisResponse) -> ActionResult:
    answer = _orig_describe_images(self)
    images = answer.result["Images"]  # type: ignore[index]
    return ActionResult({"Images": visible(images, self._get_bool_param("IncludeDisabled", False))})


def _disable_image(self: Any, ami_id: str) -> None:
    """AWS DisableImage: disabled, and private (every launch permission removed)."""
    _orig_disable_image(self, ami_id)
    self.amis[ami_id].launch_permissions = []


_orig_describe_images = AmisResponse.describe_images
_orig_disable_image = AmiBackend.disable_image


def install() -> None:
    """Patch moto's AMI API (called once by moto_fixes.apply_all)."""
    AmisResponse.describe_images = _describe_images  # type: ignore[method-assign]
    AmiBackend.disable_image = _disable_image  # type: ignore[method-assign]
