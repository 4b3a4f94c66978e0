"""A small Goldsmith project for pipeline tests: quick recipes root -> mid -> leaf, and side (independent).

Each bake is a few seconds (no data volume, no copies, one tiny suite), so pipelines of several recipes
fit in CI. `mid` runs provisioners/mid.sh, a file no other recipe uses.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

RECIPE = """\
name: {name}
version: 1.0.0
description: pipeline test recipe of project {project}
variables:
  note: {{default: "{name}"}}
source:
{source}
build:
  instance_type: t3.micro
  ssh_username: admin
  timeouts: {{ssh: 60}}
provision:
{provision}
image:
  name: "{name}-{{{{ recipe_version }}}}-{{{{ timestamp }}}}-{{{{ build_id[-4:] }}}}"
  tags: {{Role: pipeline-test}}
validate:
  suites: [tests/images/layers.py]
  env: {{LAYERS: "{layers}"}}
"""

FILTER = """  filter:
    name: debian-12-sandbox-amd64-*
    owners: ["136693071363"]"""

SUITE = '''"""Every layer this image was built from left its file (LAYERS: comma-separated recipe names)."""
import os


def test_layers(host):
    for layer in os.environ["LAYERS"].split(","):
        assert host.file(f"/etc/layer-{layer}").exists, layer
'''

RELEASE = """\
name: family
concurrency: 4
recipes:
  - recipe: root
  - recipe: mid
  - recipe: leaf
"""


def _recipe(name: str, source: str | None, layers: list[str], extra: list[str], project: str) -> str:
    src = f"  recipe: {source}" if source else FILTER
    steps = [f"  - {{type: shell, inline: ['echo {{{{ note }}}} | sudo tee /etc/layer-{name}']}}", *extra]
    return RECIPE.format(name=name, source=src, provision="\n".join(steps), layers=",".join(layers), project=project)


def make_project(root: Path) -> Path:
    """Write the project under root; returns root. Each project's recipes have fingerprints of their own (their
    description names the project), so no test reuses the images another test baked from the same text."""
    project = uuid.uuid4().hex[:12]
    (root / "recipes").mkdir(parents=True)
    (root / "provisioners").mkdir()
    (root / "pipelines").mkdir()
    (root / "tests" / "images").mkdir(parents=True)
    (root / "invoke.yaml").write_text("goldsmith: {}\n")
    (root / "tests" / "images" / "layers.py").write_text(SUITE)
    (root / "provisioners" / "mid.sh").write_text("#!/bin/sh\necho mid-script | sudo tee /etc/mid-script\n")
    recipes = {
        "root": _recipe("root", None, ["root"], [], project),
        "mid": _recipe("mid", "root", ["root", "mid"], ["  - {type: shell, script: provisioners/mid.sh}"], project),
        "leaf": _recipe("leaf", "mid", ["root", "mid", "leaf"], [], project),
        "side": _recipe("side", None, ["side"], [], project),
    }
    for name, text in recipes.items():
        (root / "recipes" / f"{name}.yaml").write_text(text)
    (root / "pipelines" / "family.yaml").write_text(RELEASE)
    return root


def run_manifest(work: Path, run_id: str) -> dict[str, Any]:
    return json.loads((work / "manifests" / f"{run_id}.json").read_text())  # type: ignore[no-any-return]


def run_ids(work: Path) -> list[str]:
    return sorted(p.stem for p in (work / "pipelines").glob("*.json"))
