"""The recipe schema: pydantic models whose field names are a contract (docs/recipe-reference.md is
generated from them).

Formats are checked here so that every consumer gets a valid recipe; checks that need files or
variable values (templates, scripts, rendered names, the source recipe) live in checks.py, and the
rules between publishing fields (public and encrypted, keys of copy regions, deprecation in the past)
in publishing.py.
"""

from __future__ import annotations

import ipaddress
import warnings
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from goldsmith.recipe import formats
from goldsmith.recipe.ebs import volume_problem
from goldsmith.recipe.model_image import Encryption, Image, Share, Validate
from goldsmith.recipe.model_steps import FileStep, ProvisionStep, RebootStep, ShellStep, StepType, TemplateStep
from goldsmith.recipe.strict import Port, Positive, StrictModel
from goldsmith.recipe.templating import BUILD_FACTS

__all__ = [
    "AmiFilter",
    "Bastion",
    "Build",
    "DataVolume",
    "Encryption",
    "FileStep",
    "Filesystem",
    "Image",
    "ProvisionStep",
    "RebootStep",
    "Recipe",
    "RootVolume",
    "Share",
    "ShellStep",
    "Source",
    "StepType",
    "StrictModel",
    "TemplateStep",
    "Timeouts",
    "Validate",
    "Variable",
    "Volumes",
]

Size = Annotated[int, AfterValidator(formats.size), Field(json_schema_extra={"minimum": 1, "maximum": 16384})]
def _variable_name(name: str) -> str:
    if not formats.VARIABLE_NAME_RE.fullmatch(name):
        raise formats.FieldProblem(f"variable name {name!r} must be letters, digits and _ (not starting with a digit)")
    if name in BUILD_FACTS:
        raise formats.FieldProblem(f"variable {name!r} would hide the build fact of that name")
    return name


VariableName = Annotated[str, AfterValidator(_variable_name)]
VolumeType = Literal["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]
Filesystem = Literal["ext4", "xfs"]


class Variable(StrictModel):
    """A recipe variable. In YAML either a scalar (its default) or this mapping."""

    default: str | None = None
    """Value used when neither GOLDSMITH_VAR_<NAME> nor --var gives one; null means required."""
    secret: bool = False
    """The value is never logged, shown or written into the image's metadata."""
    description: str = ""
    """What the variable is for."""

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, bool):
            return {"default": "true" if data else "false"}
        if isinstance(data, str | int | float):
            return {"default": str(data)}
        return data


class AmiFilter(StrictModel):
    """Find the newest AMI (by creation date) whose name matches."""

    name: str
    """Name pattern with * and ? wildcards."""
    owners: list[str] = ["self"]
    """Account ids or aliases (self, amazon, aws-marketplace) that may own the AMI."""
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    """CPU architecture of the AMI."""

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        return formats.owners(value)


class Source(StrictModel):
    """The AMI to start from: exactly one of id, filter or recipe."""

    id: str | None = None
    """An AMI id such as ami-0123456789abcdef0."""
    filter: AmiFilter | None = None
    """The newest AMI matching a name pattern and owners."""
    recipe: str | None = None
    """Name of another recipe, recipes/<name>.yaml (or .yml) under the project root: the newest image it produced
    in this account that did not fail validation."""
    channel: str | None = None
    """With recipe: start from the AMI that recipe's channel names in the build region (the SSM parameter
    <channel_prefix>/<recipe>/<channel>, see `invoke promote`) instead of its newest image, so a layered image
    builds on what was promoted."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return value and formats.check(formats.AMI_ID_RE, value, "AMI id", "ami-0123456789abcdef0")

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, value: str | None) -> str | None:
        return value and formats.check(formats.RECIPE_NAME_RE, value, "recipe name", "base")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return value and formats.check(formats.CHANNEL_RE, value, "channel name", "stable")

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        given = [n for n in ("id", "filter", "recipe") if getattr(self, n) is not None]
        if len(given) != 1:
            detail = "none given" if not given else "got " + " and ".join(given)
            raise formats.FieldProblem(f"give exactly one of id, filter or recipe ({detail})")
        if self.channel is not None and self.recipe is None:
            raise formats.FieldProblem("a channel belongs to a recipe: give source.recipe with it", "channel")
        return self


class Bastion(StrictModel):
    """A jump host to reach the build instance through (like ssh -J)."""

    host: str
    """Address of the jump host."""
    port: Port = 22
    """SSH port of the jump host."""
    username: str
    """User to log in as on the jump host."""
    private_key_file: str | None = None
    """Key for the jump host (a path in the project); default: the temporary key pair of the instance being
    reached. The build, validate.on_build and the image's validation instance all go through the bastion."""
    host_key: str | None = None
    """The jump host's public host key ('ssh-ed25519 AAAA...' as in known_hosts) or its SHA256:...
    fingerprint; any other key is refused. Unset: the first key seen is trusted (a warning says so)."""

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not formats.is_host_key_pin(value):
            raise formats.FieldProblem(
                f"{value[:40]!r} is neither a host key 'type base64' (as in known_hosts, e.g. 'ssh-ed25519 "
                "AAAAC3Nza...') nor a SHA256:... fingerprint (as ssh-keygen -lf prints it)"
            )
        return value.strip()


# `copy` is a contract name; it shadows BaseModel.copy (deprecated anyway), so silence that warning.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)

    class Timeouts(StrictModel):
        """How long (seconds) each phase of a bake may take before it is abandoned and cleaned up."""

        ssh: Positive = 300
        """Waiting for SSH on the build instance."""
        host_key: Positive = 180
        """Waiting for cloud-init's SSH host keys on the instance's console output (EC2 posts it some time
        after boot, often a minute or more); see build.host_key for what happens when they do not appear."""
        provision: Positive = 3600
        """All provision steps together: each step's own timeout is cut to the time left, and no step starts
        after it."""
        stop: Positive = 600
        """Stopping the build instance."""
        snapshot: Positive = 1800
        """Snapshots becoming completed."""
        image: Positive = 1800
        """The AMI becoming available."""
        copy: Positive = 3600  # type: ignore[assignment]
        """Copies to other regions becoming available."""


class Build(StrictModel):
    """The temporary instance the image is baked on."""

    instance_type: str = "t3.micro"
    """EC2 instance type of the build instance."""
    subnet_id: str | None = None
    """Subnet to launch in (subnet-...); default: a default subnet of the default VPC."""
    vpc_id: str | None = None
    """VPC of the security group (vpc-...); needs subnet_id, a subnet of this VPC; default: the subnet's VPC."""
    ssh_username: str = "admin"
    """User the source AMI lets in with the build key."""
    ssh_port: Port = 22
    """SSH port on the build instance."""
    host_key: Literal["first-use", "required"] = "first-use"
    """How the instance's SSH host key is trusted. Both read the key cloud-init prints on the console
    (GetConsoleOutput, an authenticated channel) for up to timeouts.host_key and pin it before the first
    connection. `first-use`: if no key appears, trust the key the instance shows first (with a warning).
    `required`: if no key appears, fail the bake instead (for images whose trust matters; an image without
    cloud-init cannot be baked this way)."""
    interface: Literal["public_ip", "private_ip", "public_dns", "private_dns"] = "public_ip"
    """Which address of the instance to connect to."""
    ssh_cidr: str | None = None
    """The address range SSH is opened to, instead of the detected one (this machine's public /32, or the
    VPC's CIDR blocks for private interfaces and bastions): e.g. your NAT gateway's /32 when the address
    checkip.amazonaws.com sees is not the one connecting. Never 0.0.0.0/0 or ::/0."""
    associate_public_ip: bool | None = None
    """Give the instance a public address; default: the subnet's setting."""
    bastion: Bastion | None = None
    """Reach the instance through this jump host."""
    iam_instance_profile: str | None = None
    """Instance profile name for the build instance."""
    timeouts: Timeouts = Timeouts()
    """Per-phase time limits."""

    @field_validator("instance_type")
    @classmethod
    def _type(cls, value: str) -> str:
        return formats.check(formats.INSTANCE_TYPE_RE, value, "instance type", "t3.micro")

    @field_validator("ssh_cidr")
    @classmethod
    def _ssh_cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise formats.FieldProblem(f"{value!r} is not an address range (expected something like "
                                       "'203.0.113.7/32')") from None
        if network.prefixlen == 0:
            raise formats.FieldProblem(f"{value} would open SSH to the whole internet: give your own address "
                                       "range (e.g. '203.0.113.7/32')")
        return str(network)

    @field_validator("subnet_id")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        return value and formats.check(formats.SUBNET_RE, value, "subnet id", "subnet-0123456789abcdef0")

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, value: str | None) -> str | None:
        return value and formats.check(formats.VPC_RE, value, "VPC id", "vpc-0123456789abcdef0")

    @model_validator(mode="after")
    def _vpc_needs_subnet(self) -> Build:
        # The security group is made in vpc_id but, without a subnet, the instance would launch in the
        # default VPC, and RunInstances would refuse the group after the key pair and group exist.
        if self.vpc_id is not None and self.subnet_id is None:
            raise formats.FieldProblem(
                f"vpc_id {self.vpc_id} needs subnet_id too: give a subnet of that VPC to launch in "
                "(or drop vpc_id to use the subnet's VPC)",
                "vpc_id",
            )
        return self


class RootVolume(StrictModel):
    """The root volume of the image; at least as large as the source image's root snapshot (the bake's
    preflight checks that before launching)."""

    size: Size = 8
    """Size in GiB, by type: gp2/gp3 1..16384, io1/io2 4..16384, standard 1..1024."""
    type: VolumeType = "gp3"
    """EBS volume type; st1 and sc1 cannot be a root volume."""
    iops: Positive | None = None
    """Provisioned IOPS: required for io1 (100..64000) and io2 (100..256000), optional for gp3 (3000..16000),
    not for other types."""
    throughput: Positive | None = None
    """Throughput in MiB/s, gp3 only (125..1000)."""

    @model_validator(mode="after")
    def _ebs(self) -> RootVolume:
        problem = volume_problem(self.type, self.size, self.iops, self.throughput, root=True)
        if problem is not None:
            raise problem
        return self


class DataVolume(StrictModel):
    """An extra EBS volume baked into the image; Goldsmith formats and mounts it when `mount` is set."""

    device: str
    """Device name /dev/sd[f-p] or /dev/xvd[f-p]."""
    size: Size
    """Size in GiB, by type: gp2/gp3 1..16384, io1/io2 4..16384, st1/sc1 125..16384, standard 1..1024; at least
    the size of the source image's snapshot at this device, if it has one."""
    type: VolumeType = "gp3"
    """EBS volume type."""
    iops: Positive | None = None
    """Provisioned IOPS: required for io1 (100..64000) and io2 (100..256000), optional for gp3 (3000..16000),
    not for other types."""
    throughput: Positive | None = None
    """Throughput in MiB/s, gp3 only (125..1000)."""
    mount: str | None = None
    """Absolute mount point; the volume is formatted, mounted and added to /etc/fstab."""
    filesystem: Filesystem = "ext4"
    """Filesystem created when `mount` is set."""
    delete_on_termination: bool = True
    """Delete the volume when an instance launched from the image terminates."""

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return formats.check(formats.DEVICE_RE, value, "data volume device", "/dev/sdf")

    @field_validator("mount")
    @classmethod
    def _mount(cls, value: str | None) -> str | None:
        return value and formats.absolute_path(value, "mount")

    @model_validator(mode="after")
    def _ebs(self) -> DataVolume:
        problem = volume_problem(self.type, self.size, self.iops, self.throughput)
        if problem is not None:
            raise problem
        return self


class Volumes(StrictModel):
    """Root and data volumes of the image."""

    root: RootVolume = RootVolume()
    """The root volume."""
    data: list[DataVolume] = []
    """Extra volumes; devices and mount points must be unique."""

    @model_validator(mode="after")
    def _unique(self) -> Volumes:
        devices: dict[str, str] = {}
        mounts: set[str] = set()
        for i, volume in enumerate(self.data):
            slot = formats.device_slot(volume.device)
            if slot in devices:
                raise formats.FieldProblem(
                    f"device {volume.device} is already used by {devices[slot]}", "data", i, "device"
                )
            devices[slot] = volume.device
            mount = volume.mount.rstrip("/") if volume.mount else None
            if mount in mounts:
                raise formats.FieldProblem(f"mount point {volume.mount} is used twice", "data", i, "mount")
            if mount:
                mounts.add(mount)
        return self


class Recipe(StrictModel):
    """A recipe: where to start, how to build, what to provision, and what image to make."""

    name: str
    """Recipe name: lower-case letters, digits and dashes (the file is usually recipes/<name>.yaml)."""
    version: str = "0.1.0"
    """Version of the recipe, available to templates as recipe_version."""
    description: str = ""
    """What the image is for."""
    variables: dict[VariableName, Variable] = {}
    """Variables for templates: name -> default value, or a mapping {default, secret, description}."""
    source: Source
    """The AMI to start from."""
    build: Build = Build()
    """The build instance."""
    volumes: Volumes = Volumes()
    """Root and data volumes."""
    provision: list[ProvisionStep] = []
    """Steps run in order on the build instance."""
    image: Image
    """The image to register."""
    validate_: Validate = Field(default_factory=Validate, alias="validate")
    """Tests run against the new image."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return formats.check(formats.RECIPE_NAME_RE, value, "recipe name", "web-server")

    @model_validator(mode="after")
    def _promoted_images_are_validated(self) -> Recipe:
        if self.image.channel is not None and not self.validate_.suites:
            raise formats.FieldProblem("a channel gets only images that passed validation: give validate.suites "
                                       "too", "image", "channel")
        return self
