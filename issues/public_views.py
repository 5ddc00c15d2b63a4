"""The public board (公示) and its Atom feed: no sign-in, the same for everyone (issues.publicity decides what shows).

The board reads issues.public_board; the follow form posts to the area alerts (notifications.views).
"""

from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.errors import NotFound
from grids.models import Area
from issues.models import Event
from issues.public_board import Month, community_get, public_board, public_feed_events
from issues.publicity import public_summary, public_text
from issues.sla import LOCAL_TZ
from notifications.alerts import area_subscription_list_for_user, may_follow
from notifications.models import AreaSubscription

RATE_LABELS = {
    "response_rate": _("Response rate"),
    "resolution_rate": _("Resolution rate"),
    "satisfaction_rate": _("Satisfaction rate"),
}


def _community(code: str) -> Area:
    try:
        return community_get(code=code)
    except NotFound:
        raise Http404 from None


def public_board_view(request: HttpRequest, code: str) -> HttpResponse:
    """Show a community's public board for the month asked (`?month=YYYY-MM`, default this month)."""
    community = _community(code)
    today = timezone.localtime(timezone.now(), LOCAL_TZ).date()
    month = Month.parse(request.GET.get("month"), today=today)
    board = public_board(community=community, month=month)
    rates = [
        {"key": key, "label": RATE_LABELS[key], "value": value, "percent": None if value is None else value * 100}
        for key, value in board["rates"].items()
    ]
    context = {**board, "rates": rates, "follow": _follow_context(request, community)}
    context["this_month"] = Month.parse(None, today=today)
    context["months"] = _months(until=context["this_month"], asked=month)
    return render(request, "public/board.html", context)


def _months(*, until: Month, asked: Month, count: int = 24) -> list[Month]:
    """Return the months the picker offers: the last `count` up to this one, and the one asked if older."""
    months = [until]
    while len(months) < count:
        months.append(months[-1].previous)
    return months if asked in months or asked.first > until.first else [*months, asked]


def _follow_context(request: HttpRequest, community: Area) -> dict:
    """Return what the follow form needs: the areas one may follow here and which the viewer follows already."""
    if not request.user.is_authenticated:
        return {"signed_in": False}
    grids = list(Area.objects.filter(parent=community, level=Area.Level.GRID).order_by("code").only("code", "name"))
    areas = [community, *grids]
    if community.parent_id and may_follow(user=request.user, area=community.parent):
        areas.insert(0, community.parent)
    following = {
        s.area.code: s
        for s in area_subscription_list_for_user(user=request.user).filter(area__in=[a.pk for a in areas])
    }
    return {
        "signed_in": True,
        "areas": areas,
        "following": [following[a.code] for a in areas if a.code in following],
        "channels": AreaSubscription.CHANNELS,
        "frequencies": AreaSubscription.Frequency.choices,
    }


class PublicBoardFeed(Feed):
    """An Atom feed per board: issues newly made public there and their resolutions, newest first."""

    feed_type = Atom1Feed

    def get_object(self, request, code):
        return _community(code)

    def title(self, community):
        return gettext("%(community)s: public board") % {"community": community.name}

    def subtitle(self, community):
        return gettext("New public issues and resolutions in %(community)s") % {"community": community.name}

    def link(self, community):
        return reverse("public-board", kwargs={"code": community.code})

    def items(self, community):
        return public_feed_events(community=community)

    def item_title(self, event: Event):
        issue = event.issue
        words = {"category": issue.category.name if issue.category_id else "", "grid": issue.grid.name}
        if event.action == Event.Action.RESOLVE:
            return gettext("Resolved: %(category)s · %(grid)s") % words
        return gettext("New: %(category)s · %(grid)s") % words

    def item_description(self, event: Event):
        summary = public_summary(event.issue)
        if event.action == Event.Action.RESOLVE:
            return f"{summary} — {public_text(event.note)}"
        return summary

    def item_link(self, event: Event):
        month = timezone.localtime(event.at, LOCAL_TZ).strftime("%Y-%m")
        board = reverse("public-board", kwargs={"code": event.issue.community_code})
        return f"{board}?month={month}#issue-{event.issue.number}"

    def item_guid(self, event: Event):
        return f"griddesk-event-{event.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, event: Event):
        return event.at

    def item_updateddate(self, event: Event):
        return event.at
