"""Pages of issues: the landing, the user's issues, the issue page with its actions, and the staff dashboard.

Views parse, call and redirect, like the API's: every issue page goes through IssuePageView, whose issue comes from
`Issue.objects.visible_to(user)` (orgs.scoping) by its number, so an issue out of scope answers 404 exactly as one
that does not exist; every change goes through issues.workflow, and a refusal lands on the form
(config.pages.form_refuse). The dashboard's check is the API's IsTerritoryStaff, its area
issues.access.ScopedIssueMixin.get_area, its figures issues.selectors.issue_stats.
"""

from datetime import date
from http import HTTPStatus
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View

from config.api.permissions import IsTerritoryStaff
from config.db_router import replica_reads
from config.errors import NotFound, WorkflowError
from config.pages import PageForm, form_refuse
from grids.models import Area
from issues import workflow
from issues.access import ScopedIssueMixin
from issues.api.photo_files import photo_file_response
from issues.arguments import EARLIEST_DAY, LATEST_DAY, validate_day
from issues.charts import Rate, count_bars_svg, grouped_rates_svg, rate_gauges_svg
from issues.desk_panel import desk_url_for, staff_panel
from issues.follow import FollowLocked, FollowRefused, client_address, follow_check, follow_grant, follow_granted
from issues.forms import CommentForm, FollowForm, RatingForm, ReturnVisitForm
from issues.models import Issue, Photo
from issues.personal_data import handles_issue
from issues.selectors import issue_list_for_user, issue_stats
from issues.sla import LOCAL_TZ
from issues.timeline import (
    issue_page_queryset,
    photos_by_stage,
    reporter_shown,
    resolution_note,
    running_deadlines,
    timeline_for,
)
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
            with replica_reads(user=request.user):  # statistics may lag a moment (config/db_router.py)
                stats = issue_stats(area=area, date_from=form.cleaned_data["from"], date_to=form.cleaned_data["to"])
            context.update(stats=stats, charts=_charts(stats, query={k: data[k] for k in ("from", "to")}))
        return render(request, "issues/dashboard.html", context)


dashboard = DashboardView.as_view()


# --- landing and the user's issues ----------------------------------------------------------------------------------

MY_ISSUES_SHOWN = 20
# The buttons of the actions, named by DESIGN.md's words.
ACTION_NAMES = {
    "classify": _("Classify"),
    "dispatch": _("Dispatch"),
    "accept": _("Accept"),
    "return": _("Return"),
    "resolve": _("Resolve"),
    "rate": _("Rate"),
    "reopen": _("Reopen"),
    "reject": _("Reject"),
    "escalate": _("Escalate"),
    "extend": _("Extend"),
    "approve_extension": _("Approve"),
    "comment": _("Comment"),
    "return_visit": _("Record a return visit"),
}


def landing_url_for(user) -> str:
    """Return where `user` works: residents on /my/, staff at their desk; the one place that decides it."""
    if desk_url_for(user) is not None:
        return reverse("desk")  # which sends each role on to its queue
    scope = scope_for_user(user)
    if scope.node_roles:
        return reverse("dashboard")
    # A hotline operator's desk is the intake form.
    if scope.intake_paths:
        return reverse("hotline")
    # Department staff have no territory to chart: their issues are the ones dispatched to them.
    return reverse("my-issues")


def home(request: HttpRequest) -> HttpResponse:
    """Send a signed-in user where they work; invite anyone else to sign in or follow a report."""
    if request.user.is_authenticated:
        return redirect(landing_url_for(request.user))
    return render(request, "pages/home.html")


@login_required
def my_issues(request: HttpRequest) -> HttpResponse:
    """List the issues of the user newest first (a resident: what they reported), each linked to its page."""
    issues = issue_list_for_user(user=request.user).select_related("grid").order_by("-created_at")[:MY_ISSUES_SHOWN]
    return render(request, "issues/my.html", {"issues": list(issues)})


# --- the issue page -------------------------------------------------------------------------------------------------


class IssuePageView(ScopedIssueMixin, View):
    """The scoped base of every issue page: the issue by its number among those the user may see, else 404.

    It stands on issues.access.ScopedIssueMixin (the one scoped base, API and pages) and reads the issue by number
    through the same rule, `Issue.objects.visible_to`, for the viewer (a follower by number and phone: nobody).

    Subclasses that act on the issue set `form_class` and `call()`: the form is parsed, the workflow called, and the
    answer is a redirect to the issue page (POST-redirect-GET), or the page again with the refusal on the form.
    """

    template_name = "issues/issue_detail.html"
    http_method_names = ["get"]
    # Nobody signed in is sent to sign in first, whatever the number (so the answer says nothing about it).
    sign_in_first = True

    def dispatch(self, request, *args, **kwargs):
        if self.sign_in_first and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def viewer(self):
        """Return the user the page is read as (None: a follower by number and phone)."""
        return self.request.user

    def get_issue(self, issue_id=None) -> Issue:
        issue = issue_page_queryset().visible_to(self.viewer()).filter(number=self.kwargs["number"]).first()
        if issue is None:
            raise Http404
        return issue

    def page_url(self, issue: Issue) -> str:
        return reverse("issue-detail", kwargs={"number": issue.number})

    def action_urls(self, issue: Issue) -> dict[str, str]:
        """Return where each form of the page posts: issue-<action> by the issue's number."""
        return {
            name: reverse(f"issue-{name.replace('_', '-')}", kwargs={"number": issue.number})
            for name in ("rate", "comment", "return_visit")
        }

    def photo_url(self, photo) -> str:
        return photo.image.url

    def get(self, request: HttpRequest, number: str) -> HttpResponse:
        return self.render_page(self.get_issue())

    def render_page(self, issue: Issue, *, forms: dict | None = None, status: int = HTTPStatus.OK) -> HttpResponse:
        context = issue_page_context(issue, viewer=self.viewer(), forms=forms or {}, **self.page_options(issue))
        context.update(
            page_url=self.page_url(issue),
            action_urls=self.action_urls(issue),
            photos={stage: [(p, self.photo_url(p)) for p in shown] for stage, shown in photos_by_stage(issue).items()},
        )
        context.update(self.extra_context(issue))
        return render(self.request, self.template_name, context, status=status)

    def page_options(self, issue: Issue) -> dict:
        """Return issue_page_context's options for this page (the follow page: the reporter, and rating only)."""
        return {}

    def extra_context(self, issue: Issue) -> dict:
        return {}


class IssueActionView(IssuePageView):
    """Take one workflow action from a form on the issue page (POST only)."""

    http_method_names = ["post"]
    form_class: type[PageForm]
    form_name: str  # the form's name in the page's context ("rate_form")
    done_message = ""

    def make_form(self, issue: Issue, data=None, files=None) -> PageForm:
        return self.form_class(data, files)

    def call(self, *, issue: Issue, form: PageForm) -> None:
        raise NotImplementedError

    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        issue = self.get_issue()
        form = self.make_form(issue, request.POST, request.FILES)
        status = HTTPStatus.BAD_REQUEST
        if form.is_valid():
            try:
                self.call(issue=issue, form=form)
            except NotFound:
                raise Http404 from None
            except WorkflowError as error:
                form_refuse(form, error)
                status = error.status
                issue = self.get_issue()  # as it is now: a stale form shows what changed meanwhile
                self.refused(form=form, error=error, issue=issue)
            else:
                return self.done(issue)
        return self.render_page(issue, forms={self.form_name: form}, status=status)

    def refused(self, *, form: PageForm, error: WorkflowError, issue: Issue) -> None:
        """Add to a refused form what this page says beyond the refusal (the desks: who changed it meanwhile)."""

    def done(self, issue: Issue) -> HttpResponse:
        """Answer a taken action: back to the issue page (POST-redirect-GET), with the page's message."""
        if self.done_message:
            messages.success(self.request, self.done_message)
        return redirect(self.page_url(issue))


class IssueDetailView(IssuePageView):
    """Show an issue to the reporter or the staff in scope, with the actions the viewer may take."""


class IssueRateView(IssueActionView):
    """Rate a resolved issue (the reporter): 3–5 closes it, 1–2 reopens it."""

    form_class = RatingForm
    form_name = "rate_form"
    done_message = _("Thank you: your rating was recorded.")

    # A return visit (回访) records what a reporter without an account said on the phone, through the same action.
    return_visit = False

    def call(self, *, issue, form):
        data = form.cleaned_data
        workflow.issue_rate(
            issue=issue,
            actor=self.request.user,
            score=data["rating"],
            comment=data["comment"],
            version=data["version"],
            return_visit=self.return_visit,
        )


class IssueCommentView(IssueActionView):
    """Add a comment (staff in scope may make it internal)."""

    form_class = CommentForm
    form_name = "comment_form"
    done_message = _("Your comment was added.")

    def make_form(self, issue, data=None, files=None):
        internal = workflow.may("comment_internal", actor=self.request.user, issue=issue)
        return CommentForm(data, files, internal_allowed=internal)

    def call(self, *, issue, form):
        data = form.cleaned_data
        workflow.issue_comment(
            issue=issue,
            actor=self.request.user,
            text=data["text"],
            internal=data.get("internal", False),
        )


class IssueReturnVisitView(IssueRateView):
    """Record the rating a reporter without an account gave on the phone (回访): community staff and up."""

    form_class = ReturnVisitForm
    form_name = "return_visit_form"
    done_message = _("The return visit's rating was recorded.")
    return_visit = True


def issue_page_context(
    issue: Issue, *, viewer, forms: dict, is_reporter: bool = False, actions: list[str] | None = None
) -> dict:
    """Return what the issue page shows of `issue` to `viewer`, with a blank form for each action it offers."""
    is_reporter = is_reporter or (viewer is not None and viewer.pk is not None and viewer.pk == issue.reporter_user_id)
    if actions is None:
        actions = workflow.issue_actions_for(issue=issue, actor=viewer) if viewer is not None else []
    blank = {"version": issue.version}
    if "rate" in actions and "rate_form" not in forms:
        forms["rate_form"] = RatingForm(initial=blank)
    if "return_visit" in actions and "return_visit_form" not in forms:
        forms["return_visit_form"] = ReturnVisitForm(initial=blank)
    if "comment" in actions and "comment_form" not in forms:
        forms["comment_form"] = CommentForm(initial=blank, internal_allowed="comment_internal" in actions)
    if handles_issue(viewer, issue):
        forms.update(staff_panel(issue, viewer=viewer, actions=actions, forms=forms))
    return {
        "issue": issue,
        "statuses": Issue.Status.choices,
        "is_reporter": is_reporter,
        "is_staff_view": handles_issue(viewer, issue),
        "timeline": timeline_for(issue, viewer=viewer),
        "deadlines": running_deadlines(issue),
        "reporter": reporter_shown(issue, viewer=viewer, is_reporter=is_reporter),
        "resolution_note": resolution_note(issue),
        "actions": actions,
        "action_names": [(a, ACTION_NAMES[a]) for a in actions if a in ACTION_NAMES],
        **forms,
    }


# --- following by number and phone ----------------------------------------------------------------------------------


def follow(request: HttpRequest) -> HttpResponse:
    """Ask for an issue number and the phone it was reported with; a right pair opens that issue's page."""
    form = FollowForm(request.POST or None)
    status = HTTPStatus.OK
    if request.method == "POST" and form.is_valid():
        number, phone = form.cleaned_data["number"], form.cleaned_data["phone"]
        try:
            issue = follow_check(number=number, phone=phone, address=client_address(request))
        except FollowLocked:
            form.add_error(None, gettext("Too many wrong attempts. Try again in 15 minutes."))
            status = HTTPStatus.TOO_MANY_REQUESTS
        except FollowRefused:
            form.add_error(None, gettext("No report matches this number and phone. Check both and try again."))
            status = HTTPStatus.BAD_REQUEST
        else:
            follow_grant(request.session, issue=issue, phone=phone)
            return redirect("follow-issue", number=issue.number)
    elif request.method == "POST":
        status = HTTPStatus.BAD_REQUEST
    return render(request, "issues/follow.html", {"form": form}, status=status)


class FollowedIssueMixin:
    """Read the issue as its reporter who proved the number and phone: only with this session's grant for it."""

    sign_in_first = False

    def viewer(self):
        return None

    def get_issue(self) -> Issue:
        issue = issue_page_queryset().filter(number=self.kwargs["number"]).first()
        self.phone = follow_granted(self.request.session, issue_id=issue.pk) if issue else None
        if self.phone is None:
            raise Http404
        return issue

    def page_url(self, issue: Issue) -> str:
        return reverse("follow-issue", kwargs={"number": issue.number})

    def action_urls(self, issue: Issue) -> dict[str, str]:
        return {"rate": reverse("follow-rate", kwargs={"number": issue.number})}

    def photo_url(self, photo) -> str:
        return reverse("follow-photo", kwargs={"number": self.kwargs["number"], "photo_id": photo.pk})

    def page_options(self, issue: Issue) -> dict:
        may_rate = workflow.rate_by_phone_refusal(issue=issue, phone=self.phone) is None
        return {"is_reporter": True, "actions": ["rate"] if may_rate else []}

    def extra_context(self, issue: Issue) -> dict:
        return {"following": True}


class FollowIssueView(FollowedIssueMixin, IssuePageView):
    """Show the followed issue as its reporter sees it (/follow/<number>/)."""


class FollowRateView(FollowedIssueMixin, IssueActionView):
    """Rate the followed issue as its reporter, identified by the phone proved (issue_rate's reporter_phone)."""

    form_class = RatingForm
    form_name = "rate_form"
    done_message = _("Thank you: your rating was recorded.")

    def call(self, *, issue, form):
        data = form.cleaned_data
        workflow.issue_rate(
            issue=issue,
            actor=None,
            score=data["rating"],
            comment=data["comment"],
            version=data["version"],
            reporter_phone=self.phone,
        )


def follow_photo(request: HttpRequest, number: str, photo_id: int) -> HttpResponse:
    """Answer a photo of the followed issue: only with this session's grant for it."""
    issue = Issue.objects.filter(number=number).only("pk").first()
    if issue is None or follow_granted(request.session, issue_id=issue.pk) is None:
        raise Http404
    photo = Photo.objects.filter(issue=issue, pk=photo_id).first()
    if photo is None:
        raise Http404
    return photo_file_response(photo)
