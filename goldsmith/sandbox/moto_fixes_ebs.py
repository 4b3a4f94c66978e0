"""Fixes to moto 5.2.5's EBS and launch model: volumes from AMI mappings, snapshot rules, permissions.

Split from moto_fixes (which installs these too, via ``install``). Each function names the AWS behaviour
it restores in its docstring. Mappings are AWS-shaped dicts: {"DeviceName": ..., "Ebs": {...}}.
"""

from __future__ import annotations

import copy
from contextvars import ContextVar
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError, InvalidSnapshotInUse, MissingParameterError
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot, VolumeAttachment
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.responses.instances import InstanceResponse

Mapping = dict[str, Any]


def ec2_error(code: str, message: str) -> EC2ClientError:
    return EC2ClientError(code, message)


def mapping_entry(
    device: str,
    snapshot_id: str | None,
    size: int,
    volume_type: str,
    delete: bool,
    encrypted: bool,
    kms_key_id: str | None = None,
    iops: int | None = None,
    throughput: int | None = None,
) -> Mapping:
    """An AWS-shaped mapping entry; Iops and Throughput only where the volume has them (gp3, io1, io2)."""
    ebs: dict[str, Any] = {
        "DeleteOnTermination": delete,
        "VolumeSize": int(size),
        "VolumeType": volume_type,
        "Encrypted": encrypted,
    }
    if snapshot_id:
        ebs["SnapshotId"] = snapshot_id
    if encrypted and kms_key_id:
        ebs["KmsKeyId"] = kms_key_id
    if iops:
        ebs["Iops"] = int(iops)
    if throughput:
        ebs["Throughput"] = int(throughput)
    return {"DeviceName": device, "Ebs": ebs}


def check_size(size: int | None, snapshot: Snapshot) -> None:
    if size and int(size) < snapshot.volume_size:
        raise ec2_error(
            "InvalidBlockDeviceMapping",
            f"Volume of size {size}GB is smaller than snapshot '{snapshot.id}', "
            f"expect size >= {snapshot.volume_size}GB",
        )


# EbsBlockDevice rules (EC2 API reference), for RunInstances and RegisterImage ---------------------------
# What AWS answers; the recipe model has its own copy of these rules (goldsmith/recipe/ebs.py) so that a
# test through the sandbox does not only check the product against itself.
_SIZE_GIB = {"gp2": (1, 16384), "gp3": (1, 16384), "io1": (4, 16384), "io2": (4, 16384),
             "st1": (125, 16384), "sc1": (125, 16384), "standard": (1, 1024)}
_IOPS = {"gp3": (3000, 16000), "io1": (100, 64000), "io2": (100, 256000)}
_THROUGHPUT = {"gp3": (125, 1000)}


def check_ebs(device: str, volume_type: str, size: Any, iops: Any, throughput: Any) -> None:
    """AWS refuses io1/io2 without Iops and Iops on other types than gp3/io1/io2
    (InvalidParameterCombination), Throughput on anything but gp3 (InvalidBlockDeviceMapping), and sizes,
    IOPS or throughput outside the type's range (InvalidParameterValue)."""
    if iops is None and volume_type in ("io1", "io2"):
        raise ec2_error("InvalidParameterCombination",
                        f"The parameter iops must be specified for {volume_type} volumes.")
    if iops is not None and volume_type not in _IOPS:
        raise ec2_error("InvalidParameterCombination",
                        f"The parameter iops is not supported for {volume_type} volumes.")
    if throughput is not None and volume_type not in _THROUGHPUT:
        raise ec2_error("InvalidBlockDeviceMapping",
                        f"throughput cannot be specified with the volumeType of device '{device}'")
    for value, ranges, what in ((size, _SIZE_GIB, "size (GiB)"), (iops, _IOPS, "iops"),
                                (throughput, _THROUGHPUT, "throughput (MiB/s)")):
        if value is None or volume_type not in ranges:
            continue
        low, high = ranges[volume_type]
        if not low <= int(value) <= high:
            raise ec2_error("InvalidParameterValue", f"Volume {what} {int(value)} for device '{device}' is outside "
                            f"the range of {volume_type} volumes: {low} to {high}.")


# (b) RunInstances ----------------------------------------------------------------------------------------
def _parse_launch_mappings(self: InstanceResponse) -> list[Mapping]:
    """Keep the request's mapping as sent: an absent DeleteOnTermination/Encrypted means 'inherit'."""
    return [copy.deepcopy(dict(m)) for m in self._get_param("BlockDeviceMappings", [])]


def merge_launch_mappings(backend: Any, ami_mappings: list[Mapping] | None, requested: list[Mapping]) -> list[Mapping]:
    """AWS RunInstances: one volume per AMI mapping entry, from its snapshot, overridable per device;
    extra request entries add volumes; NoDevice drops one."""
    wanted = {m["DeviceName"]: m for m in requested}
    merged: list[Mapping] = []
    for base in ami_mappings or []:
        req = wanted.pop(base["DeviceName"], None)
        if req is not None and req.get("NoDevice") is not None:
            continue
        merged.append(_launch_entry(backend, base["DeviceName"], base["Ebs"], (req or {}).get("Ebs") or {}))
    for device, req in wanted.items():
        if req.get("NoDevice") is not None:
            continue
        ebs = req.get("Ebs") or {}
        if not ebs.get("VolumeSize") and not ebs.get("SnapshotId"):
            raise MissingParameterError("size or snapshotId")
        merged.append(_launch_entry(backend, device, {}, ebs))
    return [{**m, "NoDevice": None, "VirtualName": None} for m in merged]


def _launch_entry(backend: Any, device: str, base: dict[str, Any], over: dict[str, Any]) -> Mapping:
    snapshot_id = over.get("SnapshotId") or base.get("SnapshotId")
    snapshot = backend.get_snapshot(snapshot_id) if snapshot_id else None
    size = over.get("VolumeSize") or base.get("VolumeSize") or (snapshot.volume_size if snapshot else None)
    if snapshot is not None:
        check_size(size, snapshot)
    volume_type = over.get("VolumeType") or base.get("VolumeType") or "gp2"
    same_type = volume_type == (base.get("VolumeType") or "gp2")  # a new type drops the AMI's IOPS/throughput
    iops = over.get("Iops") or (base.get("Iops") if same_type else None)
    throughput = over.get("Throughput") or (base.get("Throughput") if same_type else None)
    check_ebs(device, volume_type, size, iops, throughput)
    encrypted = over.get("Encrypted")
    encrypted = bool(base.get("Encrypted")) if encrypted is None else bool(encrypted)
    kms = over.get("KmsKeyId") or base.get("KmsKeyId")
    if snapshot is not None and snapshot.encrypted:
        encrypted, kms = True, kms or snapshot.kms_key_id
    delete = over.get("DeleteOnTermination")
    delete = base.get("DeleteOnTermination", True) if delete is None else bool(delete)
    entry = mapping_entry(
        device,
        snapshot_id,
        int(size or 0),
        volume_type,
        bool(delete),
        encrypted,
        kms,
        iops,
        throughput,
    )
    entry["Ebs"].setdefault("KmsKeyId", None)
    entry["Ebs"].setdefault("SnapshotId", None)
    return entry


def image_requests(instance: Any, requested: list[Mapping] | None) -> dict[str, Mapping]:
    """CreateImage's BlockDeviceMappings by device. AWS cannot leave the root volume out of an AMI."""
    wanted = {m["DeviceName"]: dict(m) for m in requested or []}
    if wanted.get(instance.root_device_name, {}).get("NoDevice") is not None:
        raise ec2_error("InvalidBlockDeviceMapping",
                        f"The root device {instance.root_device_name} cannot be excluded from the image.")
    return wanted


def added_image_volume(backend: Any, device: str, request: Mapping) -> Mapping:
    """A CreateImage mapping for a device the instance does not have: an EBS volume from a snapshot or empty,
    checked like a RunInstances one (instance store entries, VirtualName, are not modelled)."""
    ebs = request.get("Ebs") or {}
    if not ebs.get("VolumeSize") and not ebs.get("SnapshotId"):
        raise MissingParameterError("size or snapshotId")
    entry = _launch_entry(backend, device, {}, ebs)
    entry["Ebs"] = {k: v for k, v in entry["Ebs"].items() if v is not None}
    return entry


def _run_instances(
    self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str], **kwargs: Any
) -> Any:
    ami = self.amis.get(image_id)
    requested = kwargs.pop("block_device_mappings", None) or []
    ami_mappings = getattr(ami, "gs_mappings", None)
    if ami_mappings is not None or requested:
        merged = merge_launch_mappings(self, ami_mappings, requested)
        kwargs["block_device_mappings"] = merged
        token = _launch_performance.set({m["DeviceName"]: (m["Ebs"].get("Iops"), m["Ebs"].get("Throughput"))
                                         for m in merged})
        try:
            return _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
        finally:
            _launch_performance.reset(token)
    return _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)


# Each launch mapping's (Iops, Throughput) by device, for _add_block_device (moto's call passes neither).
_launch_performance: ContextVar[dict[str, tuple[int | None, int | None]] | None] = ContextVar(
    "_launch_performance", default=None)


def _add_block_device(
    self: Instance,
    size: int,
    device_path: str,
    snapshot_id: str | None,
    encrypted: bool,
    delete_on_termination: bool,
    kms_key_id: str | None,
    volume_type: str | None,
) -> None:
    """AWS RunInstances honours the mapping's Iops and Throughput (moto drops both, so io1/io2 launches
    failed and a gp3 volume's throughput was lost, from the volume and from the AMI CreateImage made of it)."""
    iops, throughput = (_launch_performance.get() or {}).get(device_path, (None, None))
    volume = self.ec2_backend.create_volume(
        size=size,
        zone_name=self._placement.zone,
        snapshot_id=snapshot_id,
        encrypted=encrypted,
        kms_key_id=kms_key_id,
        volume_type=volume_type,
        iops=iops,
        throughput=throughput,
    )
    self.ec2_backend.attach_volume(volume.id, self.id, device_path, delete_on_termination)


_orig_run_instances = InstanceBackend.run_instances


GP3_BASELINE_THROUGHPUT = 125  # MiB/s: a gp3 volume's throughput when none is asked for (EBS volume types)


def _create_volume(self: Any, size: int, zone_name: str, snapshot_id: str | None = None, encrypted: bool = False,
                   kms_key_id: str | None = None, **kwargs: Any) -> Any:
    """AWS: with EBS encryption by default on in the region, every new volume is encrypted, with the
    account's default EBS key unless the request names one (moto ignores the setting). A gp3 volume always
    has a throughput, 125 MiB/s unless asked otherwise, as it has 3000 IOPS (moto sets only the IOPS)."""
    if getattr(self, "ebs_encryption_by_default", False) and not encrypted:  # unset while moto initialises
        encrypted = True
    if kwargs.get("volume_type") == "gp3" and not kwargs.get("throughput"):
        kwargs["throughput"] = GP3_BASELINE_THROUGHPUT
    return _orig_create_volume(self, size, zone_name, snapshot_id, encrypted, kms_key_id, **kwargs)


_orig_create_volume = EBSBackend.create_volume


def default_ebs_key(backend: Any) -> str:
    """The region's default EBS key (ModifyEbsDefaultKmsKeyId's, else the AWS managed aws/ebs)."""
    return str(backend.default_kms_key_id or backend._create_default_encryption_key())


def _create_default_encryption_key(self: Any) -> str:
    """AWS: aws/ebs is an AWS managed key (KeyManager AWS; it cannot be shared with other accounts);
    moto makes it a customer managed one."""
    from moto.kms.models import kms_backends

    arn = _orig_create_default_encryption_key(self)
    kms_backends[self.account_id][self.region_name].describe_key(arn).key_manager = "AWS"
    return str(arn)


_orig_create_default_encryption_key = EBSBackend._create_default_encryption_key


def _get_ebs_default_kms_key_id(self: ElasticBlockStore) -> ActionResult:
    """AWS GetEbsDefaultKmsKeyId (moto lacks it): the key of new encrypted volumes without a KmsKeyId."""
    return ActionResult({"KmsKeyId": default_ebs_key(self.ec2_backend)})


def _attachment_delete_on_termination(self: VolumeAttachment) -> bool:
    """AWS DescribeVolumes shows each attachment's DeleteOnTermination."""
    attached = self.instance.block_device_mapping.get(self.device)
    return bool(attached.delete_on_termination) if attached is not None else False


def _create_snapshot(
    self: Any, volume_id: str, description: str, owner_id: str | None = None, from_ami: str | None = None
) -> Snapshot:
    """AWS: a snapshot of an encrypted volume is encrypted with the volume's KMS key."""
    snapshot = original_create_snapshot(self, volume_id, description, owner_id, from_ami)
    if snapshot.encrypted:
        snapshot.kms_key_id = snapshot.volume.kms_key_id
    return snapshot


original_create_snapshot = EBSBackend.create_snapshot


def _delete_snapshot(self: Any, snapshot_id: str) -> Snapshot:
    """AWS: a snapshot that backs a registered AMI cannot be deleted (InvalidSnapshot.InUse)."""
    for ami in list(self.amis.values()):  # a copy: moto serves requests in threads that add AMIs
        for mapping in getattr(ami, "gs_mappings", None) or []:
            if mapping["Ebs"].get("SnapshotId") == snapshot_id:
                raise InvalidSnapshotInUse(snapshot_id, ami.id)
    return _orig_delete_snapshot(self, snapshot_id)


_orig_delete_snapshot = EBSBackend.delete_snapshot


# AWS: "Snapshots that are created by CopySnapshot have an arbitrary volume ID that should not be used for
# any purpose" (DescribeSnapshots shows vol-ffffffff); so do the snapshots CopyImage makes.
COPIED_SNAPSHOT_VOLUME_ID = "vol-ffffffff"


def _snapshot_volume_id(self: Snapshot) -> str:
    return str(getattr(self, "gs_volume_id", None) or self.volume.id)


def _copy_snapshot(self: Any, *args: Any, **kwargs: Any) -> Snapshot:
    """AWS CopySnapshot: the copy's VolumeId is vol-ffffffff, not its source's volume (moto)."""
    snapshot = _orig_copy_snapshot(self, *args, **kwargs)
    snapshot.gs_volume_id = COPIED_SNAPSHOT_VOLUME_ID  # type: ignore[attr-defined]
    return snapshot


_orig_copy_snapshot = EBSBackend.copy_snapshot


# (f) ModifySnapshotAttribute structured form -------------------------------------------------------------
def _modify_snapshot_attribute(self: ElasticBlockStore) -> Any:
    """AWS ModifySnapshotAttribute accepts CreateVolumePermission={Add: [...], Remove: [...]}."""
    permission = self._get_param("CreateVolumePermission") or {}
    if not permission:
        return _orig_modify_snapshot_attribute(self)
    self.error_on_dryrun()
    snapshot_id = self._get_param("SnapshotId")
    for key, change in (
        ("Add", self.ec2_backend.add_create_volume_permission),
        ("Remove", self.ec2_backend.remove_create_volume_permission),
    ):
        items = permission.get(key) or []
        user_ids = [i["UserId"] for i in items if i.get("UserId")]
        groups = [i["Group"] for i in items if i.get("Group")]
        if user_ids or groups:
            change(snapshot_id, user_ids=user_ids, groups=groups)
    return EmptyResult()


_orig_modify_snapshot_attribute = ElasticBlockStore.modify_snapshot_attribute


def install() -> None:
    """Patch moto's launch and EBS code (called once by moto_fixes.apply_all)."""
    InstanceResponse._parse_block_device_mapping = _parse_launch_mappings  # type: ignore[method-assign]
    InstanceBackend.run_instances = _run_instances  # type: ignore[method-assign]
    Instance.add_block_device = _add_block_device  # type: ignore[method-assign]
    VolumeAttachment.delete_on_termination = property(_attachment_delete_on_termination)  # type: ignore[attr-defined]
    EBSBackend.create_snapshot = _create_snapshot  # type: ignore[method-assign]
    EBSBackend.create_volume = _create_volume  # type: ignore[method-assign,assignment]
    EBSBackend._create_default_encryption_key = _create_default_encryption_key  # type: ignore[method-assign]
    ElasticBlockStore.get_ebs_default_kms_key_id = _get_ebs_default_kms_key_id  # type: ignore[attr-defined]
    EBSBackend.delete_snapshot = _delete_snapshot  # type: ignore[method-assign]
    ElasticBlockStore.modify_snapshot_attribute = _modify_snapshot_attribute  # type: ignore[method-assign]
    Snapshot.volume_id = property(_snapshot_volume_id)  # type: ignore[method-assign,assignment]
    EBSBackend.copy_snapshot = _copy_snapshot  # type: ignore[method-assign]
