"""Forms of the staff actions on the issue page and of the desk queues: shape only; the workflow checks the rules.

Each action form carries the issue's `version` (issues.forms.IssueActionForm) and a prefix named after its action,
so that a dozen forms on one page never share an id; a refusal lands beside the field the workflow names.
"""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from config.pages import PageForm
from issues.forms import IssueActionForm
from issues.models import Category, Issue, Kind
from issues.workflow.rules import EXTEND_MAX, EXTEND_MIN
from orgs.models import Department

NOTE = {"rows": 2}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Up to six photos at once; each is checked and re-encoded by issues.photos."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


def category_choices() -> list:
    """Return the active categories grouped by their parent, each with its handling department."""
    categories = list(Category.objects.filter(is_active=True).select_related("parent", "department"))
    groups: dict[str, list] = {}
    for c in categories:
        label = f"{c.name} · {c.department.name}" if c.department else c.name
        groups.setdefault(c.parent.name if c.parent else "", []).append((c.code, label))
    top = groups.pop("", [])
    return [("", "—"), *top, *sorted(groups.items())]


def department_choices(issue: Issue) -> list:
    """Return the active departments of the issue's district (an issue is handled by its own district's)."""
    rows = Department.objects.filter(is_active=True, district__code=issue.district_code).order_by("code")
    return [(d.code, d.name) for d in rows]


class ClassifyForm(IssueActionForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices)
    category = forms.ChoiceField(label=_("Category"))
    urgent = forms.BooleanField(label=pgettext_lazy("desk", "Urgent"), required=False)

    def __init__(self, *args, issue: Issue, suggestions=(), **kwargs):
        # Triage's ranked suggestions (triage.suggest): the first is preselected when the reporter chose no category.
        self.suggestions = list(suggestions)
        top = self.suggestions[0] if self.suggestions and issue.category is None else None
        kwargs.setdefault("initial", {}).update(
            kind=top.kind if top else issue.kind,
            category=top.category.code if top else (issue.category.code if issue.category else ""),
            urgent=issue.urgent,
        )
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()


class DispatchForm(IssueActionForm):
    departments = forms.MultipleChoiceField(
        label=pgettext_lazy("desk", "Departments"), widget=forms.CheckboxSelectMultiple
    )
    lead = forms.ChoiceField(label=pgettext_lazy("desk", "Lead department"), required=False)
    note = forms.CharField(
        label=pgettext_lazy("desk", "Note"), required=False, max_length=2000, widget=forms.Textarea(attrs=NOTE)
    )

    def __init__(self, *args, issue: Issue, **kwargs):
        usual = issue.category.department.code if issue.category and issue.category.department else ""
        kwargs.setdefault("initial", {}).update(departments=[usual] if usual else [], lead=usual)
        super().__init__(*args, **kwargs)
        choices = department_choices(issue)
        self.fields["departments"].choices = choices
        self.fields["lead"].choices = [("", "—"), *choices]

    def clean(self):
        cleaned = super().clean()
        lead = cleaned.get("lead")
        if lead and lead not in (cleaned.get("departments") or []):
            cleaned["departments"] = [lead, *(cleaned.get("departments") or [])]
        return cleaned


class RejectForm(IssueActionForm):
    # Labels are lower case for use inside sentences; a menu starts each with a capital (English).
    reason = forms.ChoiceField(
        label=pgettext_lazy("desk", "Reason"),
        choices=[(value, capfirst(label)) for value, label in Issue.RejectReason.choices],
    )
    duplicate_of = forms.ChoiceField(label=pgettext_lazy("desk", "Duplicate of"), required=False)
    note = forms.CharField(
        label=pgettext_lazy("desk", "Note"), required=False, max_length=2000, widget=forms.Textarea(attrs=NOTE)
    )

    def __init__(self, *args, duplicates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["duplicate_of"].choices = [("", "—")] + [
            (str(d.pk), f"{d.number} · {d.get_status_display()} · {(d.title or d.description)[:30]}")
            for d in duplicates
        ]


class ResolveForm(IssueActionForm):
    note = forms.CharField(label=_("Result"), max_length=4000, widget=forms.Textarea(attrs=NOTE))
    photos = MultipleFileField(label=pgettext_lazy("desk", "Photos after"), required=False)


class ReasonForm(IssueActionForm):
    """Reopen and return: a reason, required."""

    reason = forms.CharField(label=pgettext_lazy("desk", "Reason"), max_length=2000, widget=forms.Textarea(attrs=NOTE))


class EscalateForm(IssueActionForm):
    note = forms.CharField(
        label=pgettext_lazy("desk", "Note"), required=False, max_length=2000, widget=forms.Textarea(attrs=NOTE)
    )
    departments = forms.MultipleChoiceField(
        label=pgettext_lazy("desk", "Summon departments"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, issue: Issue, summon: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if summon:
            self.fields["departments"].choices = department_choices(issue)
        else:
            del self.fields["departments"]


class ExtendForm(IssueActionForm):
    workdays = forms.IntegerField(
        label=pgettext_lazy("desk", "Working days"), min_value=EXTEND_MIN, max_value=EXTEND_MAX, initial=3
    )
    reason = forms.CharField(
        label=pgettext_lazy("desk", "Reason"), required=False, max_length=2000, widget=forms.Textarea(attrs=NOTE)
    )


class RefuseForm(IssueActionForm):
    reason = forms.CharField(
        label=pgettext_lazy("desk", "Reason"), required=False, max_length=2000, widget=forms.Textarea(attrs=NOTE)
    )


class SuperviseForm(IssueActionForm):
    note = forms.CharField(
        label=pgettext_lazy("desk", "Instruction"), max_length=2000, widget=forms.Textarea(attrs=NOTE)
    )


class PrivacyForm(IssueActionForm):
    """Keep the issue off the public board, Open311's public list and area alerts (issues.publicity), or put it back."""

    private = forms.BooleanField(label=_("Private: never shown to the public"), required=False)
    note = forms.CharField(
        label=pgettext_lazy("desk", "Reason"), required=False, max_length=2000, widget=forms.Textarea(attrs=NOTE)
    )


class BulkDispatchForm(PageForm):
    """Classify and dispatch several new issues at once, each to its category's usual department."""

    issues = forms.MultipleChoiceField(label=_("Issues"), widget=forms.CheckboxSelectMultiple)
    category = forms.ChoiceField(label=_("Category"))

    def __init__(self, *args, rows=(), choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["issues"].choices = [(str(r.pk), r.number) for r in rows]
        self.fields["category"].choices = choices if choices is not None else category_choices()
