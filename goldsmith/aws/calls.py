"""Translate botocore failures into Goldsmith errors at the boundary, and wait with botocore waiters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from goldsmith.aws.permissions import action_named, advice_for
from goldsmith.aws.polling import FLOOR, Poll
from goldsmith.aws.wait_log import WaitLog, record_wait
from goldsmith.aws.waiters import custom_waiter
from goldsmith.engine.cancel import NEVER, CancelToken
from goldsmith.errors import AwsError, PermissionDenied, WaitTimeout

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.waiter import SingleWaiterConfig, Waiter


# What AWS answers when IAM (or a key policy) refuses a call: EC2, IAM/STS, and JSON services such as KMS.
DENIED_CODES = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})


@contextmanager
def aws_call(operation: str, resource: str = "") -> Iterator[None]:
    """Run boto3 calls; a failure becomes an AwsError saying what was being done to what, and a refusal
    a PermissionDenied naming the action and the policy statement that grants it."""
    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", exc))
        target = f" {resource}" if resource else ""
        if code in DENIED_CODES:
            raise _denied(operation, target, code, message, resource) from exc
        raise AwsError(
            f"{operation}{target} failed: {code}: {message}", operation=operation, code=code, resource=resource,
            retries=retries_of(exc.response),
        ) from exc
    except BotoCoreError as exc:
        target = f" {resource}" if resource else ""
        raise AwsError(f"{operation}{target} failed: {exc}", operation=operation, resource=resource) from exc


def _denied(operation: str, target: str, code: str, message: str, resource: str) -> PermissionDenied:
    action = action_named(operation) or operation
    return PermissionDenied(
        f"{operation}{target} was refused ({code}): these credentials may not call {action}; "
        f"{advice_for([action])}. AWS said: {message}",
        operation=operation, code=code, resource=resource)


def retries_of(response: Mapping[str, Any]) -> int:
    """How often botocore retried the call before this answer (a response's, or a ClientError's)."""
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts") or 0)


def error_code(exc: BaseException) -> str:
    """The AWS error code behind an AwsError or ClientError, or ''."""
    if isinstance(exc, AwsError):
        return exc.code
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def wait(
    client: BaseClient,
    waiter_name: str,
    *,
    resource: str,
    wanted: str,
    timeout: float,
    delay: float,
    cancel: CancelToken = NEVER,
    poll: Poll | None = None,
    kind: str = "other",
    log: WaitLog | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Wait with botocore's own waiter; a timeout names the resource and the state it was stuck in.

    The waiter's acceptors decide success, retry and failure, one attempt at a time
    (MaxAttempts=1); the pauses between attempts follow `poll` (else a fixed `delay`) and sleep on
    `cancel`, so a cancelled run stops waiting within one pause, even in a worker thread. Returns the
    waiter's last answer (the describe that saw the wanted state), so callers need not describe the
    resource once more. With `log`, the wait is recorded there (kind, duration, checks, last pause).

    Generic over clients and waiter names (botocore's and ours), so it takes any `BaseClient`; the
    answer is that waiter's Describe* response, which the caller knows the shape of.
    """
    schedule = poll or Poll.fixed(delay)
    waiter = custom_waiter(client, waiter_name) or client.get_waiter(waiter_name)
    seen: dict[str, Any] = {}
    waiting_thread = threading.get_ident()

    def keep(parsed: dict[str, Any], **_: Any) -> None:
        if threading.get_ident() == waiting_thread:  # the client may be shared with other threads
            seen["response"] = parsed

    event = f"after-call.{client.meta.service_model.service_id.hyphenize()}.{_waiter_config(waiter).operation}"
    client.meta.events.register(event, keep, unique_id=f"goldsmith-wait-{waiting_thread}")
    started = time.monotonic()
    deadline = started + timeout
    attempt, pause = 0, 0.0
    try:
        while True:
            attempt += 1
            try:
                waiter.wait(WaiterConfig={"Delay": schedule.least, "MaxAttempts": 1}, **params)
                record_wait(log, kind, resource, started, attempt, pause)
                return dict(seen.get("response") or {})
            except WaiterError as exc:
                last = time.monotonic() >= deadline
                if not str(exc.kwargs.get("reason", "")).startswith("Max attempts exceeded") or last:
                    _raise_wait_error(exc, resource=resource, wanted=wanted, timeout=timeout, waiter_name=waiter_name)
            pause = min(schedule.pause(time.monotonic() - started, attempt), max(0.0, deadline - time.monotonic()))
            cancel.sleep(max(pause, FLOOR))
    finally:
        client.meta.events.unregister(event, unique_id=f"goldsmith-wait-{waiting_thread}")


def _waiter_config(waiter: Waiter) -> SingleWaiterConfig:
    """The waiter's config: botocore sets a SingleWaiterConfig, which botocore-stubs types as a dict."""
    config: SingleWaiterConfig = waiter.config  # type: ignore[assignment]
    return config


def _raise_wait_error(exc: WaiterError, *, resource: str, wanted: str, timeout: float, waiter_name: str) -> None:
    last = exc.last_response or {}
    state = _describe_state(last)
    if "Max attempts exceeded" in str(exc):
        raise WaitTimeout(
            f"{resource} did not become {wanted} within {timeout:.0f} s (last state: {state or 'unknown'})",
            operation=waiter_name,
            resource=resource,
            code="WaitTimeout",
        ) from exc
    err = last.get("Error", {}) if isinstance(last, dict) else {}
    if err:
        raise AwsError(
            f"waiting for {resource} to become {wanted} failed: {err.get('Code')}: {err.get('Message')}",
            operation=waiter_name,
            code=str(err.get("Code", "")),
            resource=resource,
        ) from exc
    raise AwsError(
        f"{resource} can no longer become {wanted} (state: {state or 'unknown'})",
        operation=waiter_name,
        resource=resource,
        code="WaiterFailure",
    ) from exc


def _describe_state(response: Any) -> str:
    """Dig the resource state out of a Describe* response, for error messages."""
    if not isinstance(response, dict):
        return ""
    for reservation in response.get("Reservations", []):
        for inst in reservation.get("Instances", []):
            return str(inst.get("State", {}).get("Name", ""))
    for image in response.get("Images", []):
        return str(image.get("State", ""))
    for snap in response.get("Snapshots", []):
        return f"{snap.get('State', '')} {snap.get('Progress', '')}".strip()
    return ""
