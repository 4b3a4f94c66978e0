"""One exception tree for Goldsmith.

Every error a user can see is a sentence they can act on. Errors of other libraries (botocore,
paramiko, pydantic, yaml) are translated at the boundary with ``raise ... from exc``::

    GoldsmithError                      exit_code 1
    ├── InputError                      exit_code 2: bad recipe, pipeline, variable or argument
    │   ├── RecipeError                 every problem of one file at once, each with file:line:col
    │   └── PreflightError              the account says no before anything is launched
    ├── EnvironmentProblem              exit_code 2: the machine lacks something (root, debootstrap, ...)
    ├── BakeError                       exit_code 1: the bake failed after it started (cleaned up)
    │   ├── AwsError                    an AWS call failed (operation, resource, code)
    │   │   ├── WaitTimeout             a resource stayed in a state too long
    │   │   └── PermissionDenied        IAM refused the call (names the action and the policy to attach)
    │   ├── SshError                    could not reach or talk to an instance
    │   ├── ProvisionError              a provisioner failed on the instance
    │   └── ValidationFailed            the image did not pass its suites
    ├── CleanupError                    something could not be removed ("delete manually: <id>")
    └── Interrupted                     exit_code 130: Ctrl-C or SIGTERM (cleaned up)
"""

from __future__ import annotations

from dataclasses import dataclass


class GoldsmithError(Exception):
    """Base of every error Goldsmith raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One mistake in an input file, located as precisely as we can."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class InputError(GoldsmithError):
    """The user's input is wrong; nothing was sent to AWS."""

    exit_code = 2


class RecipeError(InputError):
    """All the problems found in one or more input files, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.field))
        super().__init__("\n".join(str(p) for p in self.problems))


class PreflightError(InputError):
    """The account or region cannot serve the recipe (name taken, subnet missing, key unusable)."""


class EnvironmentProblem(GoldsmithError):
    """This machine lacks something Goldsmith needs; the message says what to install."""

    exit_code = 2


class BakeError(GoldsmithError):
    """The bake failed after it started; everything it created has been cleaned up."""


class AwsError(BakeError):
    """An AWS API call failed. `retries`: how often botocore had retried the call before this answer
    (ResponseMetadata.RetryAttempts); an earlier attempt may have been carried out with its answer lost."""

    def __init__(self, message: str, *, operation: str = "", code: str = "", resource: str = "",
                 retries: int = 0) -> None:
        self.operation = operation
        self.code = code
        self.resource = resource
        self.retries = retries
        super().__init__(message)


class WaitTimeout(AwsError):
    """A resource did not reach the wanted state in time."""


class PermissionDenied(AwsError):
    """The credentials may not make this call (UnauthorizedOperation, AccessDenied, AccessDeniedException)."""


class SshError(BakeError):
    """The instance could not be reached or the SSH session broke."""


class ProvisionError(BakeError):
    """A provisioner failed; the message carries its index, name, exit status and output tail."""


class ValidationFailed(BakeError):
    """The image failed its validation suites."""


class CleanupError(GoldsmithError):
    """Some resources could not be removed; the message lists them for manual deletion."""


class Interrupted(GoldsmithError):
    """The user pressed Ctrl-C or the process got SIGTERM; cleanup has run."""

    exit_code = 130
