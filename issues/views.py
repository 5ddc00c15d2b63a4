"""Pages of issues: the landing, the user's issues and the issue page with its actions (statistics: stats_views).

Views parse, call and redirect, like the API's: every issue page goes through IssuePageView, whose issue comes from
`Issue.objects.visible_to(user)` (orgs.scoping) by its number, so an issue out of scope answers 404 exactly as one
that does not exist; every change goes through issues.workflow, and a refusal lands on the form
(config.pages.form_refuse).
"""

import copy
from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import connections, router
from django.db.models import Count, Max, OuterRef, Subquery
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views import View

from config.errors import NotFound, WorkflowError
from config.fragments import LocalFragments, digest
from config.pages import PageForm, form_refuse
from issues import workflow
from issues.access import ScopedIssueMixin
from issues.api.lean import Placeholder, Statement, json_rows
from issues.api.photo_files import photo_file_response
from issues.desk_panel import desk_url_for, staff_panel
from issues.follow import FollowLocked, FollowRefused, client_address, follow_check, follow_grant, follow_granted
from issues.forms import CommentForm, FollowForm, RatingForm, ReturnVisitForm
from issues.models import Event, Issue, Photo
from issues.personal_data import handles_issue
from issues.selectors import issue_list_for_user
from issues.timeline import (
    UNIT_ROWS_ATTR,
    issue_page_queryset,
    photos_by_stage,
    reporter_shown,
    resolution_note,
    running_deadlines,
    timeline_for,
    unit_rows_sql,
)
from orgs.scoping import scope_for_user

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
    "set_privacy": _("Public or private"),
}


def landing_url_for(user) -> str:
    """Return where `user` works: residents on /my/, staff at their desk; the one place that decides it."""
    if desk_url_for(user) is not None:
        return reverse("desk")  # which sends each role on to its queue
    scope = scope_for_user(user)
    if scope.node_roles:
        return reverse("stats-page")
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
        if not forms and not context["is_staff_view"]:
            context["article_html"] = article_html(self.request, context)
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

    def get(self, request: HttpRequest, number: str) -> HttpResponse:
        viewer = self.viewer()
        if scope_for_user(viewer).is_resident:
            return self.render_page(issue_page_remembered(viewer=viewer, number=number))
        return super().get(request, number)


# A resident's issue as issue_page_queryset reads it, by what it is now (see issue_page_remembered).
_issues = LocalFragments(size=2000, seconds=120)
# The issue number in the compiled stamp statement (never a number issues.numbering hands out).
ISSUE_NUMBER = Placeholder("GD-stand-in", Issue._meta.get_field("number"))
UNIT_ROWS = "unit_rows"


def issue_page_remembered(*, viewer, number: str) -> Issue:
    """Return the issue `number` as issue_page_queryset reads it for `viewer`, remembered in the process while it
    stays the same; 404 when the viewer may not see it.

    One query reads, through the same visibility rule, what says whether the issue changed: its version and last
    change (every action and every save move them), how many events it has and the last one's time (a comment adds
    one and changes nothing else), how many photos, the names shown with it (its category and department, grid,
    building), and the memberships of everyone who acted on it (the timeline names them by role and unit:
    issues.timeline._unit_labels). While those are the same, the issue read before, with its dispatches, events and
    photos, is the issue now: three queries and building their rows are saved on a resident's every look at their
    issue. That query is compiled once per viewer's scope (issues.api.lean.Statement: prepared on PostgreSQL).
    """
    statement = Statement.of(("issue-page-stamp", scope_for_user(viewer)), _stamp_query(viewer), ISSUE_NUMBER)
    rows = statement.run(number)
    if not rows:
        raise Http404
    stamp = rows[0]
    key = digest(tuple(stamp.values()))
    issue = _issues.get(key)
    if issue is None:
        issue = issue_page_queryset().filter(pk=stamp["pk"]).first()
        if issue is None:
            raise Http404
        setattr(issue, UNIT_ROWS_ATTR, [tuple(row) for row in json_rows(stamp[UNIT_ROWS])])
        _issues.set(key, issue)
    return copy.copy(issue)


def _stamp_query(viewer):
    def build(number):
        events = Event.objects.filter(issue_id=OuterRef("pk")).order_by().values("issue_id")
        photos = Photo.objects.filter(issue_id=OuterRef("pk")).order_by().values("issue_id")
        vendor = connections[router.db_for_read(Issue)].vendor
        units = unit_rows_sql(vendor, f'"{Issue._meta.db_table}"."id"')
        return (
            Issue.objects.visible_to(viewer)
            .filter(number=number)
            .annotate(
                events_n=Subquery(events.annotate(n=Count("id")).values("n")),
                events_last=Subquery(events.annotate(last=Max("at")).values("last")),
                photos_n=Subquery(photos.annotate(n=Count("id")).values("n")),
                **{UNIT_ROWS: RawSQL(f"({units})", ())},
            )
            .values(
                "pk",
                "version",
                "updated_at",
                "category__name",
                "category__department__name",
                "grid__name",
                "building__name",
                "events_n",
                "events_last",
                "photos_n",
                UNIT_ROWS,
            )
            .order_by()[:1]
        )

    return build


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


# --- the page's body, remembered -----------------------------------------------------------------------------------

ARTICLE_TEMPLATE = "issues/_issue_article.html"
# Stands for the request's CSRF token in a remembered body (never a valid token: it has spaces).
CSRF_STAND_IN = "csrf token stand-in"
_articles = LocalFragments(size=2000, seconds=300)


def article_html(request: HttpRequest, context: dict) -> str:
    """Return the issue page's body for `context`, rendered once for what it shows and remembered in the process.

    Only a page of blank forms without the staff panel (a resident's, a follower's): its key is a digest of every
    value issues/_issue_article.html reads (_article_values), the language and the time zone. The CSRF token is
    rendered as a stand-in and put back for the request.
    """
    key = digest((get_language(), timezone.get_current_timezone_name(), _article_values(context)))
    html = _articles.get(key)
    if html is None:
        html = get_template(ARTICLE_TEMPLATE).render({**context, "csrf_token": CSRF_STAND_IN}, request)
        _articles.set(key, html)
    return mark_safe(html.replace(CSRF_STAND_IN, get_token(request)))  # noqa: S308 — rendered by the template


def _article_values(context: dict) -> tuple:
    """Return what issues/_issue_article.html shows of `context` (blank forms: which, at which version)."""
    issue = context["issue"]
    forms = [name for name in ("rate_form", "return_visit_form", "comment_form") if context.get(name) is not None]
    comment = context.get("comment_form")
    photos = tuple(
        (stage, tuple((p.pk, p.width, p.height, url) for p, url in shown)) for stage, shown in context["photos"].items()
    )
    return (
        issue.pk,
        issue.number,
        issue.version,
        issue.status,
        issue.urgent,
        issue.title,
        issue.description,
        issue.kind,
        issue.category.name if issue.category_id else None,
        issue.grid.name if issue.grid_id else None,
        issue.building.name if issue.building_id else None,
        issue.address,
        issue.created_at,
        issue.channel,
        context.get("following", False),
        context["is_reporter"],
        tuple(context["reporter"].items()) if context.get("reporter") else None,
        context["deadlines"],
        context["timeline"],
        context["resolution_note"],
        tuple(context["actions"]),
        tuple((a, str(name)) for a, name in context["action_names"]),
        photos,
        tuple(sorted(context["action_urls"].items())),
        context["page_url"],
        tuple(forms),
        bool(comment is not None and "internal" in comment.fields),
    )


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
