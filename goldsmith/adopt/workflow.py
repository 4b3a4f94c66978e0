"""The GitHub Actions workflow `goldsmith init` writes: check every recipe on pull requests, bake the project's
pipeline on pushes to main.

Built from the pipeline export's own pieces (goldsmith.pipeline.export: the action versions, the OIDC
credentials step, the manifest artifact, the YAML style), so the two workflows cannot drift apart. Unlike the
export, this one is for a project that is just starting: one bake job running the whole pipeline, rather than
a job per recipe (regenerate with `goldsmith pipeline.export` once the pipeline grows).
"""

from __future__ import annotations

from typing import Any

from goldsmith import __version__
from goldsmith.pipeline.export import (
    CHECKOUT,
    MANIFEST_DIR,
    ROLE_VARIABLE,
    SETUP_PYTHON,
    credentials_step,
    dump,
    upload_step,
)

PATH = ".github/workflows/goldsmith.yml"


def workflow(pipeline_path: str, name: str, install: str, python_version: str = "3.11") -> dict[str, Any]:
    """check on pull requests and pushes; bake (after check) only on pushes to main, with OIDC credentials."""
    def setup() -> list[dict[str, Any]]:  # fresh dicts per job: shared ones would be dumped as YAML anchors
        return [{"uses": CHECKOUT}, {"uses": SETUP_PYTHON, "with": {"python-version": python_version}},
                {"name": "Install Goldsmith", "run": install}]

    manifest = f"{MANIFEST_DIR}/{name}.json"
    check = {"name": "check recipes", "runs-on": "ubuntu-latest", "steps": [*setup(), {
        "name": "Check every recipe and the pipeline (no AWS call)",
        # Every file's mistakes, not only the first failing file's.
        "run": "status=0\n"
               'for recipe in recipes/*.yaml; do goldsmith check "$recipe" || status=1; done\n'
               f"goldsmith check {pipeline_path} || status=1\n"
               'exit "$status"\n',
    }]}
    bake = {
        "name": "bake",
        "needs": ["check"],
        "if": "github.event_name == 'push' && github.ref == 'refs/heads/main'",
        "runs-on": "ubuntu-latest",
        "permissions": {"id-token": "write", "contents": "read"},
        "steps": [*setup(), credentials_step(None), {
            "name": f"Bake pipeline {name}",
            "run": f"goldsmith pipeline {pipeline_path} --target aws --manifest {manifest}",
        }, upload_step(name, manifest)],
    }
    return {
        "name": "goldsmith",
        "on": {"pull_request": None, "push": {"branches": ["main"]}},
        "permissions": {"contents": "read"},
        # Two pushes in a row would bake the same recipes side by side; let the second wait.
        "concurrency": {"group": "goldsmith-bake", "cancel-in-progress": False},
        "jobs": {"check": check, "bake": bake},
    }


def text(pipeline_path: str, name: str, install: str) -> str:
    """The workflow file: a header saying what it needs, then the YAML."""
    header = [
        f"Written by `goldsmith init` (Goldsmith {__version__}): checks the recipes on pull requests and bakes "
        f"{pipeline_path} on pushes to main.",
        f"Needs: the repository variable {ROLE_VARIABLE} (an IAM role trusting GitHub's OIDC provider, with "
        "Goldsmith's policy, docs/iam-policy.json) and AWS_REGION.",
        "The manifest, logs and journals of each run are uploaded as an artifact.",
        "Before the first bake on AWS, point each recipe's source at an AMI of your account's region (the example "
        "uses the sandbox's Debian image).",
    ]
    return "".join(f"# {line}\n" for line in header) + dump(workflow(pipeline_path, name, install))
