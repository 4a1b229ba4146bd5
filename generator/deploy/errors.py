"""The errors of the deploy side, and how to read botocore's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.deploy.events import Event


class DeployError(Exception):
    """A deploy step failed or was refused; `str()` is the message for the user."""


class Refused(DeployError):
    """The change set does something dangerous that was not explicitly allowed."""


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
