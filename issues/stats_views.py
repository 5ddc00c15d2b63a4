"""The statistics page /stats/ (grown from the old /dashboard/, which now redirects here with its query string).

Who: staff with a territory role (the API's IsTerritoryStaff); which area: issues.access.ScopedIssueMixin.get_area
(out of scope is 404); what: issues.stats_report.stats_report, in a constant number of queries. The charts are
drawn from the same figures as the tables beside them: the count bars on the server (issues.charts), the weekly
trend by ECharts (vendored, static/js/stats.js), each with its table for screen readers and print.
"""

from datetime import date, timedelta
from http import HTTPStatus
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View

from config.api.permissions import IsTerritoryStaff
from config.db_router import replica_reads
from grids.models import Area
from issues.access import ScopedIssueMixin
from issues.arguments import EARLIEST_DAY, LATEST_DAY, validate_day
from issues.charts import count_bars_svg, percent
from issues.models import Issue, Kind
from issues.sla import LOCAL_TZ
from issues.stats_report import DEPARTMENT_RATES, RATE_KEYS, RATES, previous_period, stats_report
from orgs.models import NODE_ROLES
from orgs.scoping import scope_for_user
from triage.hotspot_stats import hotspot_stats

CATEGORIES_SHOWN = 8  # the largest categories get a bar each; the rest share one


def rate_labels() -> dict[str, str]:
    """Return the words of each rate in the current language."""
    return {
        "response_rate": gettext("Response rate"),
        "resolution_rate": gettext("Resolution rate"),
        "on_time_resolution_rate": gettext("On-time resolution rate"),
        "satisfaction_rate": gettext("Satisfaction rate"),
    }


class StatsForm(forms.Form):
    """The area and period pickers: `area` a node code, `from` and `to` local dates (the API's query words)."""

    area = forms.ChoiceField(label=_("Area"), required=False)

    def __init__(self, *args, areas: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = areas
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


def period_presets(today: date) -> list[tuple[str, date, date]]:
    """Return (label, from, to) of the periods offered as links: this month, last month, this year."""
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    return [
        (gettext("This month"), first, today),
        (gettext("Last month"), last_month_end.replace(day=1), last_month_end),
        (gettext("This year"), today.replace(month=1, day=1), today),
    ]


def _picker_areas(own: list[Area], area: Area) -> list[tuple[str, str]]:
    """Return the picker's choices: the caller's own nodes, the nodes just under them, and the area shown."""
    children = Area.objects.filter(parent__in=own).order_by("path").only("code", "name", "path", "parent_id")
    choices, seen = [], set()
    for node in own:
        choices.append((node.code, node.name))
        seen.add(node.code)
        for child in children:
            if child.parent_id == node.pk and child.code not in seen:
                choices.append((child.code, f"— {child.name}"))
                seen.add(child.code)
    if area.code not in seen:
        choices.append((area.code, area.name))
    return choices


def _rate_cells(row: dict, rates=RATES) -> list[dict]:
    return [
        {"key": key, "value": row[key], "percent": percent(row[key]), "n": row["counts"][n], "d": row["counts"][d]}
        for key, n, d in rates
    ]


def _volumes(report: dict) -> list[dict]:
    """Return the four volume charts (status, kind, category, channel), each with its rows for the table."""
    status_labels, kind_labels, channel_labels = (
        dict(Issue.Status.choices),
        dict(Kind.choices),
        dict(Issue.Channel.choices),
    )
    categories = [
        (c["code"] or "", c["name"] or gettext("Not classified yet"), c["total"]) for c in report["by_category"]
    ]
    if len(categories) > CATEGORIES_SHOWN:
        rest = sum(count for _k, _l, count in categories[CATEGORIES_SHOWN - 1 :])
        categories = [*categories[: CATEGORIES_SHOWN - 1], ("", gettext("Other categories"), rest)]
    area = report["area"]["name"]
    charts = [
        (
            "status",
            gettext("Issues by status"),
            [(s, str(status_labels[s]), n) for s, n in report["by_status"].items()],
        ),
        ("kind", gettext("Issues by kind"), [(k, str(kind_labels[k]), n) for k, n in report["by_kind"].items()]),
        ("category", gettext("Issues by category"), categories),
        (
            "channel",
            gettext("Issues by channel"),
            # capfirst: "partner app" is also a model's verbose name, which the catalogue must leave in lower case.
            [(c, capfirst(channel_labels[c]), n) for c, n in report["by_channel"].items()],
        ),
    ]
    return [
        {
            "id": f"chart-{key}",
            "title": title,
            "svg": count_bars_svg(
                chart_id=f"chart-{key}",
                title=f"{title} · {area}",
                desc=gettext("One bar per group, with its count."),
                counts=counts or [("", gettext("no data"), 0)],
            ),
            "rows": [(label, count) for _k, label, count in counts],
        }
        for key, title, counts in charts
    ]


def _deltas(report: dict) -> dict:
    """Return each rate's and the total's change as text ("+3.2", "−1", "0"), None when there is nothing to compare."""

    def signed(value):
        if value is None:
            return None
        if value > 0:
            return f"+{value:g}"
        return f"−{-value:g}" if value < 0 else "0"

    return {
        key: {"text": signed(value), "sign": (value > 0) - (value < 0) if value is not None else 0}
        for key, value in report["deltas"].items()
    }


def _trend_data(trend: list[dict]) -> dict:
    """Return what the trend chart draws (static/js/stats.js): week labels, the two series and their names."""
    years = {w["week"].year for w in trend}
    label = "%m-%d" if len(years) <= 1 else "%Y-%m-%d"
    return {
        "weeks": [w["week"].strftime(label) for w in trend],
        "intake": [w["intake"] for w in trend],
        "resolved": [w["resolved"] for w in trend],
        "names": [gettext("New issues"), gettext("Resolved issues")],
    }


def _report_context(report: dict, *, query: dict, rank: str, labels: dict) -> dict:
    """Return what the template shows of one report: tiles, charts with their tables, the rankings by `rank`."""
    deltas = _deltas(report)
    previous_from, previous_to = previous_period(date.fromisoformat(query["from"]), date.fromisoformat(query["to"]))
    rankings = report["rankings"][rank]
    return {
        "report": report,
        "previous_from": previous_from,
        "previous_to": previous_to,
        "tiles": [{**cell, "label": labels[cell["key"]], "delta": deltas[cell["key"]]} for cell in _rate_cells(report)],
        "total_delta": deltas["total"],
        "volumes": _volumes(report),
        "trend": report["trend"],
        "trend_data": _trend_data(report["trend"]),
        "rank_tabs": [(key, labels[key], f"?{urlencode({**query, 'rank': key})}#rankings") for key in RATE_KEYS],
        "area_rows": [
            {
                **row,
                "cells": _rate_cells(row),
                "link": f"?{urlencode({**query, 'area': row['code'], 'rank': rank})}" if row["code"] else "",
            }
            for row in rankings["areas"]
        ],
        "department_rows": [{**row, "cells": _rate_cells(row, DEPARTMENT_RATES)} for row in rankings["departments"]],
    }


class StatsPageView(LoginRequiredMixin, ScopedIssueMixin, View):
    """Show the statistics of an area in the caller's scope over a period (staff with a territory role only)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not IsTerritoryStaff().has_permission(request, self):
            return render(request, "issues/stats_forbidden.html", status=HTTPStatus.FORBIDDEN)
        own = list(Area.objects.filter(path__in=scope_for_user(request.user).role_paths(NODE_ROLES)).order_by("path"))
        code = request.GET.get("area") or own[0].code
        # The nodes the caller holds a role at are in scope by definition; any other goes through the scoped check.
        area = next((a for a in own if a.code == code), None) or self.get_area(code)
        today = timezone.now().astimezone(LOCAL_TZ).date()
        date_from, date_to = this_month(today)
        data = {"area": area.code, "from": date_from.isoformat(), "to": date_to.isoformat()}
        data.update({key: request.GET[key] for key in ("from", "to") if request.GET.get(key)})
        rank = request.GET.get("rank") if request.GET.get("rank") in RATE_KEYS else RATE_KEYS[0]
        form = StatsForm(data, areas=_picker_areas(own, area))
        labels = rate_labels()
        context = {"form": form, "area": area, "rank": rank, "rate_labels": labels}
        query = {"area": area.code, "from": data["from"], "to": data["to"]}
        context["presets"] = [
            (label, f"?{urlencode({**query, 'from': start.isoformat(), 'to': end.isoformat()})}")
            for label, start, end in period_presets(today)
        ]
        if form.is_valid():
            start, end = form.cleaned_data["from"], form.cleaned_data["to"]
            with replica_reads(user=request.user):  # statistics may lag a moment (config/db_router.py)
                report = stats_report(area=area, date_from=start, date_to=end)
                # Hot spots sit above the issue core (tests/test_layers.py): added here and by the API.
                report["hotspots"] = hotspot_stats(area=area, date_from=start, date_to=end)
            query = {"area": area.code, "from": start.isoformat(), "to": end.isoformat()}
            context.update(_report_context(report, query=query, rank=rank, labels=labels))
        return render(request, "issues/stats.html", context)


stats_page = StatsPageView.as_view()


def dashboard_redirect(request: HttpRequest) -> HttpResponse:
    """Send the old /dashboard/ address to /stats/, with its query string (bookmarks keep their area and period)."""
    target = reverse("stats-page")
    if request.META.get("QUERY_STRING"):
        target += f"?{request.META['QUERY_STRING']}"
    return HttpResponseRedirect(target)
