"""An imported Packer template bakes: `goldsmith import-packer` writes the recipe, `invoke bake` bakes it in the
sandbox, and the provisioners did on the image what Packer's would have (the validation suite checks it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldsmith.adopt.packer_import import import_packer
from tests.sandbox.helpers import build_ids, manifest_of, run_invoke

pytestmark = pytest.mark.sandbox

TEMPLATE = """\
variable "greeting" {
  type    = string
  default = "hello from packer"
}

source "amazon-ebs" "debian" {
  region        = "us-east-1"
  instance_type = "t3.micro"
  source_ami_filter {
    filters = {
      name = "debian-12-sandbox-amd64-*"
    }
    most_recent = true
    owners      = ["136693071363"]
  }
  ssh_username = "admin"
  ami_name     = "imported-${formatdate("YYYYMMDD", timestamp())}-${uuidv4()}"
  tags = {
    Greeting = var.greeting
  }
}

build {
  sources = ["source.amazon-ebs.debian"]
  provisioner "file" {
    source      = "${path.root}/motd"
    destination = "/tmp/motd"
  }
  provisioner "shell" {
    environment_vars = ["GREETING=${var.greeting}"]
    inline = [
      "sudo install -m 0644 /tmp/motd /etc/motd",
      "echo \\"$GREETING\\" | sudo tee /etc/greeting",
    ]
  }
}
"""

SUITE = """\
def test_the_packer_provisioners_ran(host):
    assert host.file("/etc/motd").content_string == "imported\\n"
    assert host.file("/etc/greeting").content_string.strip() == "hello from packer"
"""


def test_an_imported_template_bakes(sandbox: Any, sandbox_dir: Path, ec2: Any, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "packer").mkdir(parents=True)
    (project / "tasks.py").write_text("from goldsmith.tasks import ns\n")
    (project / "packer" / "debian.pkr.hcl").write_text(TEMPLATE)
    (project / "packer" / "motd").write_text("imported\n")
    recipe = project / "recipes" / "debian.yaml"
    import_packer(project / "packer" / "debian.pkr.hcl", recipe)
    # The suite is the one thing a Packer template does not have: add it as a user would.
    (project / "tests" / "images").mkdir(parents=True)
    (project / "tests" / "images" / "test_debian.py").write_text(SUITE)
    recipe.write_text(recipe.read_text() + "validate:\n  suites: [tests/images/test_debian.py]\n")

    work = tmp_path / "work"
    proc = run_invoke(["bake", str(recipe)], work_dir=work, env={"GOLDSMITH_SANDBOX_DIR": str(sandbox_dir)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (build_id,) = build_ids(work)
    build = manifest_of(work, build_id)
    assert build["validation"]["passed"] == 1, build["validation"]
    assert build["image_name"].startswith("imported-")
    (image,) = ec2.describe_images(ImageIds=[build["artifacts"]["us-east-1"]["ami_id"]])["Images"]
    assert {t["Key"]: t["Value"] for t in image["Tags"]}["Greeting"] == "hello from packer"
