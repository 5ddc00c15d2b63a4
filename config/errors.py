"""The project's refusals, for every app: each error carries a stable code and the HTTP status API.md gives it.

Every app raises these (workflow, selectors, territory, Open311, the API's own views); config.api.exceptions turns
them into API.md's error body `{"error": {"code", "message", "fields"}}` and pages put the message beside the
field. The codes never change.

Messages are worded in English, the source language, and marked for the catalogue (`gettext_noop`, or `Message` for
one with values in it); the edge that shows them translates them into the reader's language with `translate`: the
API's error body (config.api.exceptions), Open311's errors and the pages (config.pages). So a refusal reads the
same in logs and tests whatever the language, and every edge words it alike.
"""

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop


class Message(str):
    """An English message with values in it, that keeps its catalogue msgid and values so that it can be translated.

    `Message(gettext_noop("Send at most %(count)s photos."), count=6)` reads "Send at most 6 photos." and `translate`
    gives it in the reader's language.
    """

    def __new__(cls, msgid: str, **params):
        self = super().__new__(cls, msgid % params if params else msgid)
        self.msgid, self.params = msgid, params
        return self


def one_of(choices) -> Message:
    """Return the message refusing a value that is not one of `choices` (the API's codes, named as they are)."""
    return Message(gettext_noop("Must be one of %(choices)s."), choices=", ".join(choices))


def translate(message) -> str:
    """Return `message` in the active language (its catalogue translation; itself when it has none)."""
    if isinstance(message, Message):
        return gettext(message.msgid) % message.params if message.params else gettext(message.msgid)
    if isinstance(message, Promise):
        return str(message)
    return gettext(str(message)) if message else ""


class GridDeskError(Exception):
    """Refuse a request or an action; the base of every GridDesk error."""

    code = "workflow_error"
    status = HTTPStatus.BAD_REQUEST
    default_message = gettext_noop("The action was refused.")

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None):
        self.message = message or self.default_message
        self.fields = fields or {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        """Return API.md's error body."""
        body = {"code": self.code, "message": translate(self.message)}
        if self.fields:
            body["fields"] = {name: [translate(m) for m in messages] for name, messages in self.fields.items()}
        return {"error": body}


# The name the workflow, the pages and the tests know the base by: the same class.
WorkflowError = GridDeskError


class InvalidTransition(WorkflowError):
    """Refuse an action that the issue's current state does not allow."""

    code = "invalid_transition"
    status = HTTPStatus.CONFLICT
    default_message = gettext_noop("This action is not allowed in the issue's current state.")


class StaleVersion(WorkflowError):
    """Refuse a change made against an older version of the issue."""

    code = "stale_version"
    status = HTTPStatus.CONFLICT
    default_message = gettext_noop("The issue has changed since you read it; reload and try again.")


class PermissionDenied(WorkflowError, DjangoPermissionDenied):
    """Refuse an action the actor's roles do not allow on an issue they can see (a page answers Django's 403)."""

    code = "permission_denied"
    status = HTTPStatus.FORBIDDEN
    default_message = gettext_noop("You may not take this action on this issue.")


class NotFound(WorkflowError, Http404):
    """Refuse to act on an issue that does not exist or that the actor cannot see (the same answer; a page: 404)."""

    code = "not_found"
    status = HTTPStatus.NOT_FOUND
    default_message = gettext_noop("Not found.")


class ValidationFailed(WorkflowError):
    """Refuse bad arguments; `fields` names each bad field with its messages."""

    code = "validation_error"
    status = HTTPStatus.BAD_REQUEST
    default_message = gettext_noop("Some fields are invalid.")

    @classmethod
    def on(cls, field: str, message: str) -> "ValidationFailed":
        """Return the error for one bad field."""
        return cls(message, fields={field: [message]})


class Throttled(WorkflowError):
    """Refuse a caller who asked too often; `retry_after` says in how many seconds to try again (None: unknown)."""

    code = "throttled"
    status = HTTPStatus.TOO_MANY_REQUESTS
    default_message = gettext_noop("Too many requests; try again later.")

    def __init__(self, message: str | None = None, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ExportNotReady(WorkflowError):
    """Refuse the file of an export job that has not finished (or failed): ask for its status instead."""

    code = "export_not_ready"
    status = HTTPStatus.CONFLICT
    default_message = gettext_noop("The export is not finished.")
