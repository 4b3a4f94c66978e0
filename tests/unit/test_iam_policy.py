"""The shipped IAM policies come from the code: every AWS API call Goldsmith makes has a statement, and the
files in docs/ are what `invoke docs` generates."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from goldsmith.aws.permissions import (
    POLICY_FILE,
    SHARING_POLICY_FILE,
    STATEMENTS,
    UNLISTED_CALLS,
    Needs,
    advice_for,
    needed_statements,
    policy_document,
    statement_of,
)

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"ec2": "ec2", "kms": "kms", "sts": "sts", "iam": "iam", "ssm": "ssm"}
ALWAYS_ALLOWED = set(UNLISTED_CALLS)


def _operations() -> dict[str, set[str]]:
    """snake_case and CamelCase operation names of the services Goldsmith has clients for -> IAM actions."""
    session = botocore.session.get_session()
    names: dict[str, set[str]] = {}
    for service, prefix in SERVICES.items():
        for op in session.get_service_model(service).operation_names:
            names.setdefault(xform_name(op), set()).add(f"{prefix}:{op}")
            names.setdefault(op, set()).add(f"{prefix}:{op}")
    return names


def called_actions() -> dict[str, set[str]]:
    """IAM action -> files: method calls on clients anywhere in the product (the sandbox aside: it signs with its
    own administrator key), operation names given as strings in goldsmith/aws (paginators, waiters), and
    CamelCase operation names given as strings anywhere (helpers like aws.pagination.pages take those)."""
    operations = _operations()
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "goldsmith").rglob("*.py")):
        if "sandbox" in path.relative_to(REPO).parts or path.name == "permissions.py":
            continue
        in_aws = path.parent.name == "aws"
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    in_aws or node.value[:1].isupper()):
                name = node.value
            for action in operations.get(name or "", ()):
                found.setdefault(action, set()).add(str(path.relative_to(REPO)))
    return found


def test_the_scan_sees_the_calls_it_must_see() -> None:
    found = called_actions()
    for action in ("ec2:RunInstances", "ec2:CreateSnapshots", "ec2:DescribeKeyPairs", "kms:GetKeyPolicy",
                   "iam:SimulatePrincipalPolicy", "ec2:ModifySnapshotAttribute", "sts:GetCallerIdentity"):
        assert action in found, action


def test_every_call_goldsmith_makes_has_a_statement() -> None:
    granted = {a for s in STATEMENTS for a in s.actions}
    missing = {a: sorted(files) for a, files in called_actions().items() if a not in granted | ALWAYS_ALLOWED}
    assert not missing, f"add these actions to goldsmith/aws/permissions.py: {missing}"


def test_no_statement_grants_what_goldsmith_never_calls() -> None:
    """Minimal: an action is in the policy because code calls it, or because AWS authorizes it on our behalf."""
    on_our_behalf = {"ec2:CreateTags", "iam:PassRole", "kms:CreateGrant", "kms:Decrypt",
                     "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
    called = set(called_actions())
    extra = {a for s in STATEMENTS for a in s.actions} - called - on_our_behalf
    assert not extra, f"no code calls {sorted(extra)}: remove them from the policy"


@pytest.mark.parametrize(("sharing", "path"), [(False, POLICY_FILE), (True, SHARING_POLICY_FILE)])
def test_the_shipped_documents_are_the_generated_ones(sharing: bool, path: str) -> None:
    assert json.loads((REPO / path).read_text()) == policy_document(sharing=sharing), "run `invoke docs`"


def test_the_sharing_variant_is_the_base_plus_sharing_statements() -> None:
    base = policy_document(sharing=False)["Statement"]
    sharing = policy_document(sharing=True)["Statement"]
    assert [s for s in sharing if s in base] == base
    added = {a for s in sharing if s not in base for a in s["Action"]}
    assert {"ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute", "kms:GetKeyPolicy", "kms:ListGrants"} <= added
    assert not any(a.startswith(("ec2:Modify", "kms:GetKeyPolicy")) for s in base for a in s["Action"])


def test_what_a_recipe_needs() -> None:
    plain = {s.sid for s in needed_statements(Needs())}
    assert "BuildAndValidationInstances" in plain and "ShareImagesAndSnapshots" not in plain
    assert "CheckOwnPermissions" not in plain  # the check's own permission is not a need of the bake
    full = {s.sid for s in needed_statements(Needs(copy_regions=True, share=True, encrypted=True,
                                                   consumer_keys=True, instance_profile=True, channels=True,
                                                   retention=True))}
    assert full == {s.sid for s in STATEMENTS} - {"CheckOwnPermissions"}


def test_advice_names_statement_and_document() -> None:
    assert statement_of("ec2:RunInstances") is not None
    text = advice_for(["ec2:RunInstances"])
    assert "BuildAndValidationInstances" in text and POLICY_FILE in text
    shared = needed_statements(Needs(share=True))
    assert SHARING_POLICY_FILE in advice_for(["ec2:RunInstances"], shared)
    assert SHARING_POLICY_FILE in advice_for(["ec2:ModifyImageAttribute"])
