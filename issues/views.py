"""Pages of issues: the staff dashboard that charts the statistics of an area over a period.

The view parses, checks and calls: who may read statistics is IsTerritoryStaff (the API's check), which area is
issues.access.ScopedIssueMixin.get_area (out of scope answers 404), and the figures are issues.selectors.issue_stats.
"""

from datetime import date
from http import HTTPStatus
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View

from config.api.permissions import IsTerritoryStaff
from grids.models import Area
from issues.access import ScopedIssueMixin
from issues.arguments import EARLIEST_DAY, LATEST_DAY, validate_day
from issues.charts import Rate, count_bars_svg, grouped_rates_svg, rate_gauges_svg
from issues.models import Issue
from issues.selectors import issue_stats
from issues.sla import LOCAL_TZ
from orgs.models import NODE_ROLES
from orgs.scoping import scope_for_user

# (key of issue_stats, counts' numerator, counts' denominator): the rates in the order DESIGN.md lists them.
RATES = [
    ("response_rate", "responded_on_time", "dispatched"),
    ("resolution_rate", "resolved", "accepted"),
    ("on_time_resolution_rate", "resolved_on_time", "due"),
    ("satisfaction_rate", "satisfied", "ratings"),
]


def rate_labels() -> dict[str, str]:
    """Return the words of each rate in the current language."""
    return {
        "response_rate": gettext("Response rate"),
        "resolution_rate": gettext("Resolution rate"),
        "on_time_resolution_rate": gettext("On-time resolution rate"),
        "satisfaction_rate": gettext("Satisfaction rate"),
    }


class DashboardForm(forms.Form):
    """The area and period pickers: `area` a node code, `from` and `to` local dates (the API's query words)."""

    area = forms.ChoiceField(label=_("Area"), required=False)

    def __init__(self, *args, areas: list[Area], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = [(a.code, a.name) for a in areas]
        for name, label in (("from", _("From")), ("to", _("To"))):
            self.fields[name] = forms.DateField(
                label=label,
                validators=[validate_day],
                widget=forms.DateInput(attrs={"type": "date", "min": EARLIEST_DAY, "max": LATEST_DAY}),
            )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("from") and cleaned.get("to") and cleaned["from"] > cleaned["to"]:
            self.add_error("from", gettext("The first day is after the last day."))
        return cleaned


def this_month(today: date) -> tuple[date, date]:
    """Return the first day of `today`'s month and `today`: the default period."""
    return today.replace(day=1), today


def _charts(stats: dict, *, query: dict) -> dict:
    """Return the SVG charts and the big numbers of one issue_stats result."""
    labels = rate_labels()
    no_data = gettext("no data")

    def rates(row: dict) -> list[Rate]:
        return [
            Rate(labels[key], row[key], row["counts"][numerator], row["counts"][denominator])
            for key, numerator, denominator in RATES
        ]

    status_labels = dict(Issue.Status.choices)
    children = []
    for child in stats["by_child_area"]:
        name = child["name"] or gettext("Not under any of them")
        link = f"?{urlencode({**query, 'area': child['code']})}" if child["code"] else ""
        children.append((f"{name} ({child['total']})", link, rates(child)))
    area_name = stats["area"]["name"]
    return {
        "rates": rate_gauges_svg(
            chart_id="chart-rates",
            title=gettext("The rates of %(area)s") % {"area": area_name},
            desc=gettext("Each rate as a bar from 0 to 100%, with its percentage and counts."),
            rates=rates(stats),
            no_data=no_data,
        ),
        "volume": count_bars_svg(
            chart_id="chart-volume",
            title=gettext("Issues by status in %(area)s") % {"area": area_name},
            desc=gettext("%(total)s issues; one bar per status, with its count.") % {"total": stats["total"]},
            counts=[(status, str(status_labels[status]), count) for status, count in stats["by_status"].items()],
        ),
        "children": grouped_rates_svg(
            chart_id="chart-children",
            title=gettext("The rates of each area under %(area)s") % {"area": area_name},
            desc=gettext("For each area below, its name, its issue count and its rates as bars."),
            series=[labels[key] for key, _n, _d in RATES],
            groups=children,
            no_data=no_data,
        )
        if children
        else None,
    }


class DashboardView(LoginRequiredMixin, ScopedIssueMixin, View):
    """Chart the statistics of an area in the caller's scope over a period (staff with a territory role only)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not IsTerritoryStaff().has_permission(request, self):
            return render(request, "issues/dashboard_forbidden.html", status=HTTPStatus.FORBIDDEN)
        own = list(Area.objects.filter(path__in=scope_for_user(request.user).role_paths(NODE_ROLES)).order_by("path"))
        code = request.GET.get("area") or own[0].code
        # The nodes the caller holds a role at are in scope by definition; any other goes through the scoped check.
        area = next((a for a in own if a.code == code), None) or self.get_area(code)
        areas = own if area in own else [*own, area]
        date_from, date_to = this_month(timezone.now().astimezone(LOCAL_TZ).date())
        data = {"area": area.code, "from": date_from.isoformat(), "to": date_to.isoformat()}
        data.update({key: request.GET[key] for key in ("from", "to") if request.GET.get(key)})
        form = DashboardForm(data, areas=areas)
        context = {"form": form, "area": area}
        if form.is_valid():
            stats = issue_stats(area=area, date_from=form.cleaned_data["from"], date_to=form.cleaned_data["to"])
            context.update(stats=stats, charts=_charts(stats, query={k: data[k] for k in ("from", "to")}))
        return render(request, "issues/dashboard.html", context)


dashboard = DashboardView.as_view()
