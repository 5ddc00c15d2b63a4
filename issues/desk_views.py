"""The staff desks: /desk/ and its three queues, the action forms of the issue page, the bulk triage.

Views parse, call and redirect, like the API's: reads through issues.desks (scoped by orgs.scoping), every change
through issues.workflow. An action form carries the version the staff member read; if someone changed the issue
meanwhile, the page shows it as it is now with "changed meanwhile by …" at the top of the form and the typed text
kept, and nothing of the refused action applied.
"""

from http import HTTPStatus
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.timesince import timeuntil
from django.utils.translation import get_language, gettext, gettext_noop, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from config.errors import StaleVersion, ValidationFailed, WorkflowError
from config.fragments import LocalFragments, digest
from config.redis_cache import quietly
from issues import desk_forms as f
from issues import workflow
from issues.desk_panel import ACTION_BUTTONS, desk_queues_for, desk_url_for, staff_form
from issues.desks import (
    DEPARTMENT_TABS,
    ESCALATION_TABS,
    TRIAGE_TABS,
    desk_category_choices,
    desk_department,
    desk_escalations,
    desk_triage,
)
from issues.models import Event, Issue
from issues.timeline import _unit_labels
from issues.views import IssueActionView
from triage.hotspot_actions import hotspot_dispatch, hotspot_link_duplicates
from triage.hotspots import hotspots_open_for
from triage.models import HotSpot
from triage.suggest import current_model, triage_suggest_many

NOT_ANSWERING = "desk: the cache does not answer; ranking the page's suggestions again"
# How long a rendered row is remembered (see _render_rows); its key changes with anything it shows.
ROW_CACHE_SECONDS = 600
# Rows kept in this process besides the shared cache (see _render_rows): a few busy queues' pages in every language.
_local_rows = LocalFragments(size=4000, seconds=120)
# A queue's heading and filters, and the bulk form's category (see _fragment).
_local_fragments = LocalFragments(size=500, seconds=600)
# Stands for the request's CSRF token in a remembered accept form (never a valid token: it has a space).
CSRF_STAND_IN = "csrf token stand-in"
# How long a new issue's triage suggestion is remembered for the queue (see _attach_suggestions).
SUGGESTION_CACHE_SECONDS = 600

# --- where each role works ------------------------------------------------------------------------------------------


@login_required
def desk(request: HttpRequest) -> HttpResponse:
    """Send each role to its queue; a resident has none."""
    url = desk_url_for(request.user)
    if url is None:
        raise Http404
    return redirect(url)


# --- the queues ----------------------------------------------------------------------------------------------------

QUEUES = {
    "triage": (
        desk_triage,
        TRIAGE_TABS,
        {"new": pgettext_lazy("desk", "New"), "open": pgettext_lazy("desk", "All open")},
    ),
    "department": (
        desk_department,
        DEPARTMENT_TABS,
        {
            "awaiting": pgettext_lazy("desk", "Awaiting acceptance"),
            "in_progress": pgettext_lazy("desk", "In progress"),
            "overdue": pgettext_lazy("desk", "Overdue"),
            "returned": _("Returned"),
        },
    ),
    "escalations": (
        desk_escalations,
        ESCALATION_TABS,
        {
            "escalated": _("Escalated"),
            "overdue": pgettext_lazy("desk", "Overdue"),
            "extensions": pgettext_lazy("desk", "Extension requests"),
            "supervised": pgettext_lazy("desk", "Supervised"),
        },
    ),
}
TITLES = {
    "triage": pgettext_lazy("desk", "Triage"),
    "department": pgettext_lazy("desk", "Department work"),
    "escalations": pgettext_lazy("desk", "Escalations"),
}
FILTER_KEYS = ("status", "kind", "category", "area", "channel", "overdue", "escalated", "q")


def _queue_view(name: str):
    read, tabs, labels = QUEUES[name]

    @login_required
    def view(request: HttpRequest) -> HttpResponse:
        queues = desk_queues_for(request.user)
        if name not in queues:
            raise Http404
        params = {k: v for k in FILTER_KEYS if (v := request.GET.get(k, "").strip())}
        tab = request.GET.get("tab") or next(iter(tabs))
        # Every filter named (blank when not given): the form's fields read them without a failed lookup each.
        shown = dict.fromkeys(FILTER_KEYS, "") | params
        context = {"queue": name, "title": TITLES[name], "params": shown, "tab": tab, "error": None, "queues": queues}
        try:
            page = read(user=request.user, tab=tab, params=params, cursor=request.GET.get("cursor"))
        except ValidationFailed as error:
            page = None
            context["error"] = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.fields.items()) or error.message
        query = urlencode(params)
        choices = desk_category_choices()
        groups = category_groups(choices)
        context.update(
            page=page,
            tabs=[(key, labels[key], page.counts.get(key, 0) if page else 0) for key in tabs],
            query=query,
            export_query=urlencode({**_export_params(name, tab, params)}),
            category_groups=groups,
            statuses=Issue.Status.choices,
            channels=Issue.Channel.choices,
            kinds=Issue._meta.get_field("kind").choices,
            next_url=f"?{urlencode({**params, 'tab': tab, 'cursor': page.next_cursor})}"
            if page and page.next_cursor
            else "",
            bulk_form=f.BulkDispatchForm(
                rows=[r for r in page.rows if r.status == Issue.Status.SUBMITTED], choices=choices
            )
            if name == "triage" and page
            else None,
        )
        # The heading, the filters and the bulk form's category: the same for every page of a queue with these filters.
        choices_digest = digest(choices)
        context["head_html"] = _fragment(
            "desk/_head.html", context, (name, tuple(queues), tab, tuple(shown.items()), choices_digest)
        )
        if context["bulk_form"] and page.rows:
            context["bulk_html"] = _fragment("desk/_bulk.html", context, (choices_digest,))
        if page:
            # The triage queue suggests a category for new issues: a row's HTML depends on the model that ranks it.
            model_id = current_model()[0] if name == "triage" else None
            _render_rows(request, page.rows, bulk=bool(context["bulk_form"]), model_id=model_id)
        if name == "escalations":
            context["hotspots"] = hotspots_open_for(user=request.user)
        status = HTTPStatus.BAD_REQUEST if context["error"] else HTTPStatus.OK
        return render(request, "desk/queue.html", context, status=status)

    view.__name__ = f"desk_{name}"
    return view


def _fragment(template_name: str, context: dict, values: tuple) -> str:
    """Render `template_name` with `context`, or return it as this process rendered it for the same `values` (all
    that the template reads of the context) in the same language."""
    key = digest((template_name, get_language(), values))
    html = _local_fragments.get(key)
    if html is None:
        html = get_template(template_name).render(context)
        _local_fragments.set(key, html)
    return mark_safe(html)  # noqa: S308 — rendered by the template, which escapes


def _attach_suggestions(rows) -> None:
    """Give each new issue the reporter left uncategorised its top triage suggestion (`issue.suggestion`, or None).

    Ranking a page costs a model call and a count of the grids' recent issues (triage.suggest.place_priors): each
    issue's suggestion is remembered for SUGGESTION_CACHE_SECONDS under the model and the issue's version, so a
    queue reloaded all day ranks only the issues it has not shown yet. A new model, or any change to the issue
    (its version), asks again; a category renamed meanwhile shows its old name until then.
    """
    pending = [r for r in rows if r.status == Issue.Status.SUBMITTED and r.category_id is None]
    for issue in rows:
        issue.suggestion = None
    if not pending:
        return
    model_id, _fitted = current_model()
    if model_id is None:
        return
    keys = {issue.pk: f"desk:suggestion:{model_id}:{issue.pk}:{issue.version}" for issue in pending}
    known = quietly(cache.get_many, list(keys.values()), warning=NOT_ANSWERING) or {}
    unknown = [issue for issue in pending if keys[issue.pk] not in known]
    if unknown:
        tops = triage_suggest_many([r.description for r in unknown], places=[r.grid for r in unknown], limit=1)
        fresh = {keys[issue.pk]: (top[0] if top else None) for issue, top in zip(unknown, tops, strict=True)}
        quietly(cache.set_many, fresh, SUGGESTION_CACHE_SECONDS, warning=NOT_ANSWERING)
        known |= fresh
    for issue in pending:
        issue.suggestion = known[keys[issue.pk]]


def _render_rows(request: HttpRequest, rows, *, bulk: bool, model_id: int | None = None) -> None:
    """Set each row's HTML (`row_html`) and its suggestion's accept form (`accept_html`), remembered by content.

    A queue page is fifty rows of a dozen tags each: most of its time went to the template engine. Each row is
    rendered once for what it shows (every value desk/_row.html and the triage includes read, the language and the
    time zone: _row_key) and remembered for ROW_CACHE_SECONDS; a page reads them all in one cache call. The accept
    forms are remembered with a stand-in for the CSRF token, put back for the request.

    Each process also keeps the rows it read or rendered last (config.fragments: a key is a digest of the row's
    content, so a local copy is never wrong) for two minutes: most pages then read no cache at all.

    A new issue's suggestion is a function of the triage model (`model_id`) and the issue's version (both in the key),
    remembered as long as its row (_attach_suggestions): it is ranked only for the rows rendered afresh.
    """
    now = timezone.now()
    language, zone = get_language(), timezone.get_current_timezone_name()
    for row in rows:
        row.due_in = timeuntil(row.running_due_at, now) if row.running_due_at and not row.overdue else ""
    keys = {row.pk: _row_key(row, language=language, zone=zone, bulk=bulk, model_id=model_id) for row in rows}
    known = _local_rows.get_many(keys.values())
    if len(known) < len(keys):
        absent = [key for key in keys.values() if key not in known]
        shared = quietly(cache.get_many, absent, warning=NOT_ANSWERING) or {}
        _local_rows.set_many(shared)
        known |= shared
    missing = [row for row in rows if keys[row.pk] not in known]
    if missing and model_id is not None:
        _attach_suggestions(missing)
    fresh = {}
    for row in missing:
        fresh[keys[row.pk]] = _row_render(row, bulk=bulk)
    if fresh:
        quietly(cache.set_many, fresh, ROW_CACHE_SECONDS, warning=NOT_ANSWERING)
        _local_rows.set_many(fresh)
        known |= fresh
    token = get_token(request)
    for row in rows:
        row_html, accept_html = known[keys[row.pk]]
        row.row_html = mark_safe(row_html)  # noqa: S308 — rendered by desk/_row.html, which escapes
        row.accept_html = mark_safe(accept_html.replace(CSRF_STAND_IN, token))  # noqa: S308 — the same


def _row_key(row, *, language: str, zone: str, bulk: bool, model_id: int | None) -> str:
    """Return the cache key of a row's HTML: a digest of every value desk/_row.html and the triage includes show
    (a new issue's suggestion through the model that ranks it and the issue's version)."""
    extension = row.pending_extension
    suggests = model_id if row.status == Issue.Status.SUBMITTED and row.category_id is None else None
    values = (
        language,
        zone,
        bulk,
        row.pk,
        row.number,
        row.version,
        row.status,
        row.urgent,
        row.supervised,
        row.overdue,
        row.late_days,
        row.late_hours,
        row.due_in,
        row.running_due_at,
        row.title,
        row.description,
        row.category.name if row.category_id else None,
        row.channel,
        row.grid.name,
        row.escalation_level,
        row.created_at,
        [d.number for d in row.likely_duplicates or ()],
        (extension.workdays, extension.department.name if extension.department else None) if extension else None,
        suggests,
    )
    return "desk:row:" + digest(values)


def _row_render(row, *, bulk: bool) -> tuple[str, str]:
    context = {"issue": row, "bulk_form": bulk, "csrf_token": CSRF_STAND_IN}
    row_html = get_template("desk/_row.html").render(context)
    accept_html = ""
    if row.suggestion:
        accept_html = get_template("triage/_accept_form.html").render({**context, "suggestion": row.suggestion})
    return row_html, accept_html


def category_groups(choices: list) -> list[tuple[str, list]]:
    """Return category choices (desk_forms.category_choices) as (parent name or "", [(code, label)]) for a select."""
    singles, groups = [], []
    for value, label in choices[1:]:
        (groups.append((value, label)) if isinstance(label, list) else singles.append((value, label)))
    return [("", singles), *groups]


def _export_params(name: str, tab: str, params: dict) -> dict:
    """Return the export's filters for a queue (the export endpoint's words: status, kind, area, overdue, q …)."""
    out = {k: v for k, v in params.items() if k in ("status", "kind", "category", "area", "overdue", "q", "channel")}
    if params.get("escalated") == "true":
        out["escalation_level"] = "1"
    if name == "triage" and tab == "new":
        out["status"] = "submitted"
    elif name == "triage":
        out.setdefault("status", ",".join(Issue.OPEN_STATUSES))
    elif tab == "overdue":
        out["overdue"] = "true"
    return out


desk_triage_view = _queue_view("triage")
desk_department_view = _queue_view("department")
desk_escalations_view = _queue_view("escalations")


@login_required
def desk_bulk_dispatch(request: HttpRequest) -> HttpResponse:
    """Classify the selected new issues with one category and dispatch each to its usual department (POST)."""
    if request.method != "POST":
        return redirect("desk-triage")
    chosen = Issue.objects.visible_to(request.user).filter(
        pk__in=request.POST.getlist("issues"), status=Issue.Status.SUBMITTED
    )
    rows = list(chosen.order_by("created_at"))
    form = f.BulkDispatchForm(request.POST, rows=rows)
    if not form.is_valid():
        messages.error(request, gettext(gettext_noop("Choose the issues and a category.")))
        return redirect("desk-triage")
    done, refused = [], []
    for issue in rows:
        if str(issue.pk) not in form.cleaned_data["issues"]:
            continue
        try:
            category = form.cleaned_data["category"]
            classified = workflow.issue_classify(issue=issue, actor=request.user, category=category)
            department = classified.category.department
            if department is None:
                raise ValidationFailed.on("category", gettext_noop("The category names no department."))
            workflow.issue_dispatch(issue=classified, actor=request.user, departments=[department])
            done.append(issue.number)
        except WorkflowError as error:
            refused.append(f"{issue.number}: {error.message}")
    if done:
        messages.success(request, gettext("Classified and dispatched: %(numbers)s") % {"numbers": ", ".join(done)})
    for line in refused:
        messages.error(request, line)
    return redirect("desk-triage")


@login_required
def desk_hotspot_handle(request: HttpRequest, pk: int, how: str) -> HttpResponse:
    """Handle a hot spot's cluster at once (POST): link its reports as duplicates of the oldest, or dispatch them
    together; each issue goes through the workflow, which checks scope and role as for one."""
    if request.method != "POST" or "escalations" not in desk_queues_for(request.user):
        raise Http404
    spot = HotSpot.objects.filter(pk=pk, status=HotSpot.Status.OPEN).select_related("category").first()
    if spot is None or not hotspots_open_for(user=request.user, only=pk):
        raise Http404
    if how == "duplicates":
        original, done, refused = hotspot_link_duplicates(spot=spot, actor=request.user)
        if done:
            messages.success(
                request,
                gettext("Linked as duplicates of %(original)s: %(numbers)s")
                % {"original": original.number, "numbers": ", ".join(done)},
            )
    else:
        done, refused = hotspot_dispatch(spot=spot, actor=request.user)
        if done:
            messages.success(request, gettext("Dispatched together: %(numbers)s") % {"numbers": ", ".join(done)})
    if not done and not refused:
        messages.info(request, gettext("Nothing in this hot spot could be handled that way."))
    for line in refused:
        messages.error(request, line)
    return redirect("desk-escalations")


# --- the action forms of the issue page ----------------------------------------------------------------------------


def changed_by(issue: Issue) -> str:
    """Return who changed `issue` last, by role and unit (as the timeline names staff), or by name."""
    event = Event.objects.filter(issue=issue).select_related("actor").order_by("-at", "-id").first()
    if event is None or event.actor_id is None:
        return pgettext("desk", "the system")
    if event.actor_id == issue.reporter_user_id:
        return pgettext("desk", "the reporter")
    label = _unit_labels(issue, {event.actor_id}).get(event.actor_id)
    return label or event.actor.get_full_name() or event.actor.get_username()


class DeskActionView(IssueActionView):
    """Take one staff action from its form on the issue page; a stale form shows who changed the issue meanwhile."""

    action: str

    @property
    def form_name(self) -> str:
        return f"{self.action}_form"

    def make_form(self, issue, data=None, files=None):
        return staff_form(self.action, issue=issue, viewer=self.request.user, data=data, files=files)

    def refused(self, *, form, error, issue: Issue) -> None:
        if isinstance(error, StaleVersion):
            # Keep the typed text; the next press acts on the issue as it is now, shown above the form.
            form.data = form.data.copy()
            form.data[form.add_prefix("version")] = str(issue.version)
            form.add_error(
                None,
                gettext("Changed meanwhile by %(who)s: the issue is shown as it is now. Check and try again.")
                % {"who": changed_by(issue)},
            )

    def done(self, issue: Issue) -> HttpResponse:
        request = self.request
        if not Issue.objects.visible_to(request.user).filter(pk=issue.pk).exists():
            messages.info(request, gettext("%(number)s is now outside your scope.") % {"number": issue.number})
            return redirect(desk_url_for(request.user) or "home")
        messages.success(request, gettext("%(action)s: done.") % {"action": ACTION_BUTTONS[self.action]})
        return redirect(self.page_url(issue))


def _call(action: str):
    """Return the `call` of an action view: the form's cleaned data as the workflow function's arguments."""

    def call(self, *, issue, form):
        data = dict(form.cleaned_data)
        user = self.request.user
        if action == "resolve":
            data["photos"] = data.get("photos") or ()
        if action == "reject" and data.get("reason") != Issue.RejectReason.DUPLICATE:
            data.pop("duplicate_of", None)
        if action == "dispatch" and not data.get("lead"):
            data.pop("lead", None)
        kwargs = {k: v for k, v in data.items() if v not in (None, "") or k in ("version", "photos")}
        getattr(workflow, f"issue_{action}")(issue=issue, actor=user, **kwargs)

    return call


ACTION_VIEWS = {
    action: type(f"{action.title().replace('_', '')}View", (DeskActionView,), {"action": action, "call": _call(action)})
    for action in ACTION_BUTTONS
}
