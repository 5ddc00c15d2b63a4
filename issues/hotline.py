"""The hotline intake page `/hotline/`: a 12345 seat types a call in and is back at a blank form at once.

Only hotline operators (orgs.models.Role.HOTLINE_OPERATOR) take calls, for the grids under the nodes where they hold
the role (orgs.scoping.Scope.intake_paths); the workflow (issue_submit with channel `hotline`) checks it again. The
form checks shapes, issue_submit the rules; a refusal lands beside its field (config.pages.form_refuse). A taken
call redirects to a blank form (POST-redirect-GET) that shows the last number recorded, linked to its page.

Keyboard only: the fields in the order a call goes (phone first, autofocused; the address last, so Enter there
submits), plain controls the browser already drives by keyboard, no custom widgets.
"""

import re
from http import HTTPStatus

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_http_methods

from config.errors import WorkflowError
from config.pages import PageForm, form_refuse
from grids.models import Area, subtree_q
from issues import workflow
from issues.models import Issue, Kind
from issues.report_forms import category_choices
from issues.workflow import DESCRIPTION_MAX, DESCRIPTION_MIN
from orgs.scoping import scope_for_user

# The session key of the last number recorded at this seat.
LAST_NUMBER = "hotline_last_number"
PHONE_PATTERN = r"\+?[0-9][0-9 \-]{4,18}[0-9]"


def grid_choices(paths: list[str]) -> list:
    """Return the grids under `paths` as choices grouped by community: [(community name, [(code, label)…])…].

    A label repeats the community's name ("金东南路社区 · 第1网格"): typing its first characters in the closed
    select jumps to it, and a screen reader that skips group labels still says where it is.
    """
    if not paths:
        return []
    q = subtree_q("path", paths[0])
    for path in paths[1:]:
        q |= subtree_q("path", path)
    grids = Area.objects.filter(q, level=Area.Level.GRID).select_related("parent").order_by("parent__code", "code")
    groups: dict[str, tuple[str, list]] = {}
    for grid in grids:
        community = grid.parent
        groups.setdefault(community.code, (community.name, []))[1].append(
            (grid.code, f"{community.name} · {grid.name}")
        )
    return list(groups.values())


class HotlineForm(PageForm):
    """A call: the caller's phone and name, what it is about, where (a grid and an address)."""

    workflow_fields = {
        "reporter_phone": "phone",
        "reporter_name": "name",
        "location": "grid",
        "building": "grid",
    }

    phone = forms.CharField(
        label=pgettext_lazy("hotline", "Phone"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "type": "tel",
                "autofocus": True,
                "autocomplete": "off",
                "inputmode": "tel",
                "pattern": PHONE_PATTERN,
            }
        ),
    )
    name = forms.CharField(
        label=pgettext_lazy("hotline", "Name"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.COMPLAINT)
    category = forms.ChoiceField(label=_("Category"), required=False)
    description = forms.CharField(
        label=_("Description"),
        min_length=DESCRIPTION_MIN,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    # A <select> grouped by community (<optgroup>); option values are the grid codes.
    grid = forms.ChoiceField(label=pgettext_lazy("hotline", "Grid"))
    address = forms.CharField(
        label=pgettext_lazy("hotline", "Address"),
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, grids: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grid"].choices = [("", "—"), *grids]
        self.fields["category"].choices = category_choices()

    def clean_phone(self):
        phone = self.cleaned_data["phone"].strip()
        if not re.fullmatch(PHONE_PATTERN, phone):
            raise forms.ValidationError(_("Enter the caller's phone number: digits, spaces or dashes."))
        return phone


def _hotline_paths(user) -> list[str]:
    return list(scope_for_user(user).intake_paths)


@login_required
@require_http_methods(["GET", "POST"])
def hotline(request):
    """Take a call: show the intake form, submit it as a hotline issue, come back blank with the number recorded."""
    paths = _hotline_paths(request.user)
    if not paths:
        return render(request, "issues/hotline_forbidden.html", status=HTTPStatus.FORBIDDEN)
    grids = grid_choices(paths)
    status = HTTPStatus.OK
    if request.method == "POST":
        form = HotlineForm(request.POST, grids=grids)
        status = HTTPStatus.BAD_REQUEST
        if form.is_valid():
            data = form.cleaned_data
            try:
                issue = workflow.issue_submit(
                    actor=request.user,
                    channel=Issue.Channel.HOTLINE,
                    reporter_phone=data["phone"],
                    reporter_name=data["name"],
                    kind=data["kind"],
                    category=data["category"] or None,
                    description=data["description"],
                    grid=data["grid"],
                    address=data["address"],
                )
            except WorkflowError as error:
                form_refuse(form, error)
                status = error.status
            else:
                request.session[LAST_NUMBER] = issue.number
                return redirect(reverse("hotline"))
    else:
        form = HotlineForm(grids=grids)
    last = request.session.get(LAST_NUMBER)
    return render(request, "issues/hotline.html", {"form": form, "last_number": last}, status=status)
