"""Validation of an image on a throwaway instance: the core shared by the bake's step and `invoke validate`.

The instance is launched FROM the image with its own temporary key pair and security group (SSH from the
builder's address only, as for the build), everything tagged and journaled like the build's resources,
and destroyed afterwards. Its host key is pinned at first contact and the suites must see the same key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldsmith.aws import ec2 as ec2ops
from goldsmith.aws.calls import aws_call
from goldsmith.aws.tags import VALIDATION_TAG
from goldsmith.bake.access import bastion_key, bastion_target, console_pin
from goldsmith.bake.launching import instance_params
from goldsmith.bake.signals import create_then_record
from goldsmith.errors import ValidationFailed
from goldsmith.ssh.endpoint import SshTarget
from goldsmith.ssh.keys import PrivateKey
from goldsmith.ssh.session import SshSession
from goldsmith.validate import Connection, Jump, SuiteResult, run_suites

if TYPE_CHECKING:
    from goldsmith.aws.ec2 import Waits
    from goldsmith.aws.session import Aws
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.journal import Journal
    from goldsmith.bake.state import BuildState
    from goldsmith.bake.target import Target
    from goldsmith.recipe.loader import LoadedRecipe
    from goldsmith.recipe.model import Build
    from goldsmith.report.events import Events

BUILD_PUBLIC_KEY_ENV = "GOLDSMITH_BUILD_PUBLIC_KEY"
ROLE_ENV = "GOLDSMITH_VALIDATION_ROLE"  # "image" (instance from the AMI) or "build" (the build instance)


@dataclass
class Place:
    """Where a validation instance runs, how it is reached, and where its resources are recorded."""

    aws: Aws
    target: Target
    region: str
    build: Build
    waits: Waits
    journal: Journal
    events: Events
    tags: dict[str, str]
    build_id: str
    bastion_key: PrivateKey | None = field(default=None, repr=False)  # build.bastion.private_key_file

    @classmethod
    def of_bake(cls, state: BuildState, ctx: BakeContext) -> Place:
        return cls(aws=ctx.aws, target=ctx.target, region=state.region, build=ctx.loaded.recipe.build,
                   waits=ctx.waits, journal=ctx.journal, events=ctx.events, tags=dict(state.tags),
                   build_id=state.build_id, bastion_key=bastion_key(ctx))


@dataclass(frozen=True)
class SuitePlan:
    """What to run: suite files, their environment and variables, limits, and where the report goes."""

    suites: tuple[Path, ...]
    env: dict[str, str]
    variables: dict[str, str]
    secrets: frozenset[str]
    timeout: float
    junit_path: Path
    source: str = "validate"  # label of the suites' output lines


def plan_for(loaded: LoadedRecipe, *, facts: dict[str, str], extra_suites: Sequence[str], junit_path: Path,
             source: str = "validate") -> SuitePlan:
    """The recipe's suites (plus any given on the command line), env rendered with the build's facts."""
    validate = loaded.recipe.validate_
    suites = tuple(loaded.resolve(s) for s in validate.suites) + tuple(Path(s).resolve() for s in extra_suites)
    env = {name: loaded.render(value, **facts) for name, value in validate.env.items()}
    env.update({f"GOLDSMITH_{name.upper()}": facts[name] for name in ("build_id", "recipe_name", "region")
                if facts.get(name)})
    return SuitePlan(suites=suites, env=env, variables=dict(loaded.variables), secrets=loaded.secrets,
                     timeout=float(validate.timeout), junit_path=junit_path, source=source)


def vpc_for(ec2: Any, build: Build) -> str:
    """The VPC the recipe builds in: the subnet's, the given one, or the default VPC."""
    if build.subnet_id:
        return ec2ops.subnet_vpc(ec2, build.subnet_id)
    return build.vpc_id or ec2ops.default_vpc(ec2)


def jump_of(bastion: SshTarget | None, seen_host_key: str | None) -> Jump | None:
    """The suites' view of a bastion, pinned by the recipe's key or else by the key just seen."""
    if bastion is None:
        return None
    return Jump(host=bastion.host, port=bastion.port, user=bastion.username, key=bastion.key,
                host_key=bastion.known_host_key or seen_host_key)


def deletable_mappings(image: dict[str, Any]) -> list[dict[str, Any]]:
    """The image's EBS mappings with DeleteOnTermination forced on: no volume outlives the test instance."""
    mappings = []
    for mapping in image.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs")
        if not ebs:
            continue
        kept = {k: ebs[k] for k in ("SnapshotId", "VolumeSize", "VolumeType", "Iops", "Throughput") if k in ebs}
        mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": {**kept, "DeleteOnTermination": True}})
    return mappings


@dataclass
class ValidationInstance:
    """A throwaway instance from an image; `destroy` removes only what was recorded as created."""

    place: Place
    role: str = "validate"
    key_name: str | None = None
    private_key: PrivateKey | None = field(default=None, repr=False)
    group_id: str | None = None
    instance_id: str | None = None
    instance: dict[str, Any] = field(default_factory=dict)
    endpoint: tuple[str, int] | None = None

    @property
    def resource_name(self) -> str:
        return f"goldsmith-{self.place.build_id}-{self.role}"

    def launch(self, image: dict[str, Any], *, instance_type: str, vpc_id: str) -> None:
        """Key pair, security group (builder /32 only), then the instance, running."""
        p = self.place
        ec2 = p.aws.ec2(p.region)
        entry = p.journal.intent("key-pair", p.region, self.resource_name)
        with create_then_record():
            key_id, material = ec2ops.create_key_pair(ec2, self.resource_name, p.tags)
            self.key_name = self.resource_name
            p.journal.created(entry, key_id)
        self.private_key = PrivateKey.from_openssh(material)
        del material
        cidr = p.target.builder_cidr(p.aws, vpc_id, p.build)
        entry = p.journal.intent("security-group", p.region, self.resource_name)
        with create_then_record():
            self.group_id = ec2ops.create_security_group(ec2, name=self.resource_name, vpc_id=vpc_id, tags=p.tags)
            p.journal.created(entry, self.group_id)
        ec2ops.allow_ssh_from(ec2, self.group_id, cidr=cidr, port=p.build.ssh_port, tags=p.tags)
        params = self.launch_params(image, instance_type)
        entry = p.journal.intent("instance", p.region, params["ClientToken"])
        with create_then_record():
            self.instance_id = ec2ops.run_instance(ec2, params)["InstanceId"]
            p.journal.created(entry, self.instance_id)
        p.events.info(f"launched {self.role} instance {self.instance_id} ({instance_type}) from {image['ImageId']}; "
                      f"SSH from {cidr} only")
        self.instance = ec2ops.wait_running(ec2, self.instance_id, p.waits)

    def launch_params(self, image: dict[str, Any], instance_type: str) -> dict[str, Any]:
        p = self.place
        params = instance_params(
            p.build, image_id=image["ImageId"], instance_type=instance_type, key_name=self.key_name,
            group_id=self.group_id, client_token=f"{self.role}-{p.build_id}",
            tags={**p.tags, "Name": f"goldsmith {self.role} {p.build_id}"},
        )
        params["BlockDeviceMappings"] = deletable_mappings(image)
        return params

    def wait_for_ssh(self) -> Connection:
        """Wait for SSH with the instance's own key; the host key seen first is pinned for the suites."""
        p = self.place
        assert self.private_key is not None
        host, port = self.endpoint = p.target.ssh_endpoint(p.aws, self.instance, p.build)
        p.events.info(f"waiting for SSH on {host}:{port} as {p.build.ssh_username}")
        assert self.instance_id is not None
        pin = console_pin(p.aws, p.region, self.instance_id, p.events)
        bastion = bastion_target(p.build, p.bastion_key, self.private_key)
        target = SshTarget(host=host, port=port, username=p.build.ssh_username, key=self.private_key,
                           bastion=bastion)
        with SshSession.connect(target, timeout=p.build.timeouts.ssh, known_host_key=pin) as session:
            host_key = session.host_key
            seen_bastion_key = session.bastion_host_key
        how = "from the console output" if pin else "on first contact"
        p.events.info(f"host key {host_key.split()[0]} of the {self.role} instance pinned {how}")
        return Connection(host=host, port=port, user=p.build.ssh_username, key=self.private_key, host_key=host_key,
                          bastion=jump_of(bastion, seen_bastion_key))

    def destroy(self) -> list[str]:
        """Terminate (waited), then delete the key pair and the group; what could not go is returned."""
        problems: list[str] = []
        for kind in ("instance", "key-pair", "security-group"):
            resource = self._recorded(kind)
            if resource is None:
                continue
            try:
                self._remove(kind, resource)
            except Exception as exc:
                problems.append(f"{kind} {resource} ({self.place.region}): {exc}")
                continue
            self.place.journal.deleted(kind, resource)
            self._forget(kind)
        return problems

    def _recorded(self, kind: str) -> str | None:
        return {"instance": self.instance_id, "key-pair": self.key_name, "security-group": self.group_id}[kind]

    def _remove(self, kind: str, resource: str) -> None:
        ec2 = self.place.aws.ec2(self.place.region)
        if kind == "instance":
            ec2ops.terminate_instance(ec2, resource, self.place.waits)
        elif kind == "key-pair":
            ec2ops.delete_key_pair(ec2, resource)
        else:
            ec2ops.delete_security_group(ec2, resource)

    def _forget(self, kind: str) -> None:
        if kind == "instance":
            self.instance_id = None
        elif kind == "key-pair":
            self.key_name = None
        else:
            self.group_id = None

    def keep(self, work_dir: Path) -> str:
        """--keep-on-error: write the key to a file and say how to reach the instance."""
        assert self.private_key is not None
        key_file = self.private_key.write_private_file(work_dir / "keys")
        host, port = self.endpoint or ("?", 22)
        return (f"--keep-on-error: {self.role} instance {self.instance_id} is still running; reach it with "
                f"ssh -i {key_file} -p {port} {self.place.build.ssh_username}@{host}; remove it all with "
                f"`invoke clean --build-id {self.place.build_id}`")


def run_plan(connection: Connection, plan: SuitePlan, events: Events, extra_env: dict[str, str]) -> SuiteResult:
    """Run the plan's suites, streaming their output into the build's events, and log the summary."""
    events.info(f"running {len(plan.suites)} suite(s) against {connection.user}@{connection.host}:{connection.port}")
    result = run_suites(
        plan.suites, connection=connection, env={**plan.env, **extra_env}, variables=plan.variables,
        junit_path=plan.junit_path, timeout=plan.timeout, secrets=plan.secrets,
        on_output=lambda line: events.output(plan.source, line),
    )
    events.info(f"validation: {result.summary_line()} (report {result.junit_path})",
                passed=result.passed, failed=result.failed, errors=result.errors, junit=str(result.junit_path))
    for failure in result.failures:
        events.warn(f"FAILED {failure.test}: {failure.message}")
    return result


def failure_message(what: str, result: SuiteResult) -> str:
    shown = "; ".join(f"{f.test}: {f.message}" for f in result.failures[:5])
    more = f" (and {len(result.failures) - 5} more)" if len(result.failures) > 5 else ""
    return f"{what} failed validation ({result.summary_line()}): {shown}{more}. Report: {result.junit_path}"


def tag_validation(aws: Aws, region: str, resource_ids: Sequence[str], outcome: str) -> None:
    """Mark an image (and its snapshots) goldsmith:validation=passed|failed."""
    ec2 = aws.ec2(region)
    with aws_call("CreateTags", ", ".join(resource_ids)):
        ec2.create_tags(Resources=list(resource_ids), Tags=[{"Key": VALIDATION_TAG, "Value": outcome}])


def raise_if_failed(what: str, result: SuiteResult) -> None:
    if not result.ok:
        raise ValidationFailed(failure_message(what, result))
