"""Fixes to moto 5.2.5's IAM enforcement so a refused call looks as it does on AWS, and the IAM policy
simulator a permission preflight asks.

- moto answers every refusal with the IAM/STS shape (``AccessDenied``, HTTP 403, an XML body). EC2 answers
  ``UnauthorizedOperation`` ("You are not authorized to perform this operation. ..."), and JSON services such
  as KMS answer ``AccessDeniedException`` in a JSON body (moto's XML body there is not even parseable by
  botocore: the client sees code "403"). `_raise_access_denied` answers in the service's own shape. A
  DryRun call is authorized before its DryRun answer, as on AWS: moto already checks IAM before dispatching.
- moto lacks SimulatePrincipalPolicy. `_simulate_principal_policy` evaluates the user's (or role's) policies
  with moto's own evaluator, the one that decides the real calls, so the simulation and the calls agree.
  Like moto's evaluator it matches actions, not resources, and ignores conditions it cannot evaluate.
- moto keeps other accounts apart by the ``x-moto-account-id`` header (tests use it for a KMS key a security
  account owns), and looks the request's access key up in that account's IAM only, where the sandbox's keys
  do not exist. `_access_key` looks a key the named account does not know up in the sandbox's own account:
  its keys act in every account of the sandbox, as an organization's administrator role would. The
  signature is still checked with that key's secret.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.iam import access_control
from moto.iam.access_control import CreateAccessKeyFailure, IAMPolicy, IAMRequest, PermissionResult
from moto.iam.responses import IamResponse
from werkzeug.exceptions import HTTPException


class Refusal(HTTPException):
    """A refusal moto's request handling sends as it is: `code` is the HTTP status, `description` the body
    (moto answers an HTTPException raised while authorizing a request with exactly these two)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(description=body)
        self.code = status


def ec2_refusal(message: str) -> Refusal:
    """EC2's error document (Response/Errors/Error, no Type), HTTP 403."""
    return Refusal(403, f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
                        f"<Code>UnauthorizedOperation</Code><Message>{escape(message)}</Message></Error></Errors>"
                        f"<RequestID>{uuid.uuid4()}</RequestID></Response>")


def json_refusal(message: str) -> Refusal:
    """A JSON service's AccessDeniedException (KMS answers it with HTTP 400)."""
    return Refusal(400, json.dumps({"__type": "AccessDeniedException", "message": message}))


@functools.cache
def _protocol(service: str) -> str:
    import botocore.session

    try:
        return str(botocore.session.get_session().get_service_model(service).metadata["protocol"])
    except Exception:
        return "query"


def denial_message(user_arn: str, action: str) -> str:
    return (f"User: {user_arn} is not authorized to perform: {action} on resource: * because no "
            f"identity-based policy allows the {action} action")


def _raise_access_denied(self: IAMRequest) -> None:
    """AWS's refusal, in the shape of the service that was called."""
    message = denial_message(self._access_key.arn, self._action)
    service = self._action.split(":", 1)[0]
    if service == "ec2":
        raise ec2_refusal(f"You are not authorized to perform this operation. {message}")
    if _protocol(service) == "json":
        raise json_refusal(message)
    _orig_raise_access_denied(self)


_orig_raise_access_denied = IAMRequest._raise_access_denied


def principal_policies(backend: Any, arn: str) -> list[Any]:
    """Every policy that applies to a user (inline, attached, its groups') or a role (inline, attached)."""
    kind, _, name = arn.split(":", 5)[5].partition("/")
    name = name.rsplit("/", 1)[-1]
    policies: list[Any] = []
    if kind == "user":
        policies += [backend.get_user_policy(name, p) for p in backend.list_user_policies(name)]
        policies += backend.list_attached_user_policies(name)[0]
        for group in backend.get_groups_for_user(name):
            policies += [backend.get_group_policy(group.name, p) for p in backend.list_group_policies(group.name)]
            policies += backend.list_attached_group_policies(group.name)[0]
    elif kind == "role":
        role = backend.get_role(name)
        policies += [{"policy_document": doc} for doc in role.policies.values()]
        policies += list(role.managed_policies.values())
    else:
        from moto.iam.exceptions import InvalidInput

        raise InvalidInput(f"PolicySourceArn {arn} is not a user or a role")
    return policies


def decision(policies: list[Any], action: str, context: dict[str, str]) -> str:
    """allowed / explicitDeny / implicitDeny, as IAM's simulator names them."""
    allowed = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, "*", incoming_condition_values=context)
        if result == PermissionResult.DENIED:
            return "explicitDeny"
        allowed = allowed or result == PermissionResult.PERMITTED
    return "allowed" if allowed else "implicitDeny"


def _simulate_principal_policy(self: IamResponse) -> ActionResult:
    """AWS SimulatePrincipalPolicy for a user or role of this account, on resource '*'."""
    source = self._get_param("PolicySourceArn")
    policies = principal_policies(self.backend, source)
    context = {str(e["ContextKeyName"]): str((e.get("ContextKeyValues") or [""])[0])
               for e in self._get_param("ContextEntries", []) or []}
    results = [{"EvalActionName": action, "EvalResourceName": "*", "EvalDecision": decision(policies, action, context),
                "MatchedStatements": [], "MissingContextValues": []}
               for action in self._get_param("ActionNames", []) or []]
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


_orig_create_access_key = access_control.create_access_key


def _access_key(account_id: str, partition: str, access_key_id: str, headers: dict[str, str]) -> Any:
    """The key in the request's account, else in the sandbox's own account (see the module's docstring)."""
    try:
        return _orig_create_access_key(account_id, partition, access_key_id, headers)
    except CreateAccessKeyFailure:
        if account_id == DEFAULT_ACCOUNT_ID:
            raise
        return _orig_create_access_key(DEFAULT_ACCOUNT_ID, partition, access_key_id, headers)


def install() -> None:
    """Patch moto's IAM enforcement and IAM API (called once by moto_fixes.apply_all)."""
    access_control.create_access_key = _access_key
    IAMRequest._raise_access_denied = _raise_access_denied  # type: ignore[method-assign]
    IamResponse.simulate_principal_policy = _simulate_principal_policy  # type: ignore[attr-defined]
