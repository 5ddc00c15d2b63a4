"""Forms of the issue pages: each checks the shape of what was typed; the workflow checks the rules.

A refusal of the workflow lands on the same form (config.pages.form_refuse): beside the field it names, with the
field named as the workflow names its argument mapped by `workflow_fields`, or at the top.
"""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from config.pages import PageForm

SCORES = [(str(n), str(n)) for n in range(1, 6)]


class IssueActionForm(PageForm):
    """A form that acts on an issue, carrying the version it was read at: a change meanwhile is refused as stale."""

    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class RatingForm(IssueActionForm):
    """The reporter's rating of a resolved issue: 1–5 and a comment (1–2 reopens it)."""

    workflow_fields = {"score": "rating"}

    rating = forms.TypedChoiceField(
        label=_("Rating"),
        choices=[("", "—"), *SCORES],
        coerce=int,
        help_text=_("5 very satisfied … 1 very unsatisfied. A rating of 1 or 2 reopens the issue."),
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CommentForm(IssueActionForm):
    """A note on the issue; `internal` (staff only) hides it from the reporter."""

    text = forms.CharField(label=_("Comment"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    internal = forms.BooleanField(label=_("Internal note (staff only)"), required=False)

    def __init__(self, *args, internal_allowed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not internal_allowed:
            del self.fields["internal"]


class ReturnVisitForm(RatingForm):
    """The rating a reporter without an account gave on the phone (回访), recorded by staff."""

    rating = forms.TypedChoiceField(
        label=_("Rating"),
        choices=[("", "—"), *SCORES],
        coerce=int,
        help_text=_("The score the reporter gave on the phone. 1 or 2 reopens the issue."),
    )
    comment = forms.CharField(
        label=_("What the reporter said"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class FollowForm(PageForm):
    """An issue number and the phone it was reported with."""

    number = forms.CharField(
        label=_("Number"),
        max_length=40,
        help_text=_("As in the confirmation, e.g. GD-20261122-00001."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    phone = forms.CharField(
        label=pgettext_lazy("follow", "Phone"),
        max_length=20,
        help_text=_("The phone number given with the report."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_number(self):
        return self.cleaned_data["number"].strip().upper()
