"""A read Packer amazon-ebs template (goldsmith.adopt.packer_read) -> a Goldsmith recipe, as data, plus every
part that did not convert, each with the template's file:line and what to do instead.

The rule: a field is converted only when the recipe means the same thing; otherwise it is listed, never
guessed at. Packer's shell provisioner runs as the SSH user unless its execute_command says sudo, so a shell
step gets `sudo: false` unless it does (Goldsmith's default is sudo).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldsmith.adopt.packer_expr import Expressions, Unconvertible
from goldsmith.adopt.packer_read import Template

ROOT_DEVICES = ("/dev/sda1", "/dev/xvda", "/dev/sda", "/dev/nvme0n1")
INTERFACES = ("public_ip", "private_ip", "public_dns", "private_dns")
# Fields that need no counterpart: Goldsmith does the same on its own (or the value is Packer's default).
IMPLIED = {"type", "name", "communicator", "most_recent", "ssh_timeout", "ssh_pty", "ssh_port",
           "associate_public_ip_address", "iam_instance_profile", "ena_support", "sriov_support"}
ADVICE = {
    "region": "set the build region in invoke.yaml (goldsmith.region) or with --region",
    "profile": "set goldsmith.profile in invoke.yaml or AWS_PROFILE",
    "access_key": "use boto3's credential chain (AWS_PROFILE, SSO, OIDC in CI); never keys in a recipe",
    "secret_key": "use boto3's credential chain (AWS_PROFILE, SSO, OIDC in CI); never keys in a recipe",
    "run_tags": "Goldsmith tags the build instance goldsmith:build-id and the recipe; tag-based policies can "
                "match those",
    "security_group_id": "Goldsmith creates its own group, SSH from this machine's /32 only (build.ssh_cidr to "
                         "change the range)",
    "security_group_ids": "Goldsmith creates its own group, SSH from this machine's /32 only (build.ssh_cidr to "
                          "change the range)",
    "subnet_filter": "name the subnet: build.subnet_id",
    "vpc_filter": "name the VPC: build.vpc_id (with build.subnet_id)",
    "user_data": "put first-boot work in a provision step, or ask for build.user_data (not supported yet)",
    "user_data_file": "put first-boot work in a provision step, or ask for build.user_data (not supported yet)",
    "ami_block_device_mappings": "Goldsmith registers the image from the snapshots of volumes.root and "
                                 "volumes.data: declare the volumes there",
    "spot_price": "Goldsmith launches on-demand instances only",
}


@dataclass(frozen=True)
class Note:
    """A part of the template the recipe does not carry (or carries approximately)."""

    line: int
    what: str
    instead: str


@dataclass
class Conversion:
    recipe: dict[str, Any]
    notes: list[Note] = field(default_factory=list)


def _substitute(value: Any, defaults: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{\{ (\w+) \}\}", lambda m: str(defaults[m.group(1)]), value)
    if isinstance(value, list):
        return [_substitute(v, defaults) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, defaults) for k, v in value.items()}
    return value


def recipe_name(raw: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:63]
    return name if name and name[0].isalnum() else f"imported-{name}".strip("-")


class Converter:
    """One template's conversion: fills the recipe's sections, collecting notes."""

    def __init__(self, template: Template, root: Path) -> None:
        self.t = template
        self.root = root
        self.expr = Expressions(template.syntax, template.locals)
        self.notes: list[Note] = []
        self.done: set[str] = set(IMPLIED)

    def note(self, key: str, what: str, instead: str, line: int | None = None) -> None:
        self.notes.append(Note(line or self.t.line_of(key), what, instead))

    def value(self, key: str, raw: Any, line: int | None = None) -> Any:
        """`raw` with its expressions converted, or None (noted) when one cannot be."""
        try:
            return self.expr.convert(raw)
        except Unconvertible as exc:
            self.note(key, f"{key}: {exc}", "write the value in the recipe, or make it a recipe variable", line)
            return None

    def get(self, key: str) -> Any:
        """A source field whose recipe counterpart is a template (names, tags): expressions become jinja2."""
        self.done.add(key)
        return self.value(key, self.t.source[key]) if key in self.t.source else None

    def literal(self, key: str) -> Any:
        """A source field whose recipe counterpart is plain text (ids, keys, sizes): a variable is replaced by its
        default (noted); a build fact or a variable without a default cannot be, so the field is noted and left
        out."""
        self.done.add(key)
        if key not in self.t.source:
            return None
        scratch = Expressions(self.t.syntax, self.t.locals)
        try:
            value = scratch.convert(self.t.source[key])
        except Unconvertible as exc:
            self.note(key, f"{key}: {exc}", "write the value in the recipe")
            return None
        # A sensitive variable's default is never written into the recipe in clear.
        defaults = {v.name: v.default for v in self.t.variables
                    if isinstance(v.default, (str, int)) and not v.sensitive}
        missing = sorted(scratch.used - set(defaults))
        if missing or "{{" in re.sub(r"\{\{ (\w+) \}\}", lambda m: str(defaults.get(m.group(1), m.group(0))),
                                      str(value)):
            self.note(key, f"{key}: depends on {', '.join(missing) or 'a build fact'}, which this field cannot use",
                      "write the value in the recipe")
            return None
        if scratch.used:
            self.note(key, f"{key}: variable {', '.join(sorted(scratch.used))} replaced by its default",
                      "this recipe field takes no templates: edit the value in the recipe to change it")
        return _substitute(value, defaults)

    def run(self) -> Conversion:
        recipe: dict[str, Any] = {"name": recipe_name(self.t.name), "version": "0.1.0",
                                  "description": f"Imported from {self.t.path.name} by goldsmith import-packer"}
        recipe["source"] = self.source()
        recipe["build"] = self.build()
        volumes = self.volumes()
        if volumes:
            recipe["volumes"] = volumes
        recipe["provision"] = self.provision()
        recipe["image"] = self.image()
        for key in self.t.source:
            if key not in self.done:
                self.note(key, f"{key}: not converted", ADVICE.get(key, "no recipe field means the same; see "
                                                                         "docs/recipe-reference.md"))
        for line, what in self.t.others:
            self.note("", f"{what}: not converted", "run it after the bake (the manifest names the AMI per region)"
                      if "post" in what else "import each source separately", line)
        for approximation in self.expr.approximations:
            self.note("ami_name", approximation, "check the image name template")
        variables = self.variables()
        if variables:
            recipe = {**{k: recipe[k] for k in ("name", "version", "description")}, "variables": variables,
                      **{k: v for k, v in recipe.items() if k not in ("name", "version", "description")}}
        self.notes.sort(key=lambda n: n.line)
        return Conversion(recipe, self.notes)

    def source(self) -> dict[str, Any]:
        ami = self.literal("source_ami")
        if ami:
            return {"id": ami}
        raw = self.t.source.get("source_ami_filter")
        self.done.add("source_ami_filter")
        block = raw[0] if isinstance(raw, list) and raw else raw
        if not isinstance(block, dict):
            self.note("source_ami", "neither source_ami nor source_ami_filter", "set source.id or source.filter")
            return {"id": "ami-0123456789abcdef0"}
        filters = dict(self.value("source_ami_filter", block.get("filters") or {}) or {})
        result: dict[str, Any] = {"name": filters.pop("name", "*")}
        owners = self.value("source_ami_filter", block.get("owners"))
        if owners:
            result["owners"] = list(owners)
        if "architecture" in filters:
            result["architecture"] = filters.pop("architecture")
        for dropped in sorted(filters):
            self.note(dropped, f"source_ami_filter.filters.{dropped}: not converted", "Goldsmith's filter is the "
                      "name pattern, owners and architecture: narrow the name pattern instead")
        if block.get("most_recent") is False:
            self.note("most_recent", "source_ami_filter.most_recent = false", "Goldsmith always takes the newest "
                      "match: pin source.id for a fixed image")
        return {"filter": result}

    def build(self) -> dict[str, Any]:
        build: dict[str, Any] = {}
        for key, target in (("instance_type", "instance_type"), ("subnet_id", "subnet_id"), ("vpc_id", "vpc_id"),
                            ("ssh_username", "ssh_username")):
            value = self.literal(key)
            if value is not None:
                build[target] = value
        interface = self.literal("ssh_interface")
        if interface in INTERFACES:
            build["interface"] = interface
        elif interface is not None:
            self.note("ssh_interface", f"ssh_interface {interface}", f"one of {', '.join(INTERFACES)}")
        if "communicator" in self.t.source and self.t.source["communicator"] != "ssh":
            self.note("communicator", f"communicator {self.t.source['communicator']}", "Goldsmith bakes over SSH")
        bastion = {target: self.literal(f"ssh_bastion_{key}") for key, target in
                   (("host", "host"), ("port", "port"), ("username", "username"),
                    ("private_key_file", "private_key_file"))}
        bastion = {k: v for k, v in bastion.items() if v is not None}
        if "host" in bastion:
            if "private_key_file" in bastion:
                bastion["private_key_file"] = self.path(str(bastion["private_key_file"]))
            build["bastion"] = bastion
        for key in ("ssh_bastion_password", "ssh_bastion_agent_auth", "ssh_bastion_interactive"):
            if key in self.t.source:
                self.done.add(key)
                self.note(key, key, "use a key file: build.bastion.private_key_file")
        return build

    def volumes(self) -> dict[str, Any]:
        raw = self.t.source.get("launch_block_device_mappings")
        self.done.add("launch_block_device_mappings")
        mappings = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
        volumes: dict[str, Any] = {}
        for mapping in mappings:
            mapping = self.value("launch_block_device_mappings", mapping) or {}
            device = str(mapping.get("device_name", ""))
            spec = {k: mapping[p] for p, k in (("volume_size", "size"), ("volume_type", "type"), ("iops", "iops"),
                                                ("throughput", "throughput")) if p in mapping}
            if device in ROOT_DEVICES:
                volumes["root"] = spec
            elif re.fullmatch(r"/dev/(sd|xvd)[f-p]", device) and "size" in spec:
                if "delete_on_termination" in mapping:
                    spec["delete_on_termination"] = mapping["delete_on_termination"]
                volumes.setdefault("data", []).append({"device": device, **spec})
            else:
                self.note("device_name", f"launch_block_device_mappings {device or '(no device)'}: not converted",
                          "Goldsmith's data volumes are /dev/sd[f-p] or /dev/xvd[f-p] with a size; the root is "
                          "/dev/sda1 or /dev/xvda", self.t.line_containing(f'"{device}"') if device else None)
            for key in ("encrypted", "kms_key_id", "snapshot_id"):
                if key in mapping:
                    self.note(key, f"launch_block_device_mappings {device}: {key} not converted",
                              "image.encrypt encrypts every snapshot of the image" if key != "snapshot_id"
                              else "a data volume starts empty (or from the source image's snapshot)")
        return volumes

    def image(self) -> dict[str, Any]:
        name = self.get("ami_name")
        if not name:
            name = "{{ recipe_name }}-{{ recipe_version }}-{{ timestamp }}"
            self.note("ami_name", "ami_name missing or not convertible", f"the recipe names images {name}")
        image: dict[str, Any] = {"name": name}
        description = self.get("ami_description")
        if description:
            image["description"] = description
        tags = self.get("tags")
        if tags:
            image["tags"] = {str(k): str(v) for k, v in tags.items()}
        lists = {target: list(self.literal(key) or []) for key, target in
                 (("ami_users", "accounts"), ("ami_org_arns", "organizations"), ("ami_ou_arns", "ous"))}
        share: dict[str, Any] = {k: v for k, v in lists.items() if v}
        groups = self.literal("ami_groups") or []
        if "all" in groups:
            share["public"] = True
        snapshot_users = set(self.literal("snapshot_users") or [])
        if snapshot_users:
            if snapshot_users <= set(share.get("accounts", [])):
                share["snapshots"] = True
            else:
                self.note("snapshot_users", "snapshot_users outside ami_users", "share.snapshots grants the "
                          "snapshots to share.accounts: add those accounts there")
        if share:
            image["share"] = share
        regions = self.literal("ami_regions")
        if regions:
            image["regions"] = list(regions)
        encrypt = self.encryption()
        if encrypt:
            image["encrypt"] = encrypt
        deprecate = self.literal("deprecate_at")
        if deprecate:
            image["deprecate_at"] = deprecate
        return image

    def encryption(self) -> dict[str, Any] | None:
        encrypt, key = self.literal("encrypt_boot"), self.literal("kms_key_id")
        per_region = self.literal("region_kms_key_ids")
        if encrypt in (None, False, "false") and not key:
            return None
        if key is None and "kms_key_id" in self.t.source:  # given but not convertible (noted): no silent default key
            self.note("encrypt_boot", "encrypt_boot: left out with kms_key_id", "set image.encrypt.kms_key")
            return None
        result: dict[str, Any] = {"kms_key": key or "alias/aws/ebs"}
        if per_region:
            result["regions"] = dict(per_region)
        return result

    def provision(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        for p in self.t.provisioners:
            # execute_command is Packer's own template ({{ .Path }}, {{ .Vars }}): only read for sudo, below.
            raw = {k: v for k, v in p.fields.items() if k != "execute_command"}
            fields = self.value(f"provisioner {p.type}", raw, p.line)
            if fields is None:
                continue
            fields["execute_command"] = str(p.fields.get("execute_command", ""))
            if p.type == "shell":
                steps += self.shell(fields, p.line)
            elif p.type == "file" and fields.get("direction", "upload") == "upload":
                sources = fields.get("sources") or [fields.get("source")]
                steps += [{"type": "file", "source": self.path(str(s)), "destination": fields["destination"]}
                          for s in sources]
            elif p.type == "breakpoint":
                self.note("", "breakpoint provisioner: left out", "use bake --keep-on-error to inspect a failed "
                          "build instance", p.line)
            else:
                self.note("", f"provisioner {p.type}: not converted", "run it from a shell step (install the "
                          "tool there), or a file step for uploads", p.line)
        return steps

    def shell(self, fields: dict[str, Any], line: int) -> list[dict[str, Any]]:
        base: dict[str, Any] = {"type": "shell"}
        env = {}
        for pair in fields.get("environment_vars", []):
            key, _, value = str(pair).partition("=")
            env[key] = value
        if env:
            base["env"] = env
        base["sudo"] = "sudo" in str(fields.get("execute_command", ""))
        for key in sorted(set(fields) - {"inline", "script", "scripts", "environment_vars", "execute_command"}):
            self.note("", f"shell provisioner: {key} not converted", "see ShellStep in docs/recipe-reference.md",
                      line)
        if "inline" in fields:
            return [{**base, "inline": [str(c) for c in fields["inline"]]}]
        scripts = fields.get("scripts") or [fields.get("script")]
        return [{**base, "script": self.path(str(s))} for s in scripts if s]

    def path(self, raw: str) -> str:
        """A template-relative path (Packer's `${path.root}` too) as a project-relative one."""
        raw = re.sub(r"^(\{\{\s*template_dir\s*\}\}|\$\{\s*path\.root\s*\}|\{\{\s*path\.root\s*\}\})/?", "", raw)
        full = (self.t.path.parent / raw).resolve()
        return Path(os.path.relpath(full, self.root.resolve())).as_posix()

    def variables(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for var in self.t.variables:
            if var.name not in self.expr.used:
                self.note("", f"variable {var.name}: not used by the recipe, left out", "nothing to do", var.line)
                continue
            spec: dict[str, Any] = {}
            default = var.default
            if isinstance(default, str) and ("{{" in default or "${" in default):
                self.note("", f"variable {var.name}: default {default!r} not converted",
                          f"set GOLDSMITH_VAR_{var.name.upper()} or --var {var.name}=...", var.line)
                default = None
            if default is not None and not isinstance(default, (str, int, float, bool)):
                self.note("", f"variable {var.name}: a {type(default).__name__} default",
                          "recipe variables are text", var.line)
                default = None
            spec["default"] = None if default is None else str(default).lower() if isinstance(default, bool) \
                else str(default)
            if var.sensitive:
                spec["secret"] = True
            result[var.name] = spec
        return result
