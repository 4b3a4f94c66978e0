"""Fix to moto 5.2.5: an AMI's last launch time (DescribeImageAttribute ``lastLaunchedTime``).

AWS records when an instance was last launched from an AMI and answers it as ``LastLaunchedTime:
{Value: "2026-12-03T19:40:00Z"}`` (an AMI never launched has no Value); retention rules ("not launched in
the last N days") read it. moto records nothing and fails the call (HTTP 500). Here RunInstances notes the
time on the AMI, and the attribute is answered as AWS does. AWS updates the value within 24 hours; the
sandbox does it at once.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.amis import AmisResponse


def _run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str],
                   **kwargs: Any) -> Any:
    reservation = _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    ami = self.amis.get(image_id)
    if ami is not None:
        ami.gs_last_launched = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    return reservation


def _describe_image_attribute(self: AmisResponse) -> ActionResult:
    """AWS answers lastLaunchedTime as LastLaunchedTime {Value} (moto: HTTP 500)."""
    if self._get_param("Attribute") != "lastLaunchedTime":
        answer: ActionResult = _orig_describe_image_attribute(self)
        return answer
    image_id = self._get_param("ImageId")
    ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
    when = getattr(ami, "gs_last_launched", None)
    return ActionResult({"ImageId": image_id, "LastLaunchedTime": {"Value": when} if when else {}})


_orig_run_instances: Any = None
_orig_describe_image_attribute: Any = None


def install() -> None:
    """Patch moto's RunInstances and DescribeImageAttribute (called once by moto_fixes.apply_all, after the
    other fixes: it wraps whatever they installed)."""
    global _orig_run_instances, _orig_describe_image_attribute
    _orig_run_instances = InstanceBackend.run_instances
    _orig_describe_image_attribute = AmisResponse.describe_image_attribute
    InstanceBackend.run_instances = _run_instances  # type: ignore[method-assign]
    AmisResponse.describe_image_attribute = _describe_image_attribute  # type: ignore[method-assign]
