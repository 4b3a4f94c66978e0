"""Permission preflight: may these credentials make every call this bake will make? Asked before anything is
launched, so a missing statement costs a second instead of a half-done bake.

One IAM SimulatePrincipalPolicy request (plus GetCallerIdentity, and GetRole for an assumed role) covers
every action of the statements the recipe needs (`goldsmith.aws.permissions.needed_statements`): no EC2
request, so the bake's EC2 request count is unchanged. DryRun calls would be exact (SCPs included) but
only exist for actions whose resources already exist, which CreateSnapshots or RegisterImage's do not
before the launch, and each costs an EC2 request. When the identity cannot be simulated (root, federated
users, or no iam:SimulatePrincipalPolicy) the check warns and the bake goes on; a refusal later is still
named with its statement and policy document (`goldsmith.aws.calls`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goldsmith.aws import iam
from goldsmith.aws.permissions import Needs, Statement, advice_for, needed_statements
from goldsmith.errors import AwsError, PermissionDenied, PreflightError

if TYPE_CHECKING:
    from goldsmith.bake.context import BakeContext
    from goldsmith.bake.sequences import Features
    from goldsmith.bake.state import BuildState


def needs_of(features: Features, ctx: BakeContext, *, encrypted: bool) -> Needs:
    recipe = ctx.loaded.recipe
    share = recipe.image.share
    consumers = bool(share.accounts or share.organizations or share.ous)
    return Needs(copy_regions=bool(features.copy_regions), deprecate=features.deprecate, share=features.share,
                 encrypted=encrypted, consumer_keys=encrypted and consumers,
                 instance_profile=recipe.build.iam_instance_profile is not None,
                 channels=bool(recipe.image.channel or recipe.source.channel),
                 retention=recipe.image.retention is not None)


def check_permissions(state: BuildState, ctx: BakeContext, statements: list[Statement],
                      needed: list[Statement] | None = None) -> None:
    """Raise a PreflightError naming every denied action of `statements`, its statement and the policy document
    to attach (the sharing variant if the bake `needed` any of its statements; default: `statements`)."""
    if not statements or not ctx.target.checks_permissions:
        return
    actions = sorted({a for s in statements for a in s.actions})
    try:
        identity = ctx.aws.identity()
        source = iam.simulation_source(ctx.aws.iam(), identity)
        if source is None:
            return  # the account's root (may do anything) or a federated user IAM cannot simulate
        context = {"kms:ViaService": f"ec2.{state.region}.amazonaws.com", "iam:PassedToService": "ec2.amazonaws.com"}
        denied = iam.denied_actions(ctx.aws.iam(), source, actions, context)
    except PermissionDenied as exc:
        ctx.events.warn(f"could not check this identity's IAM permissions before launching ({exc.code} on "
                        f"{exc.operation}); a missing permission will show when it is used")
        return
    except AwsError as exc:
        ctx.events.warn(f"could not check this identity's IAM permissions before launching: {exc}")
        return
    if denied:
        raise PreflightError(
            f"{identity.arn} may not call {', '.join(denied)}, which this bake needs: "
            f"{advice_for(denied, statements if needed is None else needed)}. Nothing was launched.")


def check_bake_permissions(state: BuildState, ctx: BakeContext, features: Features) -> list[Statement]:
    """The statements the recipe needs as written (explicit keys count as encryption), checked; returns them."""
    statements = needed_statements(needs_of(features, ctx, encrypted=ctx.loaded.recipe.image.encrypt is not None))
    check_permissions(state, ctx, statements)
    return statements


def check_implicit_encryption(state: BuildState, ctx: BakeContext, features: Features,
                              checked: list[Statement]) -> None:
    """Once the preflight found keys the recipe did not name (EBS encryption by default, an encrypted source),
    the KMS statements they need, if not checked already."""
    if not state.kms_keys:
        return
    needed = needed_statements(needs_of(features, ctx, encrypted=True))
    check_permissions(state, ctx, [s for s in needed if s not in checked], needed)
