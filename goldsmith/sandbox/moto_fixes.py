"""Fixes to moto 5.2.5's EC2 model so the sandbox behaves like AWS does for an AMI baker.

moto invents a single 15 GiB /dev/sda1 mapping for every AMI (see /work/shared/MOTO_NOTES.md). An AMI
baker lives on block device mappings, so each function below restores one AWS behaviour, named in its
docstring. ``apply_all`` installs them; it is idempotent and must run before the first request.
An AMI that went through these fixes carries its real mapping in ``ami.gs_mappings`` (AWS-shaped dicts).
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    InvalidParameterDependency,
    MissingParameterError,
)
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.availability_zones_and_regions import Region, RegionsAndZonesBackend
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.utils import random_ami_id, random_snapshot_id

from goldsmith.sandbox import (
    moto_fixes_attributes,
    moto_fixes_billing,
    moto_fixes_deregister,
    moto_fixes_disabled,
    moto_fixes_ebs,
    moto_fixes_iam,
    moto_fixes_kms,
    moto_fixes_launched,
    moto_fixes_network,
    moto_fixes_speed,
    moto_fixes_ssm,
)
from goldsmith.sandbox.image import BASE_IMAGE_NAME_PREFIX, BASE_IMAGE_OWNER
from goldsmith.sandbox.moto_fixes_ebs import (
    COPIED_SNAPSHOT_VOLUME_ID,
    Mapping,
    check_ebs,
    check_size,
    default_ebs_key,
    ec2_error,
    mapping_entry,
    original_create_snapshot,
)

BASE_ROOT_DEVICE = "/dev/xvda"
BASE_ROOT_SIZE_GIB = 8
BASE_SNAPSHOT_DESCRIPTION = "Debian 12 sandbox root filesystem"
RHEL_IMAGE_NAME_PREFIX = "rhel-9-sandbox-amd64"  # billed like RHEL, same root filesystem as the base AMI
_base_image_name: str | None = None
_applied = False


def _new_ami(backend: Any, ami_id: str, mappings: list[Mapping], **kwargs: Any) -> Any:
    """Build an Ami with a real mapping, dropping the throwaway snapshot moto's constructor makes."""
    ena_support = kwargs.pop("ena_support", True)
    ami: Any = Ami(backend, ami_id, root_device_type="ebs", **kwargs)
    backend.snapshots.pop(ami.ebs_snapshot.id, None)
    ami.gs_mappings = mappings
    ami.ena_support = ena_support
    moto_fixes_attributes.set_provenance(ami)
    return ami


def _check_name_free(backend: Any, name: str | None) -> None:
    """AWS: an AMI name is unique per account and region (InvalidAMIName.Duplicate)."""
    if not name:
        raise MissingParameterError("name")
    for ami in list(backend.amis.values()):  # a copy: other requests add AMIs meanwhile
        if ami.name == name and ami.owner_id == backend.account_id:
            raise ec2_error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}")


def _block_device_mappings(self: Ami) -> list[Mapping]:
    """DescribeImages shows the AMI's real mapping (moto's invented one only for its own AMIs)."""
    mappings = getattr(self, "gs_mappings", None)
    if mappings is not None:
        return copy.deepcopy(mappings)
    return _orig_bdm(self)  # type: ignore[no-any-return]


_orig_bdm = Ami.block_device_mappings.fget  # type: ignore[attr-defined]


# (a) RegisterImage ---------------------------------------------------------------------------------------
def register_image(backend: Any, params: dict[str, Any], tags: dict[str, str]) -> Any:
    """AWS RegisterImage: the AMI is made of the given snapshots at the given devices and sizes."""
    _check_name_free(backend, params.get("Name"))
    root = params.get("RootDeviceName") or "/dev/xvda"
    mappings: list[Mapping] = []
    for item in params.get("BlockDeviceMappings") or []:
        if item.get("NoDevice") is not None or "Ebs" not in item:
            continue
        mappings.append(_registered_entry(backend, item["DeviceName"], item["Ebs"]))
    if not any(m["DeviceName"] == root and m["Ebs"].get("SnapshotId") for m in mappings):
        raise ec2_error(
            "InvalidBlockDeviceMapping",
            f"The root device name {root} has no snapshot in the block device mapping.",
        )
    ami = _new_ami(
        backend,
        random_ami_id(),
        mappings,
        name=params["Name"],
        description=params.get("Description") or "",
        architecture=params.get("Architecture") or "x86_64",
        virtualization_type=params.get("VirtualizationType") or "hvm",
        root_device_name=root,
        ena_support=params.get("EnaSupport"),
        boot_mode=params.get("BootMode"),
    )
    ami.imds_support = params.get("ImdsSupport")
    moto_fixes_billing.registered(ami, params)  # TpmSupport, UefiData; the billing code is lost
    ami.add_tags(tags)
    backend.amis[ami.id] = ami
    return ami


def _registered_entry(backend: Any, device: str, ebs: dict[str, Any]) -> Mapping:
    snapshot_id = ebs.get("SnapshotId")
    size = ebs.get("VolumeSize")
    encrypted = bool(ebs.get("Encrypted"))
    kms = None
    if snapshot_id:
        snapshot = backend.get_snapshot(snapshot_id)
        check_size(size, snapshot)
        size = size or snapshot.volume_size
        encrypted = encrypted or snapshot.encrypted
        kms = snapshot.kms_key_id
    elif not size:
        raise MissingParameterError("size or snapshotId")
    volume_type = ebs.get("VolumeType") or "gp2"
    check_ebs(device, volume_type, size, ebs.get("Iops"), ebs.get("Throughput"))
    delete = ebs.get("DeleteOnTermination")
    return mapping_entry(
        device,
        snapshot_id,
        size,
        volume_type,
        True if delete is None else bool(delete),
        encrypted,
        kms,
        ebs.get("Iops"),
        ebs.get("Throughput"),
    )


def _register_image_response(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    params = {
        key: self._get_param(key)
        for key in (
            "Name",
            "Description",
            "BlockDeviceMappings",
            "RootDeviceName",
            "Architecture",
            "VirtualizationType",
            "BootMode",
            "ImdsSupport",
            "TpmSupport",
            "UefiData",
        )
    }
    params["EnaSupport"] = self._get_bool_param("EnaSupport")
    tags = self._parse_tag_specification().get("image", {})
    image = register_image(self.ec2_backend, params, tags)
    return ActionResult({"ImageId": image.id})


# (c) CreateImage -----------------------------------------------------------------------------------------
def _create_image(
    self: Any, instance_id: str, name: str, description: str, tag_specifications: list[dict[str, Any]],
    block_device_mappings: list[Mapping] | None = None,
) -> Any:
    """AWS CreateImage: snapshot each attached volume; the AMI maps them at their real devices and sizes;
    TagSpecifications may tag the image and/or the snapshots; BlockDeviceMappings may leave a volume out
    (NoDevice), change its DeleteOnTermination (the only field of an instance's volume it can change), or add
    an EBS volume the instance does not have."""
    instance = self.get_instance(instance_id)
    requested = moto_fixes_ebs.image_requests(instance, block_device_mappings)
    _check_name_free(self, name)
    tags: dict[str, dict[str, str]] = {"image": {}, "snapshot": {}}
    for spec in tag_specifications:
        if spec["ResourceType"] not in tags:
            raise ec2_error(
                "InvalidParameterValue",
                f"'{spec['ResourceType']}' is not a valid taggable resource type for this operation.",
            )
        tags[spec["ResourceType"]].update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
    ami_id = random_ami_id()
    mappings = []
    for device, attached in instance.get_block_device_mapping:
        request = requested.pop(device, {})
        if request.get("NoDevice") is not None:
            continue
        volume = self.get_volume(attached.volume_id)
        snapshot = self.create_snapshot(
            volume.id, f"Created by CreateImage({instance_id}) for {ami_id}", from_ami=ami_id
        )
        snapshot.add_tags(tags["snapshot"])
        mappings.append(
            mapping_entry(
                device,
                snapshot.id,
                volume.size,
                volume.volume_type,
                bool(request.get("Ebs", {}).get("DeleteOnTermination", attached.delete_on_termination)),
                bool(volume.encrypted),
                volume.kms_key_id,
                volume.iops,
                volume.throughput,
            )
        )
    mappings += [moto_fixes_ebs.added_image_volume(self, device, r) for device, r in requested.items()
                 if r.get("NoDevice") is None and not r.get("VirtualName")]
    source = self.amis.get(instance.image_id)
    ami = _new_ami(
        self,
        ami_id,
        mappings,
        instance=instance,
        name=name,
        description=description,
        root_device_name=instance.root_device_name,
        ena_support=getattr(source, "ena_support", True),
        boot_mode=getattr(source, "boot_mode", None),
    )
    moto_fixes_billing.inherit(ami, source, instance)  # billing code, TpmSupport, the instance's UEFI store
    moto_fixes_attributes.set_provenance(ami, instance.image_id, self.region_name)
    ami.add_tags(tags["image"])
    self.amis[ami_id] = ami
    return ami


def _create_image_response(self: AmisResponse) -> ActionResult:
    """moto's CreateImage handler, passing BlockDeviceMappings on too (moto drops them)."""
    self.error_on_dryrun()
    image = self.ec2_backend.create_image(
        self._get_param("InstanceId"), self._get_param("Name"), self._get_param("Description", ""),
        tag_specifications=self._get_param("TagSpecifications", []),
        block_device_mappings=self._get_param("BlockDeviceMappings", []))
    return ActionResult({"ImageId": image.id})


# (d) CopyImage -------------------------------------------------------------------------------------------
def copy_image(target: Any, source_image_id: str, source_region: str, params: dict[str, Any]) -> Any:
    """AWS CopyImage: the copy's mapping has new snapshots in the target region, encrypted with the given
    key (which must exist there) when Encrypted is set; TagSpecifications tag the new AMI ("image") and
    every new snapshot ("snapshot") at creation (moto tags neither); CopyImageTags copies the source AMI's
    user-defined tags (not the aws: ones) to the new AMI."""
    source_backend = ec2_backends[target.account_id][source_region]
    source = source_backend.describe_images(ami_ids=[source_image_id])[0]
    encrypted, kms_key_id = bool(params.get("Encrypted")), params.get("KmsKeyId")
    if kms_key_id and not encrypted:
        raise InvalidParameterDependency("KmsKeyId", "Encrypted")
    key_arn = _resolve_key(target, kms_key_id) if kms_key_id else None
    name = params.get("Name") or source.name
    _check_name_free(target, name)
    ami_id = random_ami_id()
    mappings = []
    for mapping in source.block_device_mappings:
        ebs = dict(mapping["Ebs"])
        if ebs.get("SnapshotId"):
            copied = _copy_snapshot_for_ami(
                target,
                source_backend.get_snapshot(ebs["SnapshotId"]),
                source_image_id,
                ami_id,
                encrypted,
                key_arn,
            )
            copied.add_tags(params.get("SnapshotTags") or {})
            ebs.update(SnapshotId=copied.id, Encrypted=copied.encrypted)
            ebs.pop("KmsKeyId", None)
            if copied.encrypted:
                ebs["KmsKeyId"] = copied.kms_key_id
        mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": ebs})
    ami = _new_ami(
        target,
        ami_id,
        mappings,
        source_ami=source,
        name=name,
        description=params.get("Description"),
        root_device_name=source.root_device_name,
        ena_support=getattr(source, "ena_support", None),
        boot_mode=source.boot_mode,
    )
    moto_fixes_billing.inherit(ami, source)  # billing code, TpmSupport, UefiData
    moto_fixes_attributes.set_provenance(ami, source.id, source_region)
    if params.get("CopyImageTags"):
        ami.add_tags({t["key"]: t["value"] for t in source.get_tags() if not t["key"].startswith("aws:")})
    ami.add_tags(params.get("Tags") or {})
    target.amis[ami_id] = ami
    return ami


def _resolve_key(backend: Any, key_id: str) -> str:
    from moto.kms.models import kms_backends

    try:
        return str(kms_backends[backend.account_id][backend.region_name].describe_key(key_id).arn)
    except Exception as exc:
        raise ec2_error(
            "InvalidParameterValue",
            f"The KMS key {key_id} does not exist in {backend.region_name} or is not accessible.",
        ) from exc


def _copy_snapshot_for_ami(
    target: Any, source: Snapshot, source_ami: str, ami_id: str, encrypt: bool, key_arn: str | None
) -> Snapshot:
    # AWS: an encrypted source, or encryption by default in the target region, encrypts the copy; without
    # a KmsKeyId with the target region's default EBS key.
    encrypted = encrypt or source.encrypted or getattr(target, "ebs_encryption_by_default", False)
    kms = (key_arn or default_ebs_key(target)) if encrypted else None
    description = (
        f"Copied for DestinationAmi {ami_id} from SourceAmi {source_ami} for SourceSnapshot "
        f"{source.id}. Task created on {int(time.time())}."
    )
    snapshot = Snapshot(
        target,
        random_snapshot_id(),
        volume=source.volume,
        description=description,
        encrypted=encrypted,
        kms_key_id=kms,
        from_ami=ami_id,
    )
    snapshot.gs_volume_id = COPIED_SNAPSHOT_VOLUME_ID  # type: ignore[attr-defined]
    target.snapshots[snapshot.id] = snapshot
    return snapshot


def _copy_image_response(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    params = {key: self._get_param(key) for key in ("Name", "Description", "KmsKeyId")}
    params["Encrypted"] = self._get_bool_param("Encrypted", False)
    params["CopyImageTags"] = self._get_bool_param("CopyImageTags", False)
    specs = self._parse_tag_specification()
    params["Tags"], params["SnapshotTags"] = specs.get("image", {}), specs.get("snapshot", {})
    image = copy_image(self.ec2_backend, self._get_param("SourceImageId"), self._get_param("SourceRegion"), params)
    return ActionResult({"ImageId": image.id})


# (e) Enable/DisableImageDeprecation ----------------------------------------------------------------------
def _enable_image_deprecation(self: AmisResponse) -> ActionResult:
    """AWS EnableImageDeprecation: DescribeImages then shows DeprecationTime (rounded to the minute). AWS
    refuses a DeprecateAt in the past, and one more than 10 years from now, or for a public AMI more than
    2 years from its creation (InvalidParameterValue)."""
    self.error_on_dryrun()
    ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    when = self._get_param("DeprecateAt")
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if not isinstance(when, datetime):
        raise MissingParameterError("DeprecateAt")
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    check_deprecation_time(ami, when, datetime.now(UTC))
    when = (when + timedelta(seconds=30)).replace(second=0, microsecond=0)
    ami.deprecation_time = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return ActionResult({"Return": True})


def check_deprecation_time(ami: Any, when: datetime, now: datetime) -> None:
    """The limits of EnableImageDeprecation's DeprecateAt, as the EC2 API reference gives them."""
    shown = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if when < now:
        raise ec2_error("InvalidParameterValue", f"The deprecation time {shown} is in the past. "
                        "Specify a date and time in the future.")
    if ami.is_public:
        created = ami.creation_date if isinstance(ami.creation_date, datetime) else now
        created = created.astimezone(UTC) if created.tzinfo else created.replace(tzinfo=UTC)
        if when > _years_after(created, 2):
            raise ec2_error("InvalidParameterValue", f"The deprecation time {shown} is more than 2 years after "
                            f"the creation of public image {ami.id} ({created:%Y-%m-%dT%H:%M:%SZ}).")
    if when > _years_after(now, 10):
        raise ec2_error("InvalidParameterValue", f"The deprecation time {shown} is more than 10 years from now.")


def _years_after(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def _disable_image_deprecation(self: AmisResponse) -> ActionResult:
    """AWS DisableImageDeprecation: the AMI no longer shows a DeprecationTime."""
    self.error_on_dryrun()
    ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
    ami.deprecation_time = None
    return ActionResult({"Return": True})


# Base images ---------------------------------------------------------------------------------------------
def add_base_image(backend: Any, name: str) -> Any:
    """The sandbox's public Debian AMI, like Debian's: 8 GiB gp3 root at /dev/xvda from one snapshot,
    no billing code (Linux/UNIX, RunInstances)."""
    volume = backend.create_volume(size=BASE_ROOT_SIZE_GIB, zone_name=f"{backend.region_name}a", volume_type="gp3")
    snapshot = original_create_snapshot(backend, volume.id, BASE_SNAPSHOT_DESCRIPTION, BASE_IMAGE_OWNER)
    backend.volumes.pop(volume.id, None)
    mapping = mapping_entry(BASE_ROOT_DEVICE, snapshot.id, BASE_ROOT_SIZE_GIB, "gp3", True, False)
    return _public_image(backend, [mapping], name, "Debian 12 (sandbox) amd64")


def _public_image(backend: Any, mappings: list[Mapping], name: str, description: str) -> Any:
    """A public AMI of the sandbox's image owner, booting like Debian's official ones."""
    ami = _new_ami(
        backend,
        random_ami_id(),
        mappings,
        name=name,
        owner_id=BASE_IMAGE_OWNER,
        description=description,
        public=True,
        architecture="x86_64",
        virtualization_type="hvm",
        root_device_name=BASE_ROOT_DEVICE,
        ena_support=True,
        boot_mode="uefi-preferred",
        hypervisor="xen",
    )
    backend.amis[ami.id] = ami
    return ami


def billed_image_name(base_name: str) -> str:
    """rhel-9-sandbox-amd64-YYYYMMDD beside debian-12-sandbox-amd64-YYYYMMDD (same date)."""
    suffix = base_name.removeprefix(BASE_IMAGE_NAME_PREFIX).lstrip("-") or "base"
    return f"{RHEL_IMAGE_NAME_PREFIX}-{suffix}"


def add_billed_image(backend: Any, base: Any, name: str) -> Any:
    """A second public AMI of the same owner, billed like RHEL (Red Hat Enterprise Linux,
    RunInstances:0010) so the product's handling of billing codes can be tried; it shares the base AMI's
    root snapshot (same root filesystem: only its billing metadata differs)."""
    ami = _public_image(backend, copy.deepcopy(base.gs_mappings), name,
                        "Red Hat Enterprise Linux 9 (sandbox) amd64: the Debian root filesystem, billed like RHEL")
    moto_fixes_billing.set_billing(ami, moto_fixes_billing.RHEL)
    return ami


def _load_amis(self: Any) -> None:
    _orig_load_amis(self)
    if _base_image_name:
        base = add_base_image(self, _base_image_name)  # first: DescribeImages lists it first
        add_billed_image(self, base, billed_image_name(_base_image_name))


_orig_load_amis = AmiBackend._load_amis
_orig_describe_regions = RegionsAndZonesBackend.describe_regions

# Region names of the partitions other than `aws` (China, GovCloud, the isolated ones).
OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-")


def _describe_regions(self: RegionsAndZonesBackend, region_names: list[str] | None = None) -> list[Region]:
    """DescribeRegions as a commercial account sees it: only its own partition's regions. moto also lists
    GovCloud and China, which no call signed for this partition can reach, so a search "across the account"
    (invoke clean --older-than, invoke images) would fail there."""
    return [r for r in _orig_describe_regions(self, region_names) if not r.name.startswith(OTHER_PARTITIONS)]


def apply_all(base_image_name: str | None = None, vpc_cidr: str | None = None) -> None:
    """Install every fix; with a name, each region's EC2 backend is born with the base AMIs; with a CIDR, its
    default VPC is the sandbox network (moto_fixes_network)."""
    global _applied, _base_image_name
    _base_image_name = base_image_name
    if _applied:
        return
    _applied = True
    Ami.block_device_mappings = property(_block_device_mappings)  # type: ignore[method-assign,assignment]
    for attr in ("ena_support", "deprecation_time", "imds_support", "tpm_support"):
        setattr(Ami, attr, None)
    AmisResponse.register_image = _register_image_response  # type: ignore[method-assign]
    AmisResponse.copy_image = _copy_image_response  # type: ignore[method-assign]
    AmisResponse.enable_image_deprecation = _enable_image_deprecation  # type: ignore[attr-defined]
    AmisResponse.disable_image_deprecation = _disable_image_deprecation  # type: ignore[attr-defined]
    AmiBackend.create_image = _create_image  # type: ignore[method-assign]
    AmisResponse.create_image = _create_image_response  # type: ignore[method-assign]
    AmiBackend._load_amis = _load_amis  # type: ignore[method-assign]
    RegionsAndZonesBackend.describe_regions = _describe_regions  # type: ignore[method-assign]
    moto_fixes_ebs.install()
    moto_fixes_billing.install()
    moto_fixes_iam.install()
    moto_fixes_disabled.install()
    moto_fixes_deregister.install()
    moto_fixes_kms.install()
    moto_fixes_launched.install()  # after ebs and billing: it wraps their RunInstances and attributes
    moto_fixes_attributes.install()  # after launched and billing: it wraps their DescribeImageAttribute
    moto_fixes_ssm.install()
    moto_fixes_network.install(vpc_cidr)  # last: it wraps every RunInstances above
    moto_fixes_speed.install()
