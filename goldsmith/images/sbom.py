"""The CycloneDX SBOM of an image (CycloneDX 1.6, JSON), written from its contents.

The BOM describes the image (metadata.component: the recipe and version, type operating-system, with the
build id, source AMI and kernel as properties); its components are the distribution (name and version from
os-release) and every installed package, each with a package URL: `pkg:deb/debian/NAME@VERSION?arch=ARCH&
distro=debian-12`, `pkg:rpm/rhel/NAME@VERSION-RELEASE?arch=ARCH&epoch=E&distro=rhel-9`. Kernel packages
carry the property goldsmith:kernel=true. The serial number is derived from the build id, so the same
contents give the same document.

The document is built as plain JSON: cyclonedx-python-lib made the same document (a unit test compares the
two) but took ~0.1 s per image plus 0.26 s to import, a quarter of a pipeline's own CPU time with ten bakes
at once. The library still validates SBOMs against CycloneDX's schema (`validate_sbom`, in the tests).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from packageurl import PackageURL

if TYPE_CHECKING:
    from goldsmith.images.contents import Contents, Package

__all__ = ["SCHEMA_VERSION", "package_url", "sbom_document", "sbom_text", "validate_sbom"]

SCHEMA_VERSION = "1.6"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
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


def _component(kind: str, name: str, version: str | None = None, **fields: Any) -> dict[str, Any]:
    """A CycloneDX component: only the fields that have a value."""
    component: dict[str, Any] = {"type": kind, "name": name}
    if version:
        component["version"] = version
    component.update({key.replace("_", "-"): value for key, value in fields.items() if value})
    return component


def _properties(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs if value]


def sbom_document(contents: Contents) -> dict[str, Any]:
    """The SBOM as a CycloneDX 1.6 JSON object."""
    image_ref = f"image:{contents.build_id}"
    os_id = contents.os.get("ID") or "unknown"
    image = _component(
        "operating-system", contents.recipe, contents.version, bom_ref=image_ref,
        description=f"machine image baked by Goldsmith (build {contents.build_id})",
        properties=_properties([("goldsmith:build-id", contents.build_id),
                                ("goldsmith:source-ami", contents.source_ami), ("goldsmith:kernel", contents.kernel),
                                ("goldsmith:machine", contents.machine),
                                ("goldsmith:package-manager", contents.manager)]))
    os_component = _component("operating-system", os_id, contents.os.get("VERSION_ID"), bom_ref=f"os:{os_id}",
                              description=contents.os_name or None)
    kernel = set(contents.kernel_packages)
    packages = []
    for package in contents.packages:
        purl = package_url(contents, package).to_string()
        marks = _properties([("goldsmith:kernel", "true")]) if package in kernel else None
        packages.append(_component("library", package.name, package.version, bom_ref=purl, purl=purl,
                                   properties=marks))
    return {
        "$schema": SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": SCHEMA_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(NAMESPACE, contents.build_id)}",
        "version": 1,
        "metadata": {
            "timestamp": contents.recorded_at,
            "tools": {"components": [_component("application", "goldsmith", _goldsmith_version())]},
            "component": image,
        },
        "components": [os_component, *packages],
        "dependencies": [{"ref": image_ref, "dependsOn": [os_component["bom-ref"], *(p["bom-ref"] for p in packages)]},
                         {"ref": os_component["bom-ref"]}, *({"ref": p["bom-ref"]} for p in packages)],
    }


def sbom_text(contents: Contents) -> str:
    """The SBOM as CycloneDX 1.6 JSON text."""
    return json.dumps(sbom_document(contents), indent=2) + "\n"


def validate_sbom(text: str) -> list[str]:
    """The schema errors of a CycloneDX 1.6 JSON document ([] when it is valid), as one line each."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(getattr(e.data, "message", e)) for e in errors or ()]
