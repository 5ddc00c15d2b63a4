"""The weekly meeting pages (说议办评): /meetings/ picks an area and a week; each meeting page shows its agenda, its
decisions and what became of last meeting's items; the print view is the paper on the table.

Views parse, call meetings.services and redirect (POST-redirect-GET). The area comes through the one scoped base
(issues.access.ScopedIssueMixin.get_area: out of scope is 404), and meetings.services.may_meet says who meets there.
Each page reads a fixed number of queries, whatever the number of items, issues and records.
"""

import re
from datetime import date, timedelta
from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views import View

from config.errors import NotFound, WorkflowError
from config.pages import form_refuse
from grids.models import Area
from issues.access import ScopedIssueMixin
from issues.models import Issue, Rating
from issues.sla import LOCAL_TZ
from meetings import services
from meetings.agenda import HardCase, assignee_choices, meeting_areas_for, monday_of
from meetings.forms import DecisionForm, ItemAddForm, MeetingPickForm, ReviewForm
from meetings.models import Item, Meeting, week_label
from orgs.models import TRIAGE_ROLES
from orgs.scoping import scope_for_user

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
RECENT_MEETINGS = 20


def parse_week(text: str) -> date | None:
    """Return the Monday of ISO week `text` (2026-W49), or None."""
    match = WEEK.match(text or "")
    if not match:
        return None
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        return None


def this_week() -> date:
    return monday_of(timezone.now().astimezone(LOCAL_TZ).date())


def meeting_url(area: Area, week: date, *, name: str = "meeting", **kwargs) -> str:
    return reverse(f"meetings:{name}", kwargs={"code": area.code, "week": week_label(week), **kwargs})


class MeetingsMixin(LoginRequiredMixin, ScopedIssueMixin):
    """The caller's meeting areas, and one of them by code (out of scope, or not a meeting's area: 404)."""

    def own_areas(self) -> list[Area]:
        return meeting_areas_for(scope_for_user(self.request.user).role_paths(TRIAGE_ROLES))

    def meeting_area(self, code: str) -> Area:
        area = self.get_area(code)
        if not services.may_meet(user=self.request.user, area=area):
            raise NotFound()
        return area

    def meeting_of(self, code: str, week_text: str) -> tuple[Area, date, Meeting | None]:
        week = parse_week(week_text)
        if week is None:
            raise NotFound()
        area = self.meeting_area(code)
        return (
            area,
            week,
            Meeting.objects.filter(area=area, week=week).select_related("opened_by", "finalised_by").first(),
        )


class MeetingIndexView(MeetingsMixin, View):
    """Pick an area and a week; list the latest meetings of the caller's areas."""

    def get(self, request: HttpRequest) -> HttpResponse:
        areas = self.own_areas()
        if not areas:
            return render(request, "meetings/forbidden.html", status=HTTPStatus.FORBIDDEN)
        if "area" in request.GET:
            form = MeetingPickForm(request.GET, areas=areas)
            if form.is_valid() and (week := parse_week(form.cleaned_data["week"])):
                area = next(a for a in areas if a.code == form.cleaned_data["area"])
                return redirect(meeting_url(area, monday_of(week)))
            if form.is_valid():
                form.add_error("week", gettext("Give a week as 2026-W49."))
        else:
            form = MeetingPickForm(initial={"area": areas[0].code, "week": week_label(this_week())}, areas=areas)
        recent = list(
            Meeting.objects.filter(area__in=areas)
            .select_related("area")
            .annotate(item_count=Count("items"))
            .order_by("-week", "area__path")[:RECENT_MEETINGS]
        )
        return render(request, "meetings/index.html", {"form": form, "recent": recent, "this_week": this_week()})


def _meeting_items(meeting: Meeting) -> list[Item]:
    """Return the meeting's items with what the page shows of each, in three queries (items, issues, ratings)."""
    issues = Issue.objects.select_related("category").prefetch_related(
        Prefetch("ratings", queryset=Rating.objects.order_by("-created_at", "-id"))
    )
    return list(
        meeting.items.select_related(
            "assignee_department",
            "assignee_user",
            "category",
            "added_by",
            "carried_from__meeting",
            "carried_from__assignee_department",
            "carried_from__assignee_user",
        )
        .prefetch_related(Prefetch("issues", queryset=issues.order_by("number")))
        .order_by("position", "id")
    )


def _sections(items: list[Item]) -> list[tuple[str, str, list[Item]]]:
    """Return the agenda in its order: last meeting's items, the week's hard cases, rising categories, staff's own."""
    titles = [
        (Item.Source.CARRIED, gettext("Last meeting's items: what became of each")),
        (Item.Source.HARD_CASE, gettext("Hard cases of the week")),
        (Item.Source.CATEGORY, gettext("Categories that rose most")),
        (Item.Source.STAFF, gettext("Raised by staff")),
    ]
    return [(source, title, [i for i in items if i.source == source]) for source, title in titles]


def render_meeting(
    request, *, area: Area, week: date, meeting: Meeting | None, bound: dict | None = None, status=HTTPStatus.OK
) -> HttpResponse:
    """Render the meeting page; `bound` holds a refused form by its key ("add", "decide-<id>", "review-<id>")."""
    bound = bound or {}
    context = {
        "area": area,
        "week": week,
        "week_label": week_label(week),
        "week_end": week + timedelta(days=6),
        "meeting": meeting,
        "previous_url": meeting_url(area, week - timedelta(days=7)),
        "next_url": meeting_url(area, week + timedelta(days=7)),
        "reasons": dict(HardCase.choices),
    }
    if meeting is not None:
        items = _meeting_items(meeting)
        if meeting.is_open:
            departments, users = assignee_choices(area=area)
            for item in items:
                item.decide_form = bound.get(f"decide-{item.pk}") or DecisionForm(
                    prefix=f"item-{item.pk}",
                    departments=departments,
                    users=users,
                    initial={
                        "decision": item.decision,
                        "due_date": item.due_date,
                        "assignee": f"department:{item.assignee_department.code}"
                        if item.assignee_department
                        else f"user:{item.assignee_user_id}"
                        if item.assignee_user_id
                        else "",
                    },
                )
                item.review_error = bound.get(f"review-{item.pk}")
            context["add_form"] = bound.get("add") or ItemAddForm(prefix="add")
        context.update(
            sections=_sections(items),
            item_count=len(items),
            records=list(meeting.records.select_related("actor", "item").order_by("at", "id")),
        )
    return render(request, "meetings/meeting.html", context, status=status)


class MeetingView(MeetingsMixin, View):
    def get(self, request: HttpRequest, code: str, week: str) -> HttpResponse:
        area, monday, meeting = self.meeting_of(code, week)
        return render_meeting(request, area=area, week=monday, meeting=meeting)


class MeetingPrintView(MeetingsMixin, View):
    """The paper on the table: the agenda, the decisions and the marks on A4, without the site's header."""

    def get(self, request: HttpRequest, code: str, week: str) -> HttpResponse:
        area, monday, meeting = self.meeting_of(code, week)
        if meeting is None:
            raise NotFound()
        items = _meeting_items(meeting)
        return render(
            request,
            "meetings/print.html",
            {
                "area": area,
                "meeting": meeting,
                "sections": [s for s in _sections(items) if s[2]],
                "reasons": dict(HardCase.choices),
                "back_url": meeting_url(area, monday),
            },
        )


class MeetingActionView(MeetingsMixin, View):
    """A POST on a meeting: parse, call the service, redirect; a refusal comes back on its form (400)."""

    def post(self, request: HttpRequest, code: str, week: str, **kwargs) -> HttpResponse:
        area, monday, meeting = self.meeting_of(code, week)
        self.area, self.week = area, monday
        if meeting is None and not isinstance(self, MeetingOpenView):
            raise NotFound()
        return self.act(request, meeting, **kwargs)

    def back(self, anchor: str = "") -> HttpResponse:
        return redirect(meeting_url(self.area, self.week) + (f"#{anchor}" if anchor else ""))

    def item(self, meeting: Meeting, item_id: int) -> Item:
        item = meeting.items.filter(pk=item_id).first()
        if item is None:
            raise NotFound()
        item.meeting = meeting
        return item

    def refused(self, meeting, error: WorkflowError, *, key: str = "", form=None) -> HttpResponse:
        if form is None:
            messages.error(self.request, error.message)
            return self.back()
        form_refuse(form, error)
        return render_meeting(
            self.request,
            area=self.area,
            week=self.week,
            meeting=meeting,
            bound={key: form},
            status=HTTPStatus.BAD_REQUEST,
        )


class MeetingOpenView(MeetingActionView):
    def act(self, request, meeting, **kwargs):
        services.meeting_open(area=self.area, week=self.week, actor=request.user)
        return self.back()


class MeetingRefreshView(MeetingActionView):
    def act(self, request, meeting, **kwargs):
        try:
            added = services.meeting_refresh(meeting=meeting, actor=request.user)
        except WorkflowError as error:
            return self.refused(meeting, error)
        messages.success(request, gettext("%(count)s new items added from the week's cases.") % {"count": added})
        return self.back()


class MeetingFinaliseView(MeetingActionView):
    def act(self, request, meeting, **kwargs):
        try:
            services.meeting_finalise(meeting=meeting, actor=request.user)
        except WorkflowError as error:
            return self.refused(meeting, error)
        messages.success(request, gettext("The minutes are finalised."))
        return self.back()


class ItemAddView(MeetingActionView):
    def act(self, request, meeting, **kwargs):
        form = ItemAddForm(request.POST, prefix="add")
        if not form.is_valid():
            return render_meeting(
                request,
                area=self.area,
                week=self.week,
                meeting=meeting,
                bound={"add": form},
                status=HTTPStatus.BAD_REQUEST,
            )
        try:
            item = services.item_add(
                meeting=meeting,
                actor=request.user,
                title=form.cleaned_data["title"],
                issue_numbers=form.cleaned_data["issues"],
            )
        except WorkflowError as error:
            return self.refused(meeting, error, key="add", form=form)
        return self.back(f"item-{item.pk}")


class ItemDecideView(MeetingActionView):
    def act(self, request, meeting, item_id):
        item = self.item(meeting, item_id)
        departments, users = assignee_choices(area=self.area)
        form = DecisionForm(request.POST, prefix=f"item-{item.pk}", departments=departments, users=users)
        key = f"decide-{item.pk}"
        if not form.is_valid():
            return render_meeting(
                request,
                area=self.area,
                week=self.week,
                meeting=meeting,
                bound={key: form},
                status=HTTPStatus.BAD_REQUEST,
            )
        try:
            services.item_decide(
                item=item,
                actor=request.user,
                decision=form.cleaned_data["decision"],
                assignee=form.cleaned_data["assignee"],
                due_date=form.cleaned_data["due_date"],
            )
        except WorkflowError as error:
            return self.refused(meeting, error, key=key, form=form)
        return self.back(f"item-{item.pk}")


class ItemReviewView(MeetingActionView):
    def act(self, request, meeting, item_id):
        item = self.item(meeting, item_id)
        form = ReviewForm(request.POST)
        if not form.is_valid():
            message = gettext("Mark the item done or carried forward.")
            return render_meeting(
                request,
                area=self.area,
                week=self.week,
                meeting=meeting,
                bound={f"review-{item.pk}": message},
                status=HTTPStatus.BAD_REQUEST,
            )
        try:
            services.item_review(item=item, actor=request.user, outcome=form.cleaned_data["outcome"])
        except WorkflowError as error:
            return self.refused(meeting, error)
        return self.back(f"item-{item.pk}")
