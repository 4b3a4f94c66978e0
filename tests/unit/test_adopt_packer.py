"""`goldsmith import-packer`: Packer amazon-ebs templates (written from Packer's documentation examples, one per
feature group, in tests/fixtures/packer/) become recipes that pass the recipe check, and what does not convert is
listed with the template's file:line. Bad templates exit 2 naming file and line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from goldsmith.adopt.packer_import import Imported, import_packer
from goldsmith.errors import InputError
from goldsmith.recipe.loader import LoadedRecipe, load_recipe
from tests.unit.test_tasks_collection import _goldsmith

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "packer"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project (tasks.py marks its root) holding the templates, their scripts and files under packer/."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES, root / "packer")
    (root / "tasks.py").write_text("from goldsmith.tasks import ns\n")
    return root


def _convert(project: Path, template: str, **variables: str) -> tuple[LoadedRecipe, Imported]:
    output = project / "recipes" / f"{template.split('.')[0]}.yaml"
    imported = import_packer(project / "packer" / template, output)
    assert output.read_text() == imported.text
    return load_recipe(output, variables, {}), imported  # what `invoke check` runs


def _notes(imported: Imported) -> dict[str, int]:
    return {note.what: note.line for note in imported.notes}


def _line(template: str, text: str) -> int:
    """The 1-based line of the template containing `text`."""
    lines = (FIXTURES / template).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_the_documentations_basic_hcl_template(project: Path) -> None:
    loaded, imported = _convert(project, "basic.pkr.hcl")
    recipe = loaded.recipe
    assert recipe.name == "ubuntu"
    assert recipe.source.filter is not None
    assert recipe.source.filter.name == "ubuntu/images/*ubuntu-jammy-22.04-amd64-server-*"
    assert recipe.source.filter.owners == ["099720109477"]
    assert (recipe.build.instance_type, recipe.build.ssh_username) == ("t3.micro", "ubuntu")
    assert recipe.image.name == "my-app-{{ timestamp }}"  # local.timestamp is the build's time
    assert recipe.image.tags == {"Name": "my-app", "BuildDate": "{{ timestamp }}"}
    (step,) = recipe.provision
    step_data: Any = step
    assert step_data.inline == ["sudo apt-get update", "echo ${HOME}"]  # HCL's $${ escape is the shell's ${
    assert step_data.sudo is False  # Packer's shell provisioner runs as the SSH user
    notes = _notes(imported)
    assert notes["region: not converted"] == _line("basic.pkr.hcl", "region        = var.region")
    assert notes["source_ami_filter.filters.root-device-type: not converted"] == _line("basic.pkr.hcl",
                                                                                       "root-device-type")
    assert f"{project / 'packer' / 'basic.pkr.hcl'}:{notes['region: not converted']}: region" in \
        "\n".join(imported.report())


def test_json_variables_and_provisioners(project: Path) -> None:
    loaded, imported = _convert(project, "provisioners.json")
    recipe = loaded.recipe
    assert recipe.source.id == "ami-0123456789abcdef0"
    assert recipe.image.name == "app-{{ app_version }}-{{ timestamp }}"
    assert set(recipe.variables) == {"app_version", "api_token"}  # aws_access_key only fed access_key
    assert recipe.variables["api_token"].secret and not recipe.variables["app_version"].secret
    steps: list[Any] = list(recipe.provision)
    assert [s.type for s in steps] == ["shell", "shell", "shell", "file"]
    assert steps[0].script == "packer/scripts/install.sh" and steps[0].sudo is True  # execute_command had sudo
    assert steps[0].env == {"APP_VERSION": "{{ app_version }}", "TOKEN": "{{ api_token }}"}
    assert [s.script for s in steps[1:3]] == ["packer/scripts/install.sh", "packer/scripts/cleanup.sh"]
    assert (steps[3].source, steps[3].destination) == ("packer/files/app.conf", "/tmp/app.conf")
    notes = _notes(imported)
    assert notes["access_key: not converted"] == _line("provisioners.json", '"access_key"')
    assert notes["provisioner ansible: not converted"] == _line("provisioners.json", '"type": "ansible"')
    assert notes["breakpoint provisioner: left out"] == _line("provisioners.json", '"type": "breakpoint"')
    assert notes["post-processors: not converted"] == _line("provisioners.json", '"post-processors"')
    assert any("isotime" in what for what in notes)  # approximated by {{ timestamp }}: said so


def test_network_ssh_and_bastion(project: Path) -> None:
    loaded, imported = _convert(project, "network.pkr.hcl")
    build = loaded.recipe.build
    assert (build.subnet_id, build.vpc_id, build.interface) == ("subnet-0123456789abcdef0",
                                                                 "vpc-0123456789abcdef0", "private_ip")
    assert build.bastion is not None
    assert (build.bastion.host, build.bastion.port, build.bastion.username) == ("bastion.example.com", 2222, "jump")
    assert build.bastion.private_key_file == "packer/files/bastion.pem"  # ${path.root} is the template's dir
    assert loaded.recipe.image.name == "private-{{ build_id }}"
    assert _notes(imported)["run_tags: not converted"] == _line("network.pkr.hcl", "run_tags")


def test_block_device_mappings(project: Path) -> None:
    loaded, imported = _convert(project, "volumes.json")
    volumes = loaded.recipe.volumes
    assert (volumes.root.size, volumes.root.type) == (20, "gp3")
    (data,) = volumes.data
    assert (data.device, data.size, data.throughput, data.delete_on_termination) == ("/dev/sdf", 50, 250, False)
    assert data.mount is None  # Packer attaches, it does not mount: neither does the recipe
    assert _notes(imported)["launch_block_device_mappings /dev/sdb: not converted"] == _line("volumes.json",
                                                                                            '"/dev/sdb"')


def test_sharing_copies_encryption_and_deprecation(project: Path) -> None:
    loaded, imported = _convert(project, "publishing.pkr.hcl")
    image = loaded.recipe.image
    assert image.share.accounts == ["111122223333", "444455556666"] and image.share.snapshots
    assert image.share.organizations == ["arn:aws:organizations::111122223333:organization/o-abcde12345"]
    assert image.share.ous == ["arn:aws:organizations::111122223333:ou/o-abcde12345/ou-ab12-abcd1234"]
    assert image.regions == ["us-west-2", "eu-west-1"]
    assert image.encrypt is not None
    assert image.encrypt.kms_key == "alias/golden"
    assert image.encrypt.regions == {"us-west-2": "alias/golden-west", "eu-west-1": "alias/golden-eu"}
    assert image.deprecate_at is not None and image.deprecate_at.year == 2027
    # kms_key_id takes no template: the variable's default is written in, and the notes say so.
    assert "kms_key_id: variable kms_key replaced by its default" in _notes(imported)
    # ...but never a sensitive variable's: the field is left out and listed.
    assert loaded.recipe.build.vpc_id is None
    assert _notes(imported)["vpc_id: depends on org_secret, which this field cannot use"] == _line(
        "publishing.pkr.hcl", "vpc_id")
    assert "s3cr3t" not in imported.text
    assert image.name == "shared-{{ timestamp }}"


@pytest.mark.parametrize(("template", "where"), [("docker.json", '"builders"'), ("docker.pkr.hcl", "source")])
def test_a_template_without_amazon_ebs_is_bad_input_naming_file_and_line(project: Path, template: str,
                                                                         where: str) -> None:
    path = project / "packer" / template
    with pytest.raises(InputError, match=rf"{path}:{_line(template, where)}: no .*amazon-ebs.*docker"):
        import_packer(path, None)


def test_bad_templates_and_outputs_exit_2_with_the_file(project: Path) -> None:
    broken = project / "broken.json"
    broken.write_text('{\n  "builders": [\n    {"type": "amazon-ebs",,}\n  ]\n}\n')
    proc = _goldsmith(["import-packer", str(broken)], cwd=project)
    assert proc.returncode == 2 and f"{broken}:3:" in proc.stderr, proc.stderr
    hcl = project / "broken.pkr.hcl"
    hcl.write_text('source "amazon-ebs" "x" {\n  ami_name = \n}\n')
    proc = _goldsmith(["import-packer", str(hcl)], cwd=project)
    assert proc.returncode == 2 and f"{hcl}:" in proc.stderr and "not valid HCL2" in proc.stderr, proc.stderr
    for missing in (project / "nope.json", project / "packer"):  # missing, and a directory
        proc = _goldsmith(["import-packer", str(missing)], cwd=project)
        assert proc.returncode == 2 and "cannot read the template" in proc.stderr, proc.stderr
    existing = project / "tasks.py"
    proc = _goldsmith(["import-packer", str(project / "packer" / "basic.pkr.hcl"), "--output", str(existing)],
                      cwd=project)
    assert proc.returncode == 2 and "never overwrites" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_goldsmith_import_packer_writes_a_recipe_that_checks_and_lists_the_rest(project: Path) -> None:
    proc = _goldsmith(["import-packer", "packer/basic.pkr.hcl", "--output", "recipes/app.yaml"], cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "wrote recipes/app.yaml: passes `goldsmith check`" in proc.stdout
    assert "not converted: packer/basic.pkr.hcl:" in proc.stderr
    checked = _goldsmith(["check", "recipes/app.yaml"], cwd=project)
    assert checked.returncode == 0, checked.stderr
    printed = _goldsmith(["import-packer", "packer/basic.pkr.hcl"], cwd=project)
    assert printed.returncode == 0 and printed.stdout == (project / "recipes" / "app.yaml").read_text()
