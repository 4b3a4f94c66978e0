"""Waiters botocore lacks, declared in botocore's own waiter language and run by its Waiter class.

botocore's `instance_terminated` gives up when it sees `pending` or `stopping`, which is exactly what
an instance shows when a bake is interrupted right after launching or while stopping; and right after
RunInstances, DescribeInstances may not know the instance yet (eventual consistency). Likewise
botocore's `image_available` fails at once when DescribeImages does not know an image RegisterImage just
returned; ours retries that, and still fails at once on a `failed` image. And botocore's
`snapshot_completed` fails at once when DescribeSnapshots does not know a snapshot CreateSnapshots just
returned (InvalidSnapshot.NotFound); ours retries that, and still fails at once on an `error` snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.waiter import Waiter, WaiterModel, create_waiter_with_client

if TYPE_CHECKING:
    from botocore.client import BaseClient

_MODEL = WaiterModel(
    {
        "version": 2,
        "waiters": {
            "InstanceGone": {
                "operation": "DescribeInstances",
                "delay": 5,
                "maxAttempts": 120,
                "acceptors": [
                    {"matcher": "pathAll", "argument": "Reservations[].Instances[].State.Name",
                     "expected": "terminated", "state": "success"},
                    {"matcher": "error", "expected": "InvalidInstanceID.NotFound", "state": "retry"},
                ],
            },
            "ImageAvailable": {
                "operation": "DescribeImages",
                "delay": 15,
                "maxAttempts": 40,
                "acceptors": [
                    {"matcher": "pathAll", "argument": "Images[].State", "expected": "available", "state": "success"},
                    {"matcher": "pathAny", "argument": "Images[].State", "expected": "failed", "state": "failure"},
                    {"matcher": "error", "expected": "InvalidAMIID.NotFound", "state": "retry"},
                ],
            },
            "SnapshotCompleted": {
                "operation": "DescribeSnapshots",
                "delay": 15,
                "maxAttempts": 40,
                "acceptors": [
                    {"matcher": "pathAll", "argument": "Snapshots[].State", "expected": "completed",
                     "state": "success"},
                    {"matcher": "pathAny", "argument": "Snapshots[].State", "expected": "error", "state": "failure"},
                    {"matcher": "error", "expected": "InvalidSnapshot.NotFound", "state": "retry"},
                ],
            },
        },
    }
)
_NAMES = {
    "instance_gone": "InstanceGone",
    "image_available": "ImageAvailable",
    "snapshot_completed": "SnapshotCompleted",
}


def custom_waiter(client: BaseClient, name: str) -> Waiter | None:
    """Our waiter of that (snake_case) name, or None to use botocore's own."""
    model_name = _NAMES.get(name)
    return create_waiter_with_client(model_name, _MODEL, client) if model_name else None
