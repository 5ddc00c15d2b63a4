"""The weekly meeting's forms: pick an area and a week, add an item, record a decision, mark an item."""

from django import forms
from django.utils.translation import gettext_lazy as _

from config.pages import PageForm
from issues.arguments import validate_day
from meetings.models import Item
from meetings.services import DECISION_MAX, TITLE_MAX


class MeetingPickForm(forms.Form):
    """The area (a code) and the ISO week (2026-W49, as <input type=week> sends it)."""

    area = forms.ChoiceField(label=_("Area"))
    week = forms.RegexField(
        label=_("Week"),
        regex=r"^\d{4}-W\d{2}$",
        widget=forms.TextInput(attrs={"type": "week"}),
        error_messages={"invalid": _("Give a week as 2026-W49.")},
    )

    def __init__(self, *args, areas, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = [(a.code, a.name) for a in areas]


class ItemAddForm(PageForm):
    title = forms.CharField(label=_("New item"), max_length=TITLE_MAX)
    issues = forms.CharField(
        label=_("Linked issues"),
        required=False,
        help_text=_("Issue numbers, separated by spaces or commas (optional)."),
    )

    def clean_issues(self) -> list[str]:
        return [n for n in self.cleaned_data["issues"].replace(",", " ").replace("，", " ").split() if n]


class DecisionForm(PageForm):
    """议: what was decided, who does it (a department or a person), by when."""

    decision = forms.CharField(label=_("Decision"), max_length=DECISION_MAX, widget=forms.Textarea(attrs={"rows": 2}))
    assignee = forms.ChoiceField(label=_("Who does it"), required=False)
    due_date = forms.DateField(
        label=_("Due date"), required=False, validators=[validate_day], widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, departments=(), users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            ("", "—"),
            (_("Departments"), [(f"department:{d.code}", d.name) for d in departments]),
            (_("People"), [(f"user:{u.pk}", u.get_full_name() or u.get_username()) for u in users]),
        ]


class ReviewForm(PageForm):
    """评: done, or carried into the next meeting."""

    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[(Item.Outcome.DONE, _("done")), (Item.Outcome.CARRIED, _("carried forward"))]
    )
