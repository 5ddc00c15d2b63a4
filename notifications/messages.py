"""The words of every notification: one subject and one body per kind, translated (Chinese by default)."""

from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from issues.models import Notice

# One subject and body per Notice (issues.models). Placeholders come from the notification's payload, captured when
# the change happened (see outbox.py).
MESSAGES = {
    Notice.SUBMITTED: (
        _("New report %(number)s"),
        _("A new report %(number)s is waiting for triage: %(summary)s"),
    ),
    Notice.RETURNED: (
        _("Report %(number)s was returned"),
        _("%(number)s was returned by a department and needs routing again. Reason: %(note)s"),
    ),
    Notice.RATED_UNSATISFIED: (
        _("Report %(number)s rated unsatisfied"),
        _("The reporter rated the result of %(number)s as unsatisfied; it is open again: %(note)s"),
    ),
    Notice.DISPATCHED: (
        _("Report %(number)s dispatched to you"),
        _("%(number)s was dispatched to your department; please accept it before %(response_due)s: %(summary)s"),
    ),
    Notice.SUMMONED: (
        _("Summoned: report %(number)s"),
        _("The street office summons your department to %(number)s (吹哨报到): %(summary)s"),
    ),
    Notice.REOPENED: (
        _("Report %(number)s reopened"),
        _("%(number)s is open again and being handled anew: %(note)s"),
    ),
    Notice.ACCEPTED: (
        _("Your report %(number)s is being handled"),
        _("A department accepted your report %(number)s and is handling it."),
    ),
    Notice.RESOLVED: (
        _("Your report %(number)s was resolved"),
        _("Your report %(number)s was resolved: %(note)s Please rate the result."),
    ),
    Notice.CLOSED: (
        _("Your report %(number)s is closed"),
        _("Your report %(number)s is closed. Thank you."),
    ),
    Notice.REJECTED: (
        _("Your report %(number)s was not accepted"),
        _("Your report %(number)s was not accepted (%(reason)s). %(note)s"),
    ),
    Notice.DUPLICATE_LINKED: (
        _("A report like yours: %(number)s"),
        _("Another report of the same problem was joined to your report %(number)s."),
    ),
    Notice.DUPLICATE_RESOLVED: (
        _("The problem in your report %(number)s was resolved"),
        _("Your report %(number)s was joined to another report of the same problem, which has now been resolved."),
    ),
    Notice.ESCALATED: (
        _("Escalated to you: report %(number)s"),
        _("%(number)s was escalated to the %(level)s level: %(note)s"),
    ),
    Notice.EXTENSION_REQUESTED: (
        _("Extension requested for %(number)s"),
        _("A department asks for %(workdays)s more working days on %(number)s: %(note)s"),
    ),
    Notice.SUPERVISED: (
        _("Supervised: report %(number)s"),
        _("The street office supervises %(number)s (督办) and asks you to act on it: %(note)s"),
    ),
    Notice.EXTENSION_REFUSED: (
        _("Extension refused for %(number)s"),
        _("The request for %(workdays)s more working days on %(number)s was refused; the deadline stands. %(note)s"),
    ),
    Notice.REMINDER_RESPONSE: (
        _("Accept %(number)s before %(due)s"),
        _("The response deadline of %(number)s passes at %(due)s; please accept it before then."),
    ),
    Notice.REMINDER_RESOLUTION: (
        _("Resolve %(number)s before %(due)s"),
        _("The resolution deadline of %(number)s passes at %(due)s (one working day left)."),
    ),
    Notice.AREA_NEW: (
        _("New in %(area)s: %(category)s"),
        _("A new issue in %(grid)s (%(area)s), seen by the community: %(summary)s"),
    ),
    Notice.AREA_RESOLVED: (
        _("Resolved in %(area)s: %(category)s"),
        _("An issue in %(grid)s (%(area)s) was resolved: %(summary)s. What was done: %(note)s"),
    ),
    Notice.AREA_DIGEST: (
        _("Today in %(area)s: %(count)s updates"),
        _("New public issues and resolutions in %(area)s:\n%(lines)s"),
    ),
    Notice.HOTSPOT_RAISED: (
        _("Hot spot: %(count)s reports of %(category)s in %(grid)s"),
        _(
            "%(count)s reports of %(category)s in %(grid)s within a day, where about %(expected)s were expected; "
            "the first is %(number)s. Handle them together on the escalation desk."
        ),
    ),
}
# How one line of a daily digest starts, by the alert it stands for.
DIGEST_LINES = {Notice.AREA_NEW: _("New"), Notice.AREA_RESOLVED: _("Resolved")}
FALLBACK = (_("Report %(number)s was updated"), _("%(number)s: %(note)s"))
LEVEL_NAMES = {0: _("community"), 1: _("street"), 2: _("district")}
REJECT_REASONS = {"invalid": _("invalid"), "duplicate": _("duplicate"), "out_of_scope": _("out of scope")}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


class _Defaults(dict):
    """Fill any placeholder the payload lacks with an empty string, so one missing key never loses a message."""

    def __missing__(self, key):
        return ""


def message_render(*, kind: str, payload: dict, language: str | None = None) -> Message:
    """Return the subject and body of a notification of `kind`, in `language` (default: the site's)."""
    subject, body = MESSAGES.get(kind, FALLBACK)
    with translation.override(language or settings.LANGUAGE_CODE):
        values = _Defaults(payload)
        values["level"] = str(LEVEL_NAMES.get(payload.get("level"), ""))
        values["reason"] = str(REJECT_REASONS.get(payload.get("reason"), payload.get("reason", "")))
        values["lines"] = "\n".join(_digest_line(item) for item in payload.get("items") or [])
        return Message(subject=str(subject) % values, body=(str(body) % values).strip())


def _digest_line(item: dict) -> str:
    line = f"- {DIGEST_LINES.get(item.get('kind'), '')} · {item.get('grid', '')} · {item.get('summary', '')}"
    return f"{line} → {item['note']}" if item.get("note") else line


def email_render(*, kind: str, payload: dict, language: str | None = None) -> tuple[str, str]:
    """Return the subject and plain-text body of the email for a notification."""
    message = message_render(kind=kind, payload=payload, language=language)
    with translation.override(language or settings.LANGUAGE_CODE):
        text = render_to_string("notifications/email.txt", {"message": message, "payload": payload})
    return f"[GridDesk] {message.subject}", text
