"""The map page (/map/): a node's grids coloured by open or overdue issues, its open issues as clustered points.

The page is a frame: the check is the API's IsTerritoryStaff, the node comes from issues.access.ScopedIssueMixin
(out of scope is 404), and the map itself is drawn in the browser from /api/v1/map/ (issues/api/map.py), which
stands on the same two. The page also writes the same counts as a table: what a screen reader, a printout or a
browser without JavaScript reads instead of the map.
"""

import heapq
import itertools
from http import HTTPStatus

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.views import View

from config.api.permissions import IsTerritoryStaff
from grids.maps import MapLayer, map_layer
from grids.models import Area
from issues.access import ScopedIssueMixin
from issues.desk_panel import desk_queues_for
from issues.map_selectors import GridCounts, map_grid_counts_for_user, map_hotspots_for_user
from orgs.models import NODE_ROLES
from orgs.scoping import scope_for_user

# Rows of the table: the grids with the most open (or overdue) issues first; a street of 10,000 grids would not
# be read row by row, and each community's own page lists all of its grids.
TABLE_ROWS = 200
MEASURES = {"open": _("Open issues"), "overdue": _("Overdue issues")}


class MapForm(forms.Form):
    area = forms.ChoiceField(label=_("Area"), required=False)

    def __init__(self, *args, areas: list[Area], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = [(a.code, f"{a.name} ({a.get_level_display()})") for a in areas]


class MapView(LoginRequiredMixin, ScopedIssueMixin, View):
    """Draw the map of a node in the caller's scope, with its grids' counts as a table (staff at a node only)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not IsTerritoryStaff().has_permission(request, self):
            return render(request, "map/forbidden.html", status=HTTPStatus.FORBIDDEN)
        own = list(Area.objects.filter(path__in=scope_for_user(request.user).role_paths(NODE_ROLES)).order_by("path"))
        code = request.GET.get("area") or own[0].code
        # The nodes the caller holds a role at are in scope by definition; any other goes through the scoped check.
        area = next((a for a in own if a.code == code), None) or self.get_area(code)
        measure = request.GET.get("measure") if request.GET.get("measure") in MEASURES else "open"
        # What one can pick: their own nodes, the node shown, and the streets or communities right under it.
        children = []
        if area.level in (Area.Level.DISTRICT, Area.Level.STREET):
            children = list(Area.objects.filter(parent=area).order_by("code"))
        areas = list({a.code: a for a in [*own, area, *children]}.values())
        form = MapForm(initial={"area": area.code}, areas=areas)

        layer = map_layer(area=area)
        counts = map_grid_counts_for_user(user=request.user, area=area)
        rows = _busiest(layer, counts, measure)
        totals = {"open": sum(c.open for c in counts.values()), "overdue": sum(c.overdue for c in counts.values())}
        # The open hot spots, listed too (the map outlines their grids): what a reader without the map still gets.
        desk = reverse("desk-escalations") if "escalations" in desk_queues_for(request.user) else None
        hotspots = [
            {**spot, "url": desk and f"{desk}#hotspot-{spot['id']}"}
            for spot in map_hotspots_for_user(user=request.user, area=area)
        ]
        context = {
            "hotspots": hotspots,
            "form": form,
            "area": area,
            "measure": measure,
            "measures": MEASURES,
            "rows": rows[:TABLE_ROWS],
            "with_community": bool(layer.names),
            "grid_total": len(layer.grids),
            "totals": totals,
            "without_boundary": layer.without_boundary,
            "grids_url": f"{reverse('map-grids')}?area={area.code}",
            "issues_url": reverse("map-issues"),
            "labels": _js_labels(),
        }
        return render(request, "map/map.html", context)


def _busiest(layer: MapLayer, counts: dict[str, GridCounts], measure: str) -> list[tuple]:
    """Return the table's rows (grid, counts, community name): the TABLE_ROWS drawn grids with the most `measure`
    (then open issues, then code), without sorting a street's 10,000 grids: a grid with no open issue has no counts,
    so those with counts come first (a heap of them), then the others in code order."""
    index = layer.index
    busy = heapq.nsmallest(
        TABLE_ROWS,
        ((index[code], c) for code, c in counts.items() if code in index),
        key=lambda item: (-getattr(item[1], measure), -item[1].open, item[0].code),
    )
    if len(busy) < TABLE_ROWS:
        empty = GridCounts()
        quiet = (grid for grid in layer.grids if grid.code not in counts)
        busy += [(grid, empty) for grid in itertools.islice(quiet, TABLE_ROWS - len(busy))]
    return [(grid, c, layer.names.get(grid.community, "")) for grid, c in busy]


def _js_labels() -> dict:
    """Return the words the map's script writes (static/js/map.js), in the page's language."""
    return {
        "open": gettext("Open issues"),
        "overdue": gettext("Overdue issues"),
        "overdue_badge": gettext("overdue"),
        "no_issues": gettext("No open issue in this grid."),
        "loading": gettext("Loading…"),
        "failed": gettext("The map could not be loaded; the table below has the same numbers."),
        "truncated": gettext("Only the newest open issues are drawn; the counts include all of them."),
        "zoom_in": gettext("Zoom in"),
        "zoom_out": gettext("Zoom out"),
        "no_category": gettext("no category"),
        "hotspot_legend": gettext("Open hot-spot alert"),
        "hotspot_title": pgettext("desk", "Hot spots"),
        "hotspot_text": gettext("%(n)s reports of %(category)s in %(grid)s (about %(expected)s expected)"),
        "hotspot_link": gettext("Handle it on the escalation desk"),
    }


map_page = MapView.as_view()
