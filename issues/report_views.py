"""/report/: the report form, the likely duplicates beside it (an htmx partial), and the page that gives the number.

The view parses and calls: the photos are checked once (issues.photos.photos_clean), then issues.workflow.issue_submit
takes everything in one transaction; a refusal lands beside its field (config.pages.form_refuse). A visitor not
signed in is counted by the API's own anonymous creation throttle (config.api.throttling.AnonCreateThrottle). Photos
already accepted survive a post refused for another field: they are kept under a signed token (issues.photo_stash)
and taken again on the next post.
"""

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views import View

from config.api.throttling import AnonCreateThrottle
from config.errors import ValidationFailed, WorkflowError
from config.pages import form_refuse
from grids.models import Area
from issues import workflow
from issues.follow import follow_grant
from issues.models import Category
from issues.photo_stash import photo_stash, photo_stash_drop, photo_thumbnail, photo_unstash
from issues.photos import MAX_PHOTOS_PER_ISSUE, photos_clean
from issues.report_forms import ReportForm
from issues.selectors import issue_likely_duplicates_of_report

DUPLICATES_SHOWN = 5
SESSION_KEY = "griddesk.reported"


class ReportView(View):
    """Show the report form; on a post, submit the issue and go to the page with its number (POST-redirect-GET)."""

    template_name = "issues/report.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_form(ReportForm(user=request.user))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ReportForm(request.POST, request.FILES, user=request.user)
        token = request.POST.get("photo_token", "")
        kept = photo_unstash(token=token)
        form.is_valid()
        if not request.user.is_authenticated:
            throttle = AnonCreateThrottle()  # the API's limit on anonymous creation, per client address
            if not throttle.allow_request(request, None):
                minutes = max(1, round((throttle.wait() or 60) / 60))
                message = gettext("Too many reports from this address. Try again in %(n)s minutes.") % {"n": minutes}
                form.add_error(None, message)
                response = self.render_form(form, kept=kept, token=token, status=HTTPStatus.TOO_MANY_REQUESTS)
                response["Retry-After"] = str(minutes * 60)
                return response
        photos = kept + self.new_photos(form, kept=kept)
        if len(photos) > len(kept):
            # Newly accepted photos: one stash for all that is kept now; the old one is no longer named.
            photo_stash_drop(token=token)
            token = ""
        if form.is_valid():
            try:
                issue = workflow.issue_submit(actor=request.user, photos=photos, **form.submit_kwargs())
            except WorkflowError as exc:
                form_refuse(form, exc)
            else:
                photo_stash_drop(token=token)
                if not request.user.is_authenticated:
                    # A visitor follows their report as /follow/ lets a reporter with the number and the phone.
                    follow_grant(request.session, issue=issue, phone=issue.reporter_phone)
                request.session[SESSION_KEY] = issue.number
                return redirect("report-sent")
        return self.render_form(form, kept=photos, token=token, status=HTTPStatus.BAD_REQUEST)

    def new_photos(self, form: ReportForm, *, kept: list) -> list:
        """Return the photos of this post that are acceptable, checked and re-encoded one by one.

        Each refused file is named beside the Photos field; the good ones of the same post are kept all the same.
        """
        files = self.request.FILES.getlist("photos")
        if not files:
            return []
        if len(kept) + len(files) > MAX_PHOTOS_PER_ISSUE:
            form.add_error("photos", gettext("Send at most %(n)s photos.") % {"n": MAX_PHOTOS_PER_ISSUE})
            return []
        accepted = []
        for file in files:
            try:
                accepted += photos_clean(files=[file])
            except ValidationFailed:
                message = gettext("%(name)s is not a photo we can take: send JPEG, PNG or WebP, 10 MB at most.")
                form.add_error("photos", message % {"name": file.name})
        return accepted

    def render_form(self, form: ReportForm, *, kept=(), token="", status=HTTPStatus.OK) -> HttpResponse:
        kept = list(kept)
        if kept and not token:
            token = photo_stash(photos=kept)
        if form.is_bound:
            data = form.data.copy()
            data["photo_token"] = token if kept else ""
            form.data = data
        context = {
            "form": form,
            "kept": [photo_thumbnail(photo) for photo in kept],
            "max_photos": MAX_PHOTOS_PER_ISSUE,
            "duplicates": _duplicates_for(getattr(form, "cleaned_data", {})),
            "duplicates_checked": bool(getattr(form, "cleaned_data", {}).get("category")),
        }
        return render(self.request, self.template_name, context, status=status)


def _duplicates_for(data: dict) -> list:
    """Return the likely duplicates of a report not yet sent (issues.selectors' rule), at most DUPLICATES_SHOWN."""
    code = data.get("category")
    if not code:
        return []
    category = Category.objects.filter(code=code, is_active=True).first()
    grid = Area.objects.filter(code=data.get("grid"), level=Area.Level.GRID).first() if data.get("grid") else None
    building = None
    if data.get("building"):
        building = Area.objects.filter(code=data["building"], level=Area.Level.BUILDING).first()
    found = issue_likely_duplicates_of_report(
        category=category, lat=data.get("lat"), lng=data.get("lng"), grid=grid, building=building
    )
    return list(found[:DUPLICATES_SHOWN])


def report_duplicates(request: HttpRequest) -> HttpResponse:
    """Answer the list of likely duplicates for a category and a point, a building or a grid (an htmx partial)."""
    data = {key: request.GET.get(key, "").strip() for key in ("category", "grid", "building")}
    for key in ("lat", "lng"):
        try:
            data[key] = float(request.GET.get(key, ""))
        except ValueError:
            data[key] = None
    context = {"duplicates": _duplicates_for(data), "duplicates_checked": bool(data["category"])}
    return render(request, "issues/_report_duplicates.html", context)


def report_sent(request: HttpRequest) -> HttpResponse:
    """Show the number of the report just sent, and the link to its page."""
    number = request.session.get(SESSION_KEY)
    if not number:
        return redirect("report")
    # Signed in: the issue page; a visitor: the same page as /follow/ shows it, granted to this session on submit.
    page = "issue-detail" if request.user.is_authenticated else "follow-issue"
    return render(
        request, "issues/report_sent.html", {"number": number, "issue_url": reverse(page, kwargs={"number": number})}
    )
