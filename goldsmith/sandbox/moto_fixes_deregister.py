"""Fix to moto 5.2.5: DeregisterImage with ``DeleteAssociatedSnapshots`` (the AWS CLI's
``--delete-associated-snapshots``).

AWS deletes the AMI's snapshots with it, except a snapshot another AMI also uses ("it is not deleted,
regardless of this setting"), and answers each snapshot's outcome in ``DeleteSnapshotResults``
(``{SnapshotId, ReturnCode}``, ReturnCode ``success`` or ``skipped``). moto ignores the parameter: it answered
200 and left every snapshot, so a cleanup that relied on it would leak them in the sandbox only. The gateway
frees the deleted snapshots' storage from the answer (gateway_machines).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses.amis import AmisResponse


def _snapshots_of(ami: Any) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in getattr(ami, "gs_mappings", None) or []
            if m.get("Ebs", {}).get("SnapshotId")]


def delete_associated_snapshots(backend: Any, snapshot_ids: list[str]) -> list[dict[str, str]]:
    """After the AMI is gone: delete each of its snapshots that no other AMI of the region uses and that this
    account owns (a snapshot of another account, e.g. a public AMI's, is never this account's to delete)."""
    results = []
    for snapshot_id in dict.fromkeys(snapshot_ids):
        snapshot = backend.snapshots.get(snapshot_id)
        in_use = any(snapshot_id in _snapshots_of(ami) for ami in list(backend.amis.values()))
        if snapshot is None or in_use or snapshot.owner_id != backend.account_id:
            results.append({"SnapshotId": snapshot_id, "ReturnCode": "skipped"})
            continue
        backend.delete_snapshot(snapshot_id)
        results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
    return results


def _deregister_image(self: AmisResponse) -> ActionResult:
    if not self._get_bool_param("DeleteAssociatedSnapshots", False):
        answer: ActionResult = _orig_deregister_image(self)
        return answer
    ami = self.ec2_backend.amis.get(self._get_param("ImageId"))
    snapshot_ids = _snapshots_of(ami) if ami is not None else []
    _orig_deregister_image(self)  # moto's refusals: unknown or already deregistered AMI, dry run
    results = delete_associated_snapshots(self.ec2_backend, snapshot_ids)
    return ActionResult({"Return": True, "DeleteSnapshotResults": results})


_orig_deregister_image = AmisResponse.deregister_image


def install() -> None:
    """Patch moto's DeregisterImage (called once by moto_fixes.apply_all)."""
    AmisResponse.deregister_image = _deregister_image  # type: ignore[method-assign]
