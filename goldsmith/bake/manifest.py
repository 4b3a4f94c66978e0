"""A bake's manifest entry: what the build produced, in Packer's manifest fields plus Goldsmith's own."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldsmith.bake.state import BuildState


def manifest_entry(state: BuildState, *, recipe: str, version: str, target: str,
                   requests: dict[str, int] | None = None) -> dict[str, Any]:
    """`requests`: the AWS requests the bake sent, per service:Operation (goldsmith.aws.session.Aws.requests)."""
    artifacts = {
        region: {
            "ami_id": a.image_id,
            "snapshots": dict(a.snapshots),
            "kms_key": state.kms_keys.get(region, ""),
            "deprecation_time": state.deprecation_time,
        }
        for region, a in state.artifacts.items()
    }
    return {
        # Packer's manifest fields, so existing consumers can read ours.
        "name": recipe,
        "builder_type": f"goldsmith.{target}",
        "build_time": int(time.time()),
        "artifact_id": ",".join(f"{r}:{a.image_id}" for r, a in state.artifacts.items()),
        "packer_run_uuid": state.build_id,
        "custom_data": {"recipe": recipe, "version": version},
        # Goldsmith's own.
        "recipe": recipe,
        "version": version,
        "build_id": state.build_id,
        "target": target,
        "outcome": state.outcome,
        # A build cache hit: artifact_id names the AMI reused (the one to deploy), made by build reused_from.
        "reused": bool(state.reused_from),
        "reused_from": state.reused_from,
        "fingerprint": state.fingerprint,
        "error": state.error,
        "image_name": state.image_name,
        "source_ami": state.facts.get("source_ami", ""),
        "source_ami_name": state.facts.get("source_ami_name", ""),
        "region": state.region,
        "artifacts": artifacts,
        "launch_permissions": state.launch_permissions,
        "snapshot_permissions": state.snapshot_permissions,
        "channels": list(state.channels),
        "tags": dict(state.tags),
        "validation": state.validation,
        # What is inside the image (record-contents): os, kernel, package count, the contents file and SBOM.
        "contents": state.contents,
        "steps": [
            {"name": s.name, "started_at": round(s.started_at, 3), "duration": round(s.duration, 4),
             "status": s.status}
            for s in state.steps
        ],
        "requests": dict(requests or {}),
    }
