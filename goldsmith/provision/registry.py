"""Provisioner lookup: a type name maps to a dotted path imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from goldsmith.errors import ProvisionError
from goldsmith.provision.base import Provisioner, run_provisioners, run_step

__all__ = ["REGISTRY", "provisioner_class", "run_provisioners", "run_step"]

REGISTRY: dict[str, str] = {
    "shell": "goldsmith.provision.shell:ShellProvisioner",
    "file": "goldsmith.provision.file:FileProvisioner",
    "template": "goldsmith.provision.template:TemplateProvisioner",
    "reboot": "goldsmith.provision.reboot:RebootProvisioner",
}


def provisioner_class(kind: str) -> type[Provisioner[Any]]:
    """Import the provisioner registered as ``kind``."""
    try:
        dotted = REGISTRY[kind]
    except KeyError:
        raise ProvisionError(f"unknown provisioner type {kind!r} (known: {', '.join(sorted(REGISTRY))})") from None
    module_name, _, class_name = dotted.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Provisioner)):
        raise TypeError(f"{dotted} is not a Provisioner")
    if cls.kind != kind:  # the step's `type`, the registry key and the class must agree
        raise TypeError(f"{dotted} is registered as {kind!r} but its kind is {cls.kind!r}")
    return cls
