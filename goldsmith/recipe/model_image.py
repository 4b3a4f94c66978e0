"""The image section of a recipe (name, tags, sharing, encryption, regions, deprecation) and validation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from goldsmith.recipe import formats
from goldsmith.recipe.strict import Port, Positive, StrictModel

MAX_DEPRECATE_DAYS = 3650  # EnableImageDeprecation: at most 10 years from now
MAX_PUBLIC_DEPRECATE_DAYS = 730  # ... and for a public AMI at most 2 years from its creation


def _deprecate_days(value: int) -> int:
    if value > MAX_DEPRECATE_DAYS:
        raise formats.FieldProblem(
            f"{value} days is more than AWS allows: an image can be deprecated at most 10 years "
            f"({MAX_DEPRECATE_DAYS} days) ahead"
        )
    return value


DeprecateDays = Annotated[
    int, Field(gt=0), AfterValidator(_deprecate_days), Field(json_schema_extra={"maximum": MAX_DEPRECATE_DAYS})
]


class Share(StrictModel):
    """Who may launch the image (and create volumes from its snapshots)."""

    accounts: list[str] = []
    """12-digit account ids."""
    organizations: list[str] = []
    """Organization ARNs: arn:aws:organizations::<account>:organization/o-..."""
    ous: list[str] = []
    """Organizational unit ARNs: arn:aws:organizations::<account>:ou/o-.../ou-..."""
    snapshots: bool = False
    """Also grant createVolumePermission on the snapshots to the accounts."""
    public: bool = False
    """Make the image public (launchable by every AWS account); not with encrypt: an encrypted AMI cannot be
    public."""

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return formats.account_ids(value)

    @field_validator("organizations")
    @classmethod
    def _orgs(cls, value: list[str]) -> list[str]:
        example = "arn:aws:organizations::123456789012:organization/o-abcde12345"
        return formats.arns(value, formats.ORG_RE, example, "organization")

    @field_validator("ous")
    @classmethod
    def _ous(cls, value: list[str]) -> list[str]:
        example = "arn:aws:organizations::123456789012:ou/o-abcde12345/ou-ab12-cdef3456"
        return formats.arns(value, formats.OU_RE, example, "organizational unit")


class Encryption(StrictModel):
    """Encrypt the image's snapshots with a KMS key."""

    kms_key: str
    """Key id, key ARN or alias/... in the build region."""
    regions: dict[Annotated[str, AfterValidator(formats.region)], str] = {}
    """Key to use for the copy in each other region (region -> key of that region); every region of
    image.regions but the build region needs one."""

    @field_validator("kms_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return formats.check(formats.KMS_RE, value, "KMS key", "alias/goldsmith")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: dict[str, str]) -> dict[str, str]:
        for region, key in value.items():
            if not formats.KMS_RE.fullmatch(key):
                message = f"{key!r} is not a valid KMS key (expected like 'alias/goldsmith')"
                raise formats.FieldProblem(message, region)
        return value


class Retention(StrictModel):
    """Retire old builds of this recipe after each successful bake, as `invoke prune` does: never one a channel
    names, an instance was launched from, the latest version of a launch template names, or tagged
    goldsmith:keep=true."""

    keep: Positive
    """How many of the newest builds to keep (the new one is the newest)."""
    older_than_days: Annotated[int, Field(ge=0)] = 0
    """Retire only builds older than this many days (0: any age)."""
    action: Literal["disable", "deregister"] = "disable"
    """disable (no new launches; `invoke images --enable AMI` undoes it) or deregister (the snapshots are deleted
    too)."""


class Image(StrictModel):
    """The AMI to register."""

    name: str
    """Name template; rendered, 3-128 characters of letters, digits and ()[]./-'@_ and space."""
    description: str = ""
    """Description template."""
    tags: dict[str, str] = {}
    """Tags on the image and its snapshots (values are templates)."""
    share: Share = Share()
    """Launch permissions."""
    encrypt: Encryption | None = None
    """KMS encryption of the snapshots."""
    regions: list[str] = []
    """Other regions to copy the image to (the build region, if listed, is skipped); an encrypted image needs a
    key for each under encrypt.regions."""
    deprecate_after: DeprecateDays | None = None
    """Days after the image is registered at which it is marked deprecated: at most 3650 (AWS refuses a
    deprecation more than 10 years ahead), at most 730 for a public image (2 years from its creation)."""
    deprecate_at: datetime | None = None
    """Moment the image is marked deprecated (UTC when no zone is given): in the future, at most 3650 days
    ahead (730 for a public image), as AWS allows."""
    channel: str | None = None
    """After a successful bake, promote the image to this channel (like `invoke promote`): the SSM parameter
    <channel_prefix>/<recipe>/<channel> (data type aws:ec2:image) names it in the build region and every region
    it was copied to, all or none. Needs validate.suites: only validated images are promoted."""
    retention: Retention | None = None
    """Retire old builds of this recipe after each successful bake (see Retention)."""

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        formats.regions(value)
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return value and formats.check(formats.CHANNEL_RE, value, "channel name", "candidate")

    @field_validator("deprecate_at", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    @field_validator("deprecate_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _consistent(self) -> Image:
        if self.deprecate_after is not None and self.deprecate_at is not None:
            raise formats.FieldProblem("give deprecate_after or deprecate_at, not both", "deprecate_at")
        if self.encrypt is not None:
            for region in self.encrypt.regions:
                if region not in self.regions:
                    message = f"region {region!r} has a key but is not in image.regions"
                    raise formats.FieldProblem(message, "encrypt", "regions", region)
        return self


class Validate(StrictModel):
    """Testinfra suites run against an instance launched from the new image, before it is shared."""

    suites: list[str] = []
    """Test files or directories relative to the project root (tests/images/...). They run in a pytest of
    their own with testinfra's plugin and Goldsmith's only: other pytest plugins installed beside Goldsmith
    are not loaded."""
    instance_type: str | None = None
    """Instance type for the test instance; default: build.instance_type."""
    timeout: Positive = 1800
    """Seconds the suites may take."""
    env: dict[str, str] = {}
    """Environment for the test run (values are templates)."""
    on_failure: Literal["deregister", "keep"] = "deregister"
    """What to do with an image that fails its suites."""
    on_build: bool = False
    """Also run the suites on the build instance before it is stopped."""
    ingress: list[Port] = []
    """TCP ports opened on the validation instance's security group besides SSH, from the builder's address
    only (the same /32 as SSH), so that suites can reach the image's services from outside, e.g. [8080]."""

    @field_validator("instance_type")
    @classmethod
    def _type(cls, value: str | None) -> str | None:
        return value and formats.check(formats.INSTANCE_TYPE_RE, value, "instance type", "t3.micro")

    @field_validator("ingress")
    @classmethod
    def _ingress(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise formats.FieldProblem(f"ports must be listed once each, got {value}")
        return value
