"""Every malformed recipe in tests/fixtures/bad is rejected with the exact location and a useful message."""

from __future__ import annotations

from pathlib import Path

import pytest

from goldsmith.errors import RecipeError
from goldsmith.recipe.loader import load_recipe

BAD = Path(__file__).parents[1] / "fixtures" / "bad"

# file -> "line:col: field: message-part" (the text after "<file>:" in one reported problem)
EXPECTED = {
    "ssh_cidr_everyone.yaml": "5:13: build.ssh_cidr: 0.0.0.0/0 would open SSH to the whole internet",
    "bastion_host_key_truncated.yaml": "10:15: build.bastion.host_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv9' is "
    "neither a host key",
    "absurd_size.yaml": "9:13: volumes.data[0].size: size 100000 GiB is larger than EBS allows (16384 GiB)",
    "bad_account_id.yaml": "7:32: image.share.accounts[1]: '12345' is not an AWS account id",
    "bad_ami_id.yaml": "3:7: source.id: 'ami-XYZ' is not a valid AMI id",
    "bad_image_name_chars.yaml": "5:9: image.name: rendered name 'fixture: 20250101120000!' is not a valid AMI name",
    "bad_org_arn.yaml": "7:21: image.share.organizations[0]: 'arn:aws:organizations::123456789012:org/o-abc' is not",
    "bad_ou_arn.yaml": "7:11: image.share.ous[0]: 'arn:aws:organizations::123456789012:ou/o-abcde12345/ou-x' is not",
    "bad_recipe_source.yaml": "3:11: source.recipe: no recipe 'nope': expected recipes/nope.yaml",
    "both_inline_and_script.yaml": "7:5: provision[0]: give exactly one of inline or script (got both)",
    "copy_region_without_key.yaml": "10:7: image.encrypt.regions: no KMS key for eu-west-1 (the image is built in "
    "us-east-1, the region of kms_key): a copy is encrypted with a key of its own region",
    "copy_regions_without_keys.yaml": "8:5: image.encrypt.regions: no KMS key for us-west-2, eu-west-1, and only one "
    "of them can be the build region",
    "deprecate_after_too_far.yaml": "6:20: image.deprecate_after: 4000 days is more than AWS allows: an image can be "
    "deprecated at most 10 years (3650 days) ahead",
    "deprecate_at_too_far.yaml": "6:17: image.deprecate_at: 2099-01-01 00:00 UTC is more than 3650 days ahead (AWS "
    "allows 10 years)",
    "deprecate_both.yaml": "7:17: image.deprecate_at: give deprecate_after or deprecate_at, not both",
    "deprecate_in_past.yaml": "6:17: image.deprecate_at: 2020-01-01 00:00 UTC is in the past; give a future moment",
    "deprecate_negative.yaml": "6:20: image.deprecate_after: must be greater than 0, got -1",
    "deprecate_public_too_far.yaml": "7:20: image.deprecate_after: 1000 days is more than 730 for a public image "
    "(AWS allows 2 years from its creation); give at most 730.",
    "duplicate_device.yaml": "9:16: volumes.data[1].device: device /dev/xvdf is already used by /dev/sdf",
    "duplicate_key.yaml": "7:3: image.description: duplicate key 'description' (first given on line 6)",
    "empty.yaml": " the file is empty",
    "missing_image_name.yaml": "5:3: image.name: required field is missing",
    "missing_script.yaml": "8:13: provision[0].script: no such file: provisioners/nope.sh",
    "missing_source.yaml": "1:1: source: required field is missing",
    "missing_suite.yaml": "7:12: validate.suites[0]: no such file: suites/nope.py",
    "missing_template.yaml": "8:13: provision[0].source: no such file: templates/nope.j2",
    "mode_as_number.yaml": "10:11: provision[0].mode: write the mode as a quoted string like '0644'",
    "negative_size.yaml": "8:11: volumes.root.size: size must be greater than 0 GiB, got -8",
    "non_utf8.yaml": "2:17: the file is not UTF-8 text (byte 0xe9",
    "only_comments.yaml": " the file has only comments",
    "public_encrypted.yaml": "7:13: image.share.public: an encrypted AMI cannot be made public",
    "region_key_of_other_region.yaml": "10:18: image.encrypt.regions.eu-west-1: KMS key "
    "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab is in us-west-2, but it must be in "
    "eu-west-1",
    "relative_mount.yaml": "10:14: volumes.data[0].mount: mount must be an absolute path, got 'data'",
    "secret_without_value.yaml": "7:3: variables.token: secret variable 'token' has no default and no value was given",
    "source_id_and_filter.yaml": "3:3: source: give exactly one of id, filter or recipe (got id and filter)",
    "tab_indent.yaml": "5:1: YAML syntax error: a tab is used for indentation",
    "template_syntax.yaml": "5:9: image.name: template syntax error: unexpected end of template",
    "three_mistakes.yaml": "5:3: build.instance_typ: unknown field 'instance_typ' (did you mean 'instance_type'?)",
    "top_level_list.yaml": "1:1: a recipe must be a mapping of fields (name, source, image, ...), got a list",
    "undefined_var_image_name.yaml": "7:9: image.name: undefined variable 'env_nam' (did you mean 'env_name'?)",
    "undefined_var_in_template.yaml": (
        "10:13: provision[0].source: templates/typo.j2:3: undefined variable 'gretting' (did you mean 'greeting'?)"
    ),
    "undefined_var_inline.yaml": "11:9: provision[0].inline[0]: undefined variable 'pakage' (did you mean 'package'?)",
    "unknown_key.yaml": "7:3: build.instance_typ: unknown field 'instance_typ' (did you mean 'instance_type'?)",
    "unknown_provisioner.yaml": "9:11: provision[1].type: unknown 'shel' (known: file, reboot, shell, template)",
    "unknown_region.yaml": "6:24: image.regions[1]: unknown region 'eu-wset-2' (did you mean 'eu-west-2'?)",
    "variable_shadows_fact.yaml": "7:3: variables.region: variable 'region' would hide the build fact of that name",
    "volume_gp3_iops_out_of_range.yaml": "7:36: volumes.root.iops: a gp3 volume takes 3000..16000 IOPS, got 20000",
    "volume_io1_without_iops.yaml": "8:7: volumes.data[0].iops: an io1 volume needs iops (100..64000): AWS requires "
    "it for io1 and io2",
    "volume_st1_too_small.yaml": "8:32: volumes.data[0].size: an st1 volume is 125..16384 GiB, got 20",
    "volume_throughput_not_gp3.yaml": "10:17: volumes.root.throughput: throughput is only for gp3 volumes, not gp2",
    "vpc_without_subnet.yaml": "7:11: build.vpc_id: vpc_id vpc-0123456789abcdef0 needs subnet_id too",
    "wrong_type.yaml": "8:10: build.timeouts.ssh: expected a whole number, got 'ten'",
    "yaml_syntax.yaml": "7:1: YAML syntax error: expected ',' or ']', but got '<stream end>'",
}


def problems_of(path: Path) -> list[str]:
    """The problems reported for path, each without its leading "<file>:"."""
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, environ={})
    label = f"{path}:"
    lines = [str(p) for p in caught.value.problems]
    assert all(line.startswith(label) for line in lines), lines
    return [line[len(label):] for line in lines]


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_recipe_is_reported_at_its_place(name: str) -> None:
    found = problems_of(BAD / name)
    assert any(EXPECTED[name] in problem for problem in found), found


def test_every_mistake_in_a_file_is_reported() -> None:
    found = problems_of(BAD / "three_mistakes.yaml")
    assert found == [
        "5:3: build.instance_typ: unknown field 'instance_typ' (did you mean 'instance_type'?)",
        "8:11: volumes.root.size: size must be greater than 0 GiB, got 0",
        "10:9: image.name: undefined variable 'timestmp' (did you mean 'timestamp'?)",
    ]


def test_relative_paths_are_shown_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD.parent)
    with pytest.raises(RecipeError) as caught:
        load_recipe(Path("bad/unknown_provisioner.yaml"), environ={})
    assert str(caught.value) == (
        "bad/unknown_provisioner.yaml:9:11: provision[1].type: unknown 'shel' (known: file, reboot, shell, template)"
    )


def test_recipe_error_is_an_input_error_with_exit_code_2() -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe(BAD / "empty.yaml", environ={})
    assert caught.value.exit_code == 2
