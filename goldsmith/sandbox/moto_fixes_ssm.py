"""Fixes to moto 5.2.5's SSM Parameter Store for parameters of data type ``aws:ec2:image`` (channels).

What AWS does ("Parameter data types in Parameter Store" and PutParameter's DataType, in the Systems Manager
documentation), and moto does not:

- the value is validated asynchronously: PutParameter answers 200 with the new version number, but when the
  value is not the id of an AMI available to the account in that region, "the parameter will not be
  created or updated". moto stores any value. Here the check runs at once (the sandbox's EC2 state is in
  this process) and an invalid value is answered exactly as AWS answers it, with nothing stored, so a
  client that does not read its write back is caught as it would be on AWS;
- only the String type may carry ``aws:ec2:image`` (moto accepts SecureString and StringList);
- a parameter cannot change to or from ``aws:ec2:image`` (moto lets an overwrite change it).

GetParameterHistory and labels work in moto as on AWS and are left alone.
"""

from __future__ import annotations

import re

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ssm.exceptions import ValidationException
from moto.ssm.models import Parameter, SimpleSystemManagerBackend

IMAGE_DATA_TYPE = "aws:ec2:image"
AMI_ID = re.compile(r"ami-[0-9a-f]{8}(?:[0-9a-f]{9})?")


def image_available(account_id: str, region: str, value: str) -> bool:
    """Whether `value` names an AMI that is available in this account and region (what AWS validates)."""
    if not AMI_ID.fullmatch(value):
        return False
    ami = ec2_backends[account_id][region].amis.get(value)
    return ami is not None and ami.state == "available"


def _versions(backend: SimpleSystemManagerBackend, name: str) -> list[Parameter]:
    return list(backend._parameters[name]) if name in backend._parameters else []


def check_image_type(backend: SimpleSystemManagerBackend, name: str, parameter_type: str | None,
                     data_type: str) -> None:
    """AWS: aws:ec2:image only on String parameters, and no change of data type to or from it."""
    versions = _versions(backend, name)
    previous = versions[-1] if versions else None
    kind = parameter_type or (previous.parameter_type if previous else None)
    if data_type == IMAGE_DATA_TYPE and kind not in (None, "String"):
        raise ValidationException(f"The data type {IMAGE_DATA_TYPE} is only supported for parameters of type "
                                  f"String, not {kind}.")
    if previous is not None and IMAGE_DATA_TYPE in (data_type, previous.data_type) and data_type != \
            previous.data_type:
        raise ValidationException(f"You can't change the data type of parameter {name} from "
                                  f"{previous.data_type} to {data_type}.")


def _put_parameter(self: SimpleSystemManagerBackend, name: str, description: str, value: str, parameter_type: str,
                   allowed_pattern: str, keyid: str, overwrite: bool, tags: list[dict[str, str]], data_type: str,
                   tier: str | None, policies: str | None) -> Parameter:
    if data_type != IMAGE_DATA_TYPE and not _versions(self, name):
        return _orig(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite, tags,
                     data_type, tier, policies)
    check_image_type(self, name, parameter_type, data_type)
    if data_type == IMAGE_DATA_TYPE and not image_available(self.account_id, self.region_name, value or ""):
        return _unstored(self, name, value, parameter_type, overwrite, data_type, tier)
    return _orig(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite, tags, data_type,
                 tier, policies)


def _unstored(backend: SimpleSystemManagerBackend, name: str, value: str, parameter_type: str, overwrite: bool,
              data_type: str, tier: str | None) -> Parameter:
    """The answer AWS gives before its asynchronous validation fails: the next version, nothing stored.

    The synchronous refusals (an existing parameter without Overwrite) still come first, as on AWS."""
    from moto.ssm.exceptions import ParameterAlreadyExists

    versions = _versions(backend, name)
    if versions and not overwrite:
        raise ParameterAlreadyExists
    return Parameter(  # type: ignore[abstract]
        account_id=backend.account_id, name=name, value=value, parameter_type=parameter_type or "String",
        description=None, allowed_pattern=None, keyid=None, last_modified_date=utcnow(),
        version=(versions[-1].version + 1) if versions else 1, data_type=data_type,
        tier=tier or backend.default_parameter_tier)


_orig = SimpleSystemManagerBackend.put_parameter


def install() -> None:
    """Patch moto's Parameter Store (called once by moto_fixes.apply_all)."""
    SimpleSystemManagerBackend.put_parameter = _put_parameter  # type: ignore[method-assign]
