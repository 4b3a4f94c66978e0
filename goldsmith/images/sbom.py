"""The CycloneDX SBOM of an image (CycloneDX 1.6, JSON), made with cyclonedx-python-lib from its contents.

The BOM describes the image (metadata.component: the recipe and version, type operating-system, with the
build id, source AMI and kernel as properties); its components are the distribution (name and version from
os-release) and every installed package, each with a package URL: `pkg:deb/debian/NAME@VERSION?arch=ARCH&
distro=debian-12`, `pkg:rpm/rhel/NAME@VERSION-RELEASE?arch=ARCH&epoch=E&distro=rhel-9`. Kernel packages
carry the property goldsmith:kernel=true. The serial number is derived from the build id, so the same
contents give the same document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

if TYPE_CHECKING:
    from goldsmith.images.contents import Contents, Package

__all__ = ["SCHEMA", "package_url", "sbom_text", "validate_sbom"]

SCHEMA = SchemaVersion.V1_6
NAMESPACE = uuid.UUID("8f5c2a9e-1d3b-4c7a-9e6f-0b1a2c3d4e5f")  # serial numbers: uuid5(NAMESPACE, build id)


def _goldsmith_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("goldsmith")
    except PackageNotFoundError:
        return "0"


def package_url(contents: Contents, package: Package) -> PackageURL:
    """The purl of an installed package (purl-spec's deb and rpm types; the namespace is os-release's ID)."""
    namespace = contents.os.get("ID", "") or ("debian" if contents.manager == "dpkg" else "")
    qualifiers = {"arch": package.arch}
    version = package.version
    if contents.manager == "rpm":
        epoch, colon, rest = version.partition(":")
        if colon and epoch.isdigit():
            qualifiers["epoch"] = epoch
            version = rest
    if contents.os.get("ID") and contents.os.get("VERSION_ID"):
        qualifiers["distro"] = f"{contents.os['ID']}-{contents.os['VERSION_ID']}"
    kind = "deb" if contents.manager == "dpkg" else "rpm"
    return PackageURL(type=kind, namespace=namespace or None, name=package.name, version=version,
                      qualifiers=qualifiers)


def _components(contents: Contents) -> Iterable[Component]:
    kernel = set(contents.kernel_packages)
    for package in contents.packages:
        purl = package_url(contents, package)
        properties = [Property(name="goldsmith:kernel", value="true")] if package in kernel else None
        yield Component(name=package.name, version=package.version, type=ComponentType.LIBRARY, purl=purl,
                        bom_ref=purl.to_string(), properties=properties)


def sbom_text(contents: Contents) -> str:
    """The SBOM as CycloneDX 1.6 JSON text."""
    properties = [Property(name="goldsmith:build-id", value=contents.build_id)]
    properties += [Property(name=f"goldsmith:{key}", value=value) for key, value in
                   (("source-ami", contents.source_ami), ("kernel", contents.kernel), ("machine", contents.machine),
                    ("package-manager", contents.manager)) if value]
    image = Component(name=contents.recipe, version=contents.version, type=ComponentType.OPERATING_SYSTEM,
                      bom_ref=f"image:{contents.build_id}", description=f"machine image baked by Goldsmith "
                      f"(build {contents.build_id})", properties=properties)
    os_component = Component(name=contents.os.get("ID") or "unknown", version=contents.os.get("VERSION_ID"),
                             type=ComponentType.OPERATING_SYSTEM, description=contents.os_name or None,
                             bom_ref=f"os:{contents.os.get('ID') or 'unknown'}")
    packages = list(_components(contents))
    tools = ToolRepository(components=[Component(name="goldsmith", version=_goldsmith_version(),
                                                 type=ComponentType.APPLICATION)])
    metadata = BomMetaData(component=image, tools=tools, timestamp=datetime.fromisoformat(contents.recorded_at))
    bom = Bom(components=[os_component, *packages], metadata=metadata,
              serial_number=uuid.uuid5(NAMESPACE, contents.build_id))
    bom.register_dependency(image, [os_component, *packages])
    return make_outputter(bom, OutputFormat.JSON, SCHEMA).output_as_string(indent=2) + "\n"


def validate_sbom(text: str) -> list[str]:
    """The schema errors of a CycloneDX 1.6 JSON document ([] when it is valid), as one line each."""
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SCHEMA).validate_str(text, all_errors=True)
    return [str(getattr(e.data, "message", e)) for e in errors or ()]
