"""The errors of the deploy side, and how to read botocore's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.deploy.events import Event


class DeployError(Exception):
    """A deploy step failed or was refused; `str()` is the message for the user."""


class Refused(DeployError):
    """The change set does something dangerous that was not explicitly allowed."""


class Declined(DeployError):
    """The user said no at the approval prompt: nothing is wrong, nothing was done."""


class Interrupted(DeployError):
    """Ctrl-C: `str()` says what state things were left in and how to follow them."""


class DeployFailed(DeployError):
    """The stack ended in a failed state; `root_cause` is the first real failure."""

    def __init__(self, message: str, status: str, root_cause: Event | None):
        super().__init__(message)
        self.status = status
        self.root_cause = root_cause


def error_message(exc: Exception) -> str:
    """The service's own sentence of a ClientError (else `str(exc)`)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Message", str(exc))
    return str(exc)


def not_found(exc: Exception) -> bool:
    return "does not exist" in error_message(exc)


# What to do about an AWS error, by its code (ClientError) or class name (BotoCoreError).
_HINTS = (
    (("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"),
     "the identity lacks a permission for {operation}: see \"Permissions the deploying identity needs\" in the "
     "README, or deploy with a role that has it"),
    (("ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"),
     "the credentials have expired: refresh them (e.g. `aws sso login`) and run again"),
    (("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "AuthFailure",
      "InvalidAccessKeyId"),
     "the credentials are not valid for this endpoint: check --profile / AWS_PROFILE (for `strata local`, "
     "pass --endpoint-url)"),
    (("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"),
     "AWS is throttling the calls: wait a minute and run again"),
    (("LimitExceededException", "LimitExceeded"),
     "an account quota is reached: raise it in Service Quotas or delete unused stacks"),
    (("InsufficientCapabilitiesException",), "the template needs a capability Strata did not pass: report this"),
    (("NoSuchBucket",), "create the bucket in the stack's region, or leave out --bucket to use Strata's default"),
    (("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"),
     "no AWS credentials found: set AWS_PROFILE or pass --profile (or --endpoint-url / --local for a local "
     "endpoint, which needs none)"),
    (("ProfileNotFound",), "no such profile in ~/.aws/config: check --profile / AWS_PROFILE"),
    (("EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError", "ReadTimeoutError"),
     "the endpoint did not answer: check --endpoint-url and the network (is `strata local` running?)"),
    (("ResponseParserError",),
     "the endpoint's answer is not an AWS API response: is --endpoint-url an AWS endpoint (moto, LocalStack)?"),
)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code", "") or type(exc).__name__
    return type(exc).__name__


def explain(exc: Exception, where: str) -> str:
    """One message for an AWS error: where (stack or bucket, region), the
    operation, the service's own sentence, and what to do."""
    code = _code(exc)
    operation = getattr(exc, "operation_name", "")
    message = error_message(exc).strip()
    hint = next((text for codes, text in _HINTS if code in codes), "")
    if not hint and not_found(exc):
        hint = "it is not deployed (or was deleted), or it is in another region: check `strata status` and --region"
    if not hint and "IN_PROGRESS state" in message:
        hint = "another operation is running on it: wait for it to end (`strata status`) and run again"
    if not hint:
        hint = "read the message above; run again with --verbose for more detail"
    if operation:
        head = f"{where}: {operation} failed" + (f" ({code})" if code not in message else "")
    else:  # botocore's own errors (credentials, connection) come before any operation is sent
        head = f"{where}: {code}"
    return f"{head}: {message}\nwhat to do: {hint.format(operation=operation or 'this call')}"


@contextlib.contextmanager
def aws_errors(where: str) -> Iterator[None]:
    """Turn botocore's errors inside the block into a DeployError that names `where`."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        raise DeployError(explain(exc, where)) from exc
