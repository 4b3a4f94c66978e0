"""`invoke pipeline.export`: a pipeline as a CI workflow (GitHub Actions), one job per recipe.

Why one job per recipe: the work of a bake is in AWS, so a team outgrows one machine's patience, not its
CPU; separate jobs give each bake its own log, retry button and time limit, and independent recipes run
at once. Pure: it reads the loaded pipeline and writes text (no boto3, no AWS call).

Each job runs `goldsmith pipeline PIPELINE --only NAME --use UPSTREAM=AMI ...`, not `goldsmith bake`:
the pipeline's overrides (variables, regions, accounts, and their precedence) are applied by the same
loader as a local `invoke pipeline`, so a job bakes exactly what the local run would, and the workflow
carries no copy of them that could drift. `--use` pins every recipe the job waits for to the image its job
produced (job outputs), so the recipe builds on THAT run's image and nothing upstream is baked twice.

No region matrix: a bake has one build region and copies its image to image.regions inside the bake, all
or nothing, after validation and before sharing. Splitting the copies into per-region jobs would share
some regions' copies while another region's failed; regions are not independent in this model.
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from goldsmith import __version__
from goldsmith.errors import InputError
from goldsmith.recipe.hints import did_you_mean
from goldsmith.recipe.pipeline_loader import LoadedPipeline, Member
from goldsmith.recipe.variables import env_name

FORMATS = ("github-actions",)

# The actions the workflow uses, by major version (actionlint checks their inputs).
CHECKOUT = "actions/checkout@v5"
SETUP_PYTHON = "actions/setup-python@v6"
UPLOAD_ARTIFACT = "actions/upload-artifact@v6"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials@v6"

ROLE_VARIABLE = "AWS_ROLE_ARN"  # repository variable holding the IAM role's ARN (OIDC)
REGION_VARIABLE = "AWS_REGION"  # repository variable for the build region, when the export names none
MANIFEST_DIR = "goldsmith-manifests"  # not hidden: upload-artifact leaves hidden files out by default


@dataclass(frozen=True)
class ExportOptions:
    """What the workflow needs besides the pipeline."""

    pipeline_path: str  # the pipeline file as the workflow names it: relative to the project root
    install: str  # the shell command that installs Goldsmith on the runner
    region: str | None = None  # the build region; None: the repository variable AWS_REGION
    python_version: str = "3.11"
    runs_on: str = "ubuntu-latest"


def check_format(fmt: str) -> str:
    """The export format, or bad input (exit 2) naming the known ones."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: unknown format{did_you_mean(fmt, FORMATS)} (known: {', '.join(FORMATS)})")
    return fmt


def default_install(root: Path) -> str:
    """`pip install -e .` in a Goldsmith checkout (the workflow runs the checked-out code), else the Goldsmith
    release that wrote the workflow (its commands, such as --use, are what the jobs call)."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        project = {}
    if project.get("name") == "goldsmith":
        return "pip install -e ."
    return f"pip install goldsmith=={__version__}"


def job_id(name: str) -> str:
    """A recipe's job id: job ids must start with a letter or '_', recipe names may start with a digit."""
    return f"bake-{name}"


def github_actions(loaded: LoadedPipeline, options: ExportOptions) -> str:
    """The workflow file's text: a header saying how it was made and what it needs, then the YAML."""
    return _header(loaded, options) + _dump(workflow(loaded, options))


def workflow(loaded: LoadedPipeline, options: ExportOptions) -> dict[str, Any]:
    """The workflow as data: manual trigger, OIDC permissions, one job per recipe in dependency order."""
    name = loaded.pipeline.name
    return {
        "name": f"goldsmith pipeline {name}",
        "on": {"workflow_dispatch": None},
        "permissions": {"id-token": "write", "contents": "read"},
        # Two runs of one pipeline would bake the same recipes side by side; let the second wait.
        "concurrency": {"group": f"goldsmith-pipeline-{name}", "cancel-in-progress": False},
        "jobs": {job_id(member.name): bake_job(member, options) for member in loaded.members.values()},
    }


def bake_job(member: Member, options: ExportOptions) -> dict[str, Any]:
    """One recipe's job: set up, bake on the upstream jobs' images, publish its image and manifest."""
    job: dict[str, Any] = {"name": f"bake {member.name}", "runs-on": options.runs_on}
    if member.needs:
        job["needs"] = [job_id(n) for n in member.needs]
    job["outputs"] = {"ami": "${{ steps.image.outputs.ami }}", "images": "${{ steps.image.outputs.images }}"}
    job["steps"] = [
        {"uses": CHECKOUT},
        {"uses": SETUP_PYTHON, "with": {"python-version": options.python_version}},
        {"name": "Install Goldsmith", "run": options.install},
        {"name": "AWS credentials (OIDC)", "uses": AWS_CREDENTIALS, "with": {
            "role-to-assume": f"${{{{ vars.{ROLE_VARIABLE} }}}}",
            "aws-region": options.region or f"${{{{ vars.{REGION_VARIABLE} }}}}",
        }},
        _bake_step(member, options),
        _image_step(member),
        _upload_step(member),
    ]
    return job


def manifest_path(name: str) -> str:
    return f"{MANIFEST_DIR}/{name}.json"


def _bake_step(member: Member, options: ExportOptions) -> dict[str, Any]:
    """`goldsmith pipeline --only NAME`, each upstream pinned with --use. Values reach the shell through env,
    never spliced into the script (GitHub's advice against script injection)."""
    env: dict[str, str] = {}
    args = ["goldsmith", "pipeline", shlex.quote(options.pipeline_path), "--only", member.name, "--target", "aws",
            "--manifest", manifest_path(member.name)]
    for upstream in member.needs:
        variable = "USE_" + upstream.upper().replace("-", "_")
        env[variable] = f"${{{{ needs.{job_id(upstream)}.outputs.ami }}}}"
        args += ["--use", f'"{upstream}=${variable}"']
    for secret in sorted(member.loaded.secret_names):  # the pipeline file never holds secrets' values
        env[env_name(secret)] = f"${{{{ secrets.{env_name(secret)} }}}}"
    step: dict[str, Any] = {"name": f"Bake {member.name}"}
    if env:
        step["env"] = env
    step["run"] = " ".join(args)
    return step


def _image_step(member: Member) -> dict[str, Any]:
    """Read the AMI (build region) and every region's image from the run manifest, as job outputs: from the
    recipe's build entry, else (a recipe reused without one) its images in the build region, AWS_REGION."""
    manifest = manifest_path(member.name)
    select = (f"([.builds[] | select(.recipe == \"{member.name}\") | .artifacts[.region].ami_id] | first) // "
              f".recipes[\"{member.name}\"].images[$ENV.AWS_REGION // \"\"] // empty")
    script = "\n".join([
        f"ami=$(jq -r '{select}' {manifest})",
        f'test -n "$ami" || {{ echo "::error::no image of {member.name} in {manifest}"; exit 1; }}',
        'echo "ami=$ami" >> "$GITHUB_OUTPUT"',
        f"echo \"images=$(jq -c '.recipes[\"{member.name}\"].images' {manifest})\" >> \"$GITHUB_OUTPUT\"",
    ])
    return {"name": "Image id", "id": "image", "run": script + "\n"}


def _upload_step(member: Member) -> dict[str, Any]:
    """The manifest, logs and journals as an artifact, also when the bake failed (journals name what
    `goldsmith clean --build-id` removes). Never .goldsmith/keys: it holds the build's SSH private key."""
    paths = [manifest_path(member.name), ".goldsmith/logs/", ".goldsmith/builds/"]
    return {"name": "Upload the manifest", "if": "always()", "uses": UPLOAD_ARTIFACT, "with": {
        "name": f"goldsmith-{member.name}",
        "path": "\n".join(paths) + "\n",
        "include-hidden-files": True,
        "if-no-files-found": "warn",
    }}


def _header(loaded: LoadedPipeline, options: ExportOptions) -> str:
    region = options.region or f"the repository variable {REGION_VARIABLE}"
    lines = [
        f"Generated by `goldsmith pipeline.export {options.pipeline_path} --format github-actions` (Goldsmith "
        f"{__version__}); regenerate it rather than edit it.",
        f"Pipeline {loaded.pipeline.name}: one job per recipe; `needs:` follows the pipeline's dependencies, and "
        "each job builds on the images of this run's upstream jobs (--use).",
        f"Needs: the repository variable {ROLE_VARIABLE} (an IAM role trusting GitHub's OIDC provider); bakes run in "
        f"{region}.",
        "Regions are copied inside each bake (all or nothing, before sharing), so they are not a matrix.",
        f"GitHub starts every ready job at once: the pipeline's concurrency ({loaded.pipeline.concurrency}) does "
        "not apply here.",
    ]
    return "".join(f"# {line}\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """Block style, scripts as literal blocks, keys in the order given, no line folding."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10_000)
