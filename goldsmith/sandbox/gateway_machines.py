"""What the gateway does around the EC2 calls that touch machines: it drives the instance runtime.

moto keeps the records (instances, volumes, snapshots, images, security groups); the runtime keeps the real
filesystems, sshd processes and network namespaces: an instance boots at the PrivateIpAddress moto gave it,
and its security groups' ingress rules are handed to the runtime when it starts and whenever they change.
``Machines.after`` runs once moto answered 200 and before the client sees the answer, so a StopInstances
returns only when the instance is down and a CreateSnapshot only when the content is captured.
Details the response lacks come from moto directly through boto3 (those calls are not counted).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from goldsmith.sandbox import moto_transport
from goldsmith.sandbox.credentials import UNCHECKED, Credentials
from goldsmith.sandbox.gateway_groups import group_members, ingress_rules
from goldsmith.sandbox.image import BASE_IMAGE_OWNER
from goldsmith.sandbox.latency import LatencyModel

log = logging.getLogger(__name__)
DEFAULT_USER = "admin"  # the base AMI's login user, like Debian's cloud images
Params = dict[str, str]
GROUP_ACTIONS = ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "ModifySecurityGroupRules",
                 "ModifyInstanceAttribute", "ModifyNetworkInterfaceAttribute")


class EndpointLike(Protocol):
    host: str
    port: int


class InstanceInfoLike(Protocol):
    instance_id: str
    state: str
    endpoint: Any
    root_volume: str
    volumes: dict[str, str]
    pid: int | None


class RuntimeLike(Protocol):
    """The part of goldsmith.sandbox.runtime.InstanceRuntime the gateway drives."""

    def register_base_snapshot(self, snapshot_id: str) -> None: ...
    def create_volume(self, volume_id: str, snapshot_id: str | None) -> None: ...
    def delete_volume(self, volume_id: str) -> None: ...
    def snapshot_volume(self, volume_id: str, snapshot_id: str) -> int: ...
    def copy_snapshot(self, source_snapshot_id: str, new_snapshot_id: str) -> None: ...
    def delete_snapshot(self, snapshot_id: str) -> None: ...
    def snapshot_size(self, snapshot_id: str) -> int: ...
    def base_bytes(self) -> int: ...
    def start_instance(self, instance_id: str, root_volume: str, data_volumes: dict[str, str], *,
                       user: str = ..., authorized_key: str | None = ..., address: str | None = ...,
                       ingress: Any = ...) -> Any: ...
    def set_ingress(self, rules: dict[str, Any]) -> None: ...
    def stop_instance(self, instance_id: str) -> None: ...
    def reboot_instance(self, instance_id: str) -> None: ...
    def terminate_instance(self, instance_id: str) -> None: ...
    def console_output(self, instance_id: str) -> str: ...
    def endpoint(self, instance_id: str) -> Any: ...
    def instances(self) -> list[Any]: ...


@dataclass
class InstanceMeta:
    """What the gateway remembers of an instance to start it again."""

    image_id: str
    region: str
    root_volume: str
    data_volumes: dict[str, str]
    public_key: str | None
    volumes: list[str] = field(default_factory=list)
    address: str | None = None  # PrivateIpAddress: where the runtime puts it on the sandbox network
    groups: list[str] = field(default_factory=list)  # its security groups' ids


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_values(body: bytes, tag: str) -> list[str]:
    """Distinct texts of every element named ``tag`` (namespace ignored), in document order."""
    found: list[str] = []
    for element in ET.fromstring(body).iter():
        if local_name(element.tag) == tag and element.text and element.text not in found:
            found.append(element.text)
    return found


def xml_pairs(body: bytes, first: str, second: str) -> list[tuple[str, str]]:
    """(first, second) texts of every element that has both children (e.g. snapshotId + volumeId)."""
    pairs = []
    for element in ET.fromstring(body).iter():
        children = {local_name(c.tag): c.text or "" for c in element}
        if children.get(first) and children.get(second):
            pairs.append((children[first], children[second]))
    return pairs


def indexed(params: Params, prefix: str) -> list[str]:
    """Values of a query-protocol list parameter: InstanceId.1, InstanceId.2, ..."""
    items = [(k[len(prefix) + 1:], v) for k, v in params.items() if k.startswith(f"{prefix}.")]
    return [v for k, v in sorted(items, key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)]


class Machines:
    """Drives the runtime around moto; thread-safe (the runtime is too, so calls to it run in parallel)."""

    def __init__(self, runtime: RuntimeLike, moto_url: str, latency: LatencyModel,
                 credentials: Credentials = UNCHECKED) -> None:
        self.runtime = runtime
        self.moto_url = moto_url
        self.credentials = credentials  # the sandbox's administrator key when moto enforces IAM
        self.latency = latency
        self._lock = threading.RLock()
        self._clients: dict[str, Any] = {}
        self._meta: dict[str, InstanceMeta] = {}
        self._snapshots: dict[str, tuple[str | None, int | None]] = {}
        self._base_regions: set[str] = set()
        # For the latency model: each snapshot's data (bytes), each volume's source snapshot, the base AMI's
        # snapshots (another account's), and the volumes snapshotted already.
        self._data: dict[str, int] = {}
        self._origin: dict[str, str | None] = {}
        self._base_snapshots: set[str] = set()
        self._snapshotted: set[str] = set()
        self._after: dict[str, Callable[[str, Params, bytes, Any], None]] = {
            "RunInstances": self._run, "StartInstances": self._start, "StopInstances": self._stop,
            "RebootInstances": self._reboot, "TerminateInstances": self._terminate,
            "CreateSnapshot": self._create_snapshots, "CreateSnapshots": self._create_snapshots,
            "CreateImage": self._create_image, "CopySnapshot": self._copy_snapshot,
            "CopyImage": self._copy_image, "RegisterImage": self._register_image,
            "DeleteSnapshot": self._delete_snapshot, "DeleteVolume": self._delete_volume,
            "CreateVolume": self._create_volume, "DeregisterImage": self._deregister_image,
            **dict.fromkeys(GROUP_ACTIONS, self._groups_changed),
        }

    def ec2(self, region: str) -> Any:
        """An uncounted boto3 client straight to moto, signed with the sandbox's own key."""
        with self._lock:
            if region not in self._clients:
                self._clients[region] = moto_transport.client("ec2", self.moto_url, region, self.credentials,
                                                              retries={"max_attempts": 3})
            return self._clients[region]

    def prepare_region(self, region: str) -> list[str]:
        """Tell the runtime the base AMI's root snapshot(s) of this region; idempotent."""
        with self._lock:
            if region in self._base_regions:
                return []
            images = self.ec2(region).describe_images(Owners=[BASE_IMAGE_OWNER])["Images"]
            snapshots = [m["Ebs"]["SnapshotId"] for i in images for m in i["BlockDeviceMappings"]
                         if m.get("Ebs", {}).get("SnapshotId")]
            for snapshot_id in snapshots:
                self.runtime.register_base_snapshot(snapshot_id)
                self._base_snapshots.add(snapshot_id)
            self._base_regions.add(region)
            return snapshots

    def handles(self, action: str) -> bool:
        return action in self._after or action == "TerminateInstances"

    def before(self, action: str, region: str, params: Params) -> Any:
        """Collect what moto forgets during the call (the volumes of instances being terminated)."""
        if action != "TerminateInstances":
            return None
        ids = indexed(params, "InstanceId")
        reservations = self.ec2(region).describe_instances(InstanceIds=ids)["Reservations"]
        return {i["InstanceId"]: [m["Ebs"]["VolumeId"] for m in i.get("BlockDeviceMappings", [])]
                for r in reservations for i in r["Instances"]}

    def rewrite(self, action: str, params: Params, body: bytes) -> bytes:
        """GetConsoleOutput: AWS returns the instance's real console (moto a canned text), so we do too,
        and, as EC2, only some time after the instance booted (the latency profile's `console`)."""
        if action != "GetConsoleOutput":
            return body
        instance_id = params.get("InstanceId", "")
        try:
            text = self.runtime.console_output(instance_id) if self.latency.console_ready(instance_id) else ""
        except (KeyError, ValueError):
            return body
        encoded = base64.b64encode(text.encode()).decode()
        return re.sub(rb"<output>.*?</output>", f"<output>{encoded}</output>".encode(), body, count=1, flags=re.S)

    def after(self, action: str, region: str, params: Params, body: bytes, context: Any) -> None:
        """Drive the runtime for a call moto accepted; raises if the runtime failed."""
        handler = self._after.get(action)
        if handler is not None:
            handler(region, params, body, context)

    # instances ------------------------------------------------------------------------------------------
    def _describe_meta(self, region: str, instance_id: str) -> InstanceMeta:
        ec2 = self.ec2(region)
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        devices = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", [])}
        root = instance.get("RootDeviceName", "/dev/xvda")
        key = None
        if instance.get("KeyName"):
            pairs = ec2.describe_key_pairs(KeyNames=[instance["KeyName"]], IncludePublicKey=True)["KeyPairs"]
            key = pairs[0].get("PublicKey")
        return InstanceMeta(instance["ImageId"], region, devices.get(root, ""),
                            {d: v for d, v in devices.items() if d != root}, key, list(devices.values()),
                            instance.get("PrivateIpAddress"),
                            [g["GroupId"] for g in instance.get("SecurityGroups", [])])

    def _run(self, region: str, params: Params, body: bytes, _: Any) -> None:
        ids = xml_values(body, "instanceId")
        self.prepare_region(region)
        started: list[str] = []
        try:
            for instance_id in ids:
                meta = self._describe_meta(region, instance_id)
                volumes = self.ec2(region).describe_volumes(VolumeIds=meta.volumes)["Volumes"]
                with self._lock:
                    self._meta[instance_id] = meta
                for volume in volumes:
                    self.runtime.create_volume(volume["VolumeId"], volume.get("SnapshotId") or None)
                    with self._lock:
                        self._origin[volume["VolumeId"]] = volume.get("SnapshotId") or None
                self._start_one(instance_id, meta)
                started.append(instance_id)
        except Exception:
            self._undo_run(region, ids)
            raise

    def _start_one(self, instance_id: str, meta: InstanceMeta) -> None:
        rules = self._ingress(meta.region, {instance_id: meta})
        self.runtime.start_instance(instance_id, meta.root_volume, meta.data_volumes, user=DEFAULT_USER,
                                    authorized_key=meta.public_key, address=meta.address,
                                    ingress=rules.pop(instance_id, []))
        if rules:  # the others' rules that name its groups now include its address
            self.runtime.set_ingress(rules)
        self.latency.note(instance_id, "pending", self.latency.profile.instance_start, "RunInstances")
        self.latency.note_boot(instance_id)

    def _undo_run(self, region: str, ids: list[str]) -> None:
        """A launch the runtime could not complete leaves nothing behind, in moto or on disk."""
        log.warning("runtime failed to launch %s; terminating them", ids)
        for instance_id in ids:
            with self._lock:
                meta = self._meta.pop(instance_id, None)
            self._quietly(self.runtime.terminate_instance, instance_id)
            for volume_id in meta.volumes if meta else []:
                self._quietly(self.runtime.delete_volume, volume_id)
        self._quietly(lambda: self.ec2(region).terminate_instances(InstanceIds=ids))

    @staticmethod
    def _quietly(call: Callable[..., Any], *args: Any) -> None:
        try:
            call(*args)
        except Exception as exc:  # cleanup after a failure: report the first error, not this one
            log.warning("cleanup step failed: %s", exc)

    def _meta_for(self, region: str, instance_id: str) -> InstanceMeta:
        with self._lock:
            meta = self._meta.get(instance_id)
        if meta is None:
            meta = self._describe_meta(region, instance_id)
            with self._lock:
                self._meta[instance_id] = meta
        return meta

    def _start(self, region: str, params: Params, body: bytes, _: Any) -> None:
        for instance_id in indexed(params, "InstanceId"):
            meta = self._meta_for(region, instance_id)
            if self.runtime.endpoint(instance_id) is None:
                self._start_one(instance_id, meta)

    def _stop(self, region: str, params: Params, body: bytes, _: Any) -> None:
        for instance_id in indexed(params, "InstanceId"):
            self.runtime.stop_instance(instance_id)
            self.latency.note(instance_id, "stopping", self.latency.profile.instance_stop, "StopInstances")

    def _reboot(self, region: str, params: Params, body: bytes, _: Any) -> None:
        for instance_id in indexed(params, "InstanceId"):
            self.runtime.reboot_instance(instance_id)

    def _terminate(self, region: str, params: Params, body: bytes, volumes: Any) -> None:
        for instance_id, volume_ids in (volumes or {}).items():
            self.runtime.terminate_instance(instance_id)
            with self._lock:
                self._meta.pop(instance_id, None)
            self.latency.note(instance_id, "shutting-down", self.latency.profile.instance_terminate,
                              "TerminateInstances")
            left = {v["VolumeId"] for v in self.ec2(region).describe_volumes(
                Filters=[{"Name": "volume-id", "Values": volume_ids}])["Volumes"]} if volume_ids else set()
            for volume_id in volume_ids:
                if volume_id not in left:
                    self.runtime.delete_volume(volume_id)

    # security groups ------------------------------------------------------------------------------------------
    def _ingress(self, region: str, extra: dict[str, InstanceMeta] | None = None) -> dict[str, list[Any]]:
        """Instance id -> its ingress rules, for every instance of the region known here (and `extra`)."""
        with self._lock:
            metas = {i: m for i, m in self._meta.items() if m.region == region} | (extra or {})
        group_ids = sorted({g for m in metas.values() for g in m.groups})
        if not group_ids:
            return {i: [] for i in metas}
        groups = self.ec2(region).describe_security_groups(
            Filters=[{"Name": "group-id", "Values": group_ids}])["SecurityGroups"]
        permissions = {g["GroupId"]: g.get("IpPermissions", []) for g in groups}
        members = group_members({i: m.groups for i, m in metas.items()}, {i: m.address for i, m in metas.items()})
        return {i: ingress_rules([p for g in m.groups for p in permissions.get(g, [])], members)
                for i, m in metas.items()}

    def _groups_changed(self, region: str, params: Params, body: bytes, _: Any) -> None:
        """A group's rules or an instance's groups changed: every instance of the region gets its rules again."""
        with self._lock:
            ids = [i for i, m in self._meta.items() if m.region == region]
        if not ids:
            return
        reservations = self.ec2(region).describe_instances(InstanceIds=ids)["Reservations"]
        with self._lock:
            for instance in (i for r in reservations for i in r["Instances"]):
                meta = self._meta.get(instance["InstanceId"])
                if meta is not None:
                    meta.groups = [g["GroupId"] for g in instance.get("SecurityGroups", [])]
        self.runtime.set_ingress(self._ingress(region))

    # volumes and snapshots --------------------------------------------------------------------------------
    def data_bytes(self, snapshot_id: str | None) -> int:
        """The data a snapshot holds (what a copy moves): the base image's size for the base AMI's."""
        if snapshot_id is None:
            return 0
        with self._lock:
            if snapshot_id in self._data:
                return self._data[snapshot_id]
            base = snapshot_id in self._base_snapshots
        return self.runtime.base_bytes() if base else 0

    def _capture(self, snapshot_id: str, volume_id: str, action: str) -> float:
        """Snapshot the volume in the runtime; returns the seconds the latency model gives it (not noted yet)."""
        stored = self.runtime.snapshot_volume(volume_id, snapshot_id)
        with self._lock:
            origin = self._origin.get(volume_id)
            first = volume_id not in self._snapshotted
            self._snapshotted.add(volume_id)
        inherited = self.data_bytes(origin)
        # The first snapshot of a volume stores all of its data unless its source snapshot is our own.
        incremental_to_source = origin is not None and origin not in self._base_snapshots
        to_store = stored + (inherited if first and not incremental_to_source else 0)
        with self._lock:
            self._snapshots[snapshot_id] = (volume_id, stored)
            self._data[snapshot_id] = inherited + stored
        seconds = self.latency.profile.snapshot_seconds(to_store)
        self.latency.note(snapshot_id, "pending", seconds, action, volume=volume_id, stored_bytes=to_store)
        return seconds

    def _create_snapshots(self, region: str, params: Params, body: bytes, _: Any) -> None:
        for snapshot_id, volume_id in xml_pairs(body, "snapshotId", "volumeId"):
            self._capture(snapshot_id, volume_id, "CreateSnapshots")

    def _create_image(self, region: str, params: Params, body: bytes, _: Any) -> None:
        """CreateImage costs what its snapshots cost (the longest, they run in parallel) plus registration."""
        image_id = xml_values(body, "imageId")[0]
        ec2 = self.ec2(region)
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if m.get("Ebs", {}).get("SnapshotId")]
        snapshots = ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"] if ids else []
        seconds = [self._capture(snapshot["SnapshotId"], snapshot["VolumeId"], "CreateImage")
                   for snapshot in snapshots
                   if image_id in snapshot.get("Description", "")]  # not a snapshot BlockDeviceMappings named
        self.latency.note(image_id, "pending", self.latency.profile.create_image_seconds(seconds), "CreateImage")

    def _register_image(self, region: str, params: Params, body: bytes, _: Any) -> None:
        self.latency.note(xml_values(body, "imageId")[0], "pending", self.latency.profile.image, "RegisterImage")

    def _copy(self, source_id: str, new_id: str, seconds: float, action: str) -> None:
        self.runtime.copy_snapshot(source_id, new_id)
        data = self.data_bytes(source_id)
        with self._lock:
            self._snapshots[new_id] = (None, None)
            self._data[new_id] = data
        self.latency.note(new_id, "pending", seconds, action, data_bytes=data)

    def _copy_snapshot(self, region: str, params: Params, body: bytes, _: Any) -> None:
        source = params["SourceSnapshotId"]
        seconds = self.latency.profile.copy_seconds(self.data_bytes(source))
        self._copy(source, xml_values(body, "snapshotId")[0], seconds, "CopySnapshot")

    def _copy_image(self, region: str, params: Params, body: bytes, _: Any) -> None:
        """A copy's time grows with the image's data (every snapshot of it is copied)."""
        image_id = xml_values(body, "imageId")[0]
        new = self.ec2(region).describe_images(ImageIds=[image_id])["Images"][0]
        source = self.ec2(params["SourceRegion"]).describe_images(ImageIds=[params["SourceImageId"]])["Images"][0]
        old = {m["DeviceName"]: m.get("Ebs", {}).get("SnapshotId") for m in source["BlockDeviceMappings"]}
        seconds = self.latency.profile.copy_seconds(sum(self.data_bytes(s) for s in old.values() if s))
        for mapping in new["BlockDeviceMappings"]:
            new_snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            if new_snapshot and old.get(mapping["DeviceName"]):
                self._copy(old[mapping["DeviceName"]], new_snapshot, seconds, "CopyImage")
        self.latency.note(image_id, "pending", seconds, "CopyImage")

    def _delete_snapshot(self, region: str, params: Params, body: bytes, _: Any) -> None:
        self.runtime.delete_snapshot(params["SnapshotId"])
        with self._lock:
            self._snapshots.pop(params["SnapshotId"], None)

    def _deregister_image(self, region: str, params: Params, body: bytes, _: Any) -> None:
        """DeleteAssociatedSnapshots: free what moto deleted with the AMI (its DeleteSnapshotResults)."""
        for snapshot_id, code in xml_pairs(body, "snapshotId", "returnCode"):
            if code == "success":
                self._delete_snapshot(region, {"SnapshotId": snapshot_id}, body, None)

    def _delete_volume(self, region: str, params: Params, body: bytes, _: Any) -> None:
        self.runtime.delete_volume(params["VolumeId"])

    def _create_volume(self, region: str, params: Params, body: bytes, _: Any) -> None:
        self.prepare_region(region)
        volume_id = xml_values(body, "volumeId")[0]
        snapshots = xml_values(body, "snapshotId")
        self.runtime.create_volume(volume_id, snapshots[0] if snapshots else None)
        with self._lock:
            self._origin[volume_id] = snapshots[0] if snapshots else None

    # control API ------------------------------------------------------------------------------------------
    def instances(self) -> list[dict[str, Any]]:
        infos = list(self.runtime.instances())
        with self._lock:
            meta = dict(self._meta)
        rows = []
        for info in infos:
            m = meta.get(info.instance_id)
            endpoint = info.endpoint
            rows.append({"instance_id": info.instance_id, "state": info.state,
                         "host": endpoint.host if endpoint else None, "port": endpoint.port if endpoint else None,
                         "ami": m.image_id if m else None, "region": m.region if m else None,
                         "root_volume": info.root_volume, "volumes": dict(info.volumes), "pid": info.pid})
        return rows

    def endpoint(self, instance_id: str) -> tuple[str, int] | None:
        endpoint = self.runtime.endpoint(instance_id)
        return (endpoint.host, endpoint.port) if endpoint else None

    def snapshots(self) -> list[dict[str, Any]]:
        with self._lock:
            known = dict(self._snapshots)
        rows = []
        for snapshot_id, (volume_id, stored) in known.items():
            size: int | None
            try:
                size = self.runtime.snapshot_size(snapshot_id)
            except Exception:
                size = stored
            rows.append({"snapshot_id": snapshot_id, "volume_id": volume_id, "bytes": size})
        return rows
