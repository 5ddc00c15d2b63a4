"""The page layer's shared parts: forms whose errors are tied to their fields, and workflow refusals shown on them.

A page view reads like an API view: parse a form, call the workflow, redirect (POST-redirect-GET). When the workflow
refuses (config.errors.WorkflowError), `form_refuse` puts the refusal beside the field it names, or at the top of the
form, with the message of its stable code in the reader's language; the typed text stays in the bound form.
"""

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from config.errors import WorkflowError, translate

# The message of each stable code (config.errors), in the reader's language.
CODE_MESSAGES = {
    "validation_error": _("Some fields are invalid."),
    "invalid_transition": _("This action is not allowed in the issue's current state."),
    "stale_version": _("The issue has changed since you opened it; it is shown as it is now. Try again."),
    "permission_denied": _("You may not take this action on this issue."),
    "not_found": _("Not found."),
    "throttled": _("Too many attempts. Try again later."),
}


def refusal_message(error: WorkflowError) -> str:
    """Return the message of a refusal's stable code in the current language."""
    return str(CODE_MESSAGES.get(error.code, _("The action was refused.")))


def field_message(message: str, *, code: str) -> str:
    """Return a workflow field message in the current language, or its code's message if it has no translation.

    The workflow words its field messages in English (they are the API's too); the catalogue translates the ones
    the pages show. An untranslated message is never shown in English to a Chinese reader: the code's message is.
    """
    translated = translate(message)
    if translated == str(message) and not _speaks_english():
        return str(CODE_MESSAGES.get(code, message))
    return translated


def _speaks_english() -> bool:
    return (get_language() or "").startswith("en")


class PageForm(forms.Form):
    """A form whose field errors are tied to their field (aria-describedby, aria-invalid) for assistive technology.

    Templates render each field with templates/includes/field.html, which gives the error the id `<field id>-error`.
    """

    # Workflow argument names that this form calls differently: {"score": "rating"}.
    workflow_fields: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # labels stand above their fields: no colon
        super().__init__(*args, **kwargs)

    def add_error(self, field, error):
        super().add_error(field, error)
        names = [field] if field else []
        if isinstance(error, dict):
            names = list(error)
        for name in names:
            if name in self.fields:
                bound, widget = self[name], self.fields[name].widget
                described = [f"{bound.auto_id}_helptext"] if self.fields[name].help_text else []
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = " ".join([*described, f"{bound.auto_id}-error"])


def form_refuse(form: forms.Form, error: WorkflowError) -> None:
    """Show a workflow refusal on `form`: each named field's message beside it, anything else at the top."""
    mapping = getattr(form, "workflow_fields", {})
    top = []
    for name, messages in (error.fields or {}).items():
        target = mapping.get(name, name)
        for message in messages:
            if target in form.fields:
                form.add_error(target, field_message(message, code=error.code))
            else:
                top.append(field_message(message, code=error.code))
    if top or not error.fields:
        form.add_error(None, top or [refusal_message(error)])
