"""A small project for lifecycle tests: recipe `lc` (two regions, one tiny suite, auto-promoted to `candidate`)
and `lc-top`, built on what `lc`'s `stable` channel names. A bake of `lc` is a few seconds."""

from __future__ import annotations

from pathlib import Path

LC = """\
name: lc
version: "{version}"
source:
  filter:
    name: debian-12-sandbox-amd64-*
    owners: ["136693071363"]
build:
  instance_type: t3.micro
  ssh_username: admin
  timeouts: {{ssh: 60}}
provision:
  - {{type: shell, inline: ["echo {version} | sudo tee /etc/lc-version"]}}
image:
  name: "lc-{{{{ recipe_version }}}}-{{{{ timestamp }}}}-{{{{ build_id[-4:] }}}}"
  regions: [us-west-2]
  channel: candidate
validate:
  suites: [tests/images/version.py]
"""

TOP = """\
name: lc-top
version: "1.0.0"
source: {recipe: lc, channel: stable}
build:
  instance_type: t3.micro
  ssh_username: admin
  timeouts: {ssh: 60}
provision:
  - {type: shell, inline: ["cat /etc/lc-version | sudo tee /etc/lc-top-base"]}
image:
  name: "lc-top-{{ timestamp }}-{{ build_id[-4:] }}"
"""

KEEP = """\
name: lc-keep
version: "1.0.0"
source:
  filter:
    name: debian-12-sandbox-amd64-*
    owners: ["136693071363"]
build:
  instance_type: t3.micro
  ssh_username: admin
  timeouts: {ssh: 60}
image:
  name: "lc-keep-{{ timestamp }}-{{ build_id[-4:] }}"
  retention: {keep: 1, action: deregister}
"""

SUITE = '''"""The image says its version (no test_ prefix: not collected by the project's pytest)."""


def test_version(host):
    assert host.file("/etc/lc-version").exists
'''


def make_project(root: Path) -> Path:
    (root / "recipes").mkdir(parents=True)
    (root / "tests" / "images").mkdir(parents=True)
    (root / "invoke.yaml").write_text("goldsmith: {}\n")
    (root / "tests" / "images" / "version.py").write_text(SUITE)
    (root / "recipes" / "lc-top.yaml").write_text(TOP)
    (root / "recipes" / "lc-keep.yaml").write_text(KEEP)
    set_version(root, "1.0.0")
    return root


def set_version(root: Path, version: str) -> Path:
    """recipes/lc.yaml at this version (the tests bake it once per version)."""
    path = root / "recipes" / "lc.yaml"
    path.write_text(LC.format(version=version))
    return path
