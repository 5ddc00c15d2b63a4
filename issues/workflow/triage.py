"""Triage: submit, classify, dispatch and reject an issue."""

from collections.abc import Sequence

from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from config.compiled import sent_alone
from config.errors import Message, ValidationFailed, one_of
from grids.models import Area
from issues.arguments import (
    clean_bool,
    clean_category,
    clean_coordinates,
    clean_kind,
    clean_phone,
    clean_text,
    is_within,
    issue_pk,
    require_reporter_phone,
    route_report,
)
from issues.idempotency import IdempotencyKey, idempotency_claim, idempotency_settle
from issues.models import Category, Dispatch, Issue, Kind
from issues.numbering import NUMBER_PENDING, issue_number_next
from issues.photos import MAX_PHOTOS_PER_ISSUE, CleanPhoto, photos_store
from issues.sla import deadlines_for
from issues.workflow.guards import (
    _active_dispatches,
    _check_version,
    _department_data,
    _departments_of_district,
    _iso,
    _lock,
    _place,
    _record,
    _settle_departed_extensions,
)
from issues.workflow.predicates import _refuse
from issues.workflow.rules import (
    ADDRESS_MAX,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    EXTERNAL_ID_MAX,
    INTAKE_CHANNELS,
    NOTE_MAX,
    PARTNER_CHANNELS,
    PLACE_STAFF_CHANNELS,
    REPORTED_FOR_OTHERS,
    REPORTER_NAME_MAX,
    RESIDENT_CHANNELS,
    TITLE_MAX,
    TRANSITIONS,
    A,
    C,
    S,
)
from orgs.models import Department
from orgs.scoping import Scope, scope_for_user

# --- submit -------------------------------------------------------------------------------------------------------


def issue_submit(
    *,
    actor,
    description,
    grid=None,
    building=None,
    lat=None,
    lng=None,
    title="",
    kind=None,
    category=None,
    urgent=False,
    address="",
    reporter_name="",
    reporter_phone="",
    external_id="",
    channel=None,
    photos: Sequence[CleanPhoto] = (),
    idempotency: IdempotencyKey | None = None,
) -> Issue:
    """Create an issue in `submitted`, routed to its grid, numbered, with its photos and event: anyone may.

    Nobody signed in (a resident on the web form, the hotline's walk-in) must give the reporter's phone so staff can
    call back, as must a partner app; such an issue has no reporter account and its event no actor. `channel` says
    how the report came (rules.RESIDENT_CHANNELS and the sets after it: who may name which); not named, it is the
    partner channel for a partner app and the web form for everyone else.

    `photos` come already checked and re-encoded (issues.photos.photos_clean): decoding is slow and must not run
    inside this transaction. They are stored before the event, so its outbox rows
    (a partner's `issue.created` webhook) list them. With `idempotency`, a key the caller already used answers the
    first issue, with `replayed` set on it, and creates nothing. This function owns its transaction (durable):
    callers compose nothing around it.
    """
    anonymous = actor is None or not getattr(actor, "is_authenticated", False)
    actor = None if anonymous else actor
    scope = scope_for_user(actor)
    description = clean_text(
        description, field="description", required=True, min_length=DESCRIPTION_MIN, max_length=DESCRIPTION_MAX
    )
    title = clean_text(title, field="title", max_length=TITLE_MAX)
    address = clean_text(address, field="address", max_length=ADDRESS_MAX)
    reporter_name = clean_text(reporter_name, field="reporter_name", max_length=REPORTER_NAME_MAX)
    reporter_phone = clean_phone(reporter_phone, field="reporter_phone")
    external_id = clean_text(external_id, field="external_id", max_length=EXTERNAL_ID_MAX)
    require_reporter_phone(actor=actor, reporter_phone=reporter_phone)
    kind = clean_kind(kind)
    category = clean_category(category)
    urgent = bool(clean_bool(urgent, field="urgent"))
    lat, lng = clean_coordinates(lat, lng)
    grid, building = route_report(grid=grid, building=building, lat=lat, lng=lng)
    place = building or grid
    if scope.is_partner and not is_within(place, scope.partner_area_path):
        raise ValidationFailed.on("location", gettext_noop("This place is outside the partner app's scope."))
    channel = _submit_channel(scope=scope, place=place, channel=channel)
    if channel in REPORTED_FOR_OTHERS and not reporter_phone:
        raise ValidationFailed.on("reporter_phone", gettext_noop("Give the phone of the person you report for."))
    photos = _checked_photos(photos)
    # Taken and committed before the transaction (issues.numbering): the day's counter row is not held through it.
    # Without photos or a key to claim, the INSERT is the transaction's first statement on PostgreSQL, and takes it
    # (issues.events): in the same query when nobody hears of the submission, just before it otherwise.
    first = connections[router.db_for_write(Issue)].vendor == "postgresql" and not photos and idempotency is None
    number = NUMBER_PENDING if first else issue_number_next()

    stored: list = []
    try:
        # Its last statement may go as a transaction of its own (issues.events: nobody to tell, the rollup rows in
        # the round trip of its INSERT): no BEGIN and COMMIT round trips.
        with transaction.atomic(durable=True), sent_alone(connections[router.db_for_write(Issue)]):
            record = None
            if idempotency is not None:
                record, earlier = idempotency_claim(claim=idempotency)
                if earlier is not None:
                    earlier.replayed = True
                    return earlier
            issue = Issue(
                number=number,
                status=TRANSITIONS[A.SUBMIT].target,
                kind=kind or (category.kind if category else Kind.COMPLAINT),
                category=category,
                urgent=urgent,
                title=title,
                description=description,
                lat=lat,
                lng=lng,
                address=address,
                reporter_user=actor,
                reporter_name=reporter_name,
                reporter_phone=reporter_phone,
                external_id=external_id,
                channel=channel,
                version=0,  # _record bumps it to 1
            )
            _place(issue, grid=grid, building=building)
            if photos:
                issue.save()  # the photos' rows point at it
                stored = photos_store(issue=issue, actor=actor, files=photos)
            data = {"number": issue.number, **({"anonymous": True} if anonymous else {})}
            _record(issue=issue, actor=actor, action=A.SUBMIT, from_status="", data=data)
            if record is not None:
                idempotency_settle(record=record, issue=issue)
    except BaseException:
        # The rows rolled back; the stored files must go too.
        for photo in stored:
            photo.image.delete(save=False)
        raise
    issue.replayed = False
    return issue


def _checked_photos(photos: Sequence[CleanPhoto]) -> list[CleanPhoto]:
    photos = list(photos or ())
    if any(not isinstance(photo, CleanPhoto) for photo in photos):
        # A programming error, not bad input: raw uploads would be decoded inside the transaction.
        raise TypeError("issue_submit takes photos already cleaned by issues.photos.photos_clean.")
    if len(photos) > MAX_PHOTOS_PER_ISSUE:
        raise ValidationFailed.on(
            "photos", Message(gettext_noop("Send at most %(count)s photos."), count=MAX_PHOTOS_PER_ISSUE)
        )
    return photos


# Why a channel was refused, by channel (the rest: "not through this channel").
CHANNEL_REFUSALS = {
    C.HOTLINE: gettext_noop("Only a hotline operator of this place or the hotline's system reports a hotline call."),
    C.PATROL: gettext_noop("Only staff of this place report from a patrol."),
    C.ON_BEHALF: gettext_noop("Only staff of this place report on a resident's behalf."),
    C.PARTNER: gettext_noop("Only a partner app reports through the partner channel."),
    C.OPEN311: gettext_noop("Only the Open311 endpoint reports through the Open311 channel."),
    C.WEB: gettext_noop("A partner app reports through its own channel."),
}


def _submit_channel(*, scope: Scope, place: Area, channel) -> str:
    """Return the channel a submission records: the one named, if this submitter may name it here, else the default."""
    if scope.is_partner:
        allowed = PARTNER_CHANNELS
    else:
        allowed = RESIDENT_CHANNELS
        if scope.roles_at(place.path):
            allowed += PLACE_STAFF_CHANNELS
        if scope.takes_calls_at(place.path):
            allowed += INTAKE_CHANNELS
    if channel in (None, ""):
        return allowed[0]
    if channel not in C.values:
        raise ValidationFailed.on("channel", one_of(C.values))
    if channel not in allowed:
        raise ValidationFailed.on("channel", CHANNEL_REFUSALS[channel])
    return C(channel).value


# --- triage -------------------------------------------------------------------------------------------------------


def issue_classify(*, issue, actor, category, kind=None, urgent=None, grid=None, building=None, version=None) -> Issue:
    """Set the category (and kind, urgency, place) and start both deadlines: community staff and up, from submitted."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("classify", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        category = clean_category(category)
        if category is None:
            raise ValidationFailed.on("category", gettext_noop("This field is required."))
        kind = clean_kind(kind)
        urgent = clean_bool(urgent, field="urgent")
        if grid not in (None, "") or building not in (None, ""):
            new_grid, new_building = route_report(grid=grid, building=building, lat=None, lng=None)
            place = new_building or new_grid
            # Re-routing a misplaced report stays within the district whose departments handle it.
            if place.ancestor_code(Area.Level.DISTRICT) != issue.district_code:
                raise ValidationFailed.on("grid", gettext_noop("Move the issue within its district only."))
            _place(issue, grid=new_grid, building=new_building)

        from_status, now = issue.status, timezone.now()
        issue.category = category
        issue.kind = kind or issue.kind
        if urgent is not None:
            issue.urgent = urgent
        issue.response_due_at, issue.resolution_due_at = deadlines_for(
            category=category, urgent=issue.urgent, start=now
        )
        issue.classified_at = now
        issue.status = TRANSITIONS[A.CLASSIFY].target
        _record(
            issue=issue,
            actor=actor,
            action=A.CLASSIFY,
            from_status=from_status,
            data={
                "category": category.code,
                "urgent": issue.urgent,
                "response_due_at": _iso(issue.response_due_at),
                "resolution_due_at": _iso(issue.resolution_due_at),
            },
        )
    return issue


def issue_dispatch(*, issue, actor, departments, lead=None, note="", version=None) -> Issue:
    """Send a classified issue to one or several departments, one of them the lead: community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("dispatch", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        departments = _departments_of_district(issue=issue, values=departments, field="departments")
        if not departments:
            raise ValidationFailed.on("departments", gettext_noop("Name at least one department."))
        note = clean_text(note, field="note", max_length=NOTE_MAX)
        lead = _lead_of(departments, lead=lead, category=issue.category)

        # A new round: what an earlier round (returned, summoned) left active is retired, kept for history.
        for old in _active_dispatches(issue):
            old.active = False
            old.save(update_fields=["active"])
        created = [
            Dispatch.objects.create(issue=issue, department=d, lead=d.pk == lead.pk, note=note) for d in departments
        ]
        from_status = issue.status
        issue.status = TRANSITIONS[A.DISPATCH].target
        issue.dispatched_at = timezone.now()
        data = {**_department_data(created), "lead": lead.code}
        data.update(_settle_departed_extensions(issue=issue, actor=actor, now=issue.dispatched_at, active=created))
        _record(issue=issue, actor=actor, action=A.DISPATCH, from_status=from_status, note=note, data=data)
        issue._prefetched_objects_cache.pop("dispatches", None)
    return issue


def _lead_of(departments: list[Department], *, lead, category: Category | None) -> Department:
    """Return the lead: the one named, else the category's department if dispatched, else the first."""
    if lead not in (None, ""):
        code = lead.code if isinstance(lead, Department) else str(lead)
        chosen = next((d for d in departments if d.code == code), None)
        if chosen is None:
            raise ValidationFailed.on("lead", gettext_noop("The lead must be one of the departments."))
        return chosen
    if category is not None and category.department_id:
        chosen = next((d for d in departments if d.pk == category.department_id), None)
        if chosen is not None:
            return chosen
    return departments[0]


def issue_reject(*, issue, actor, reason, duplicate_of=None, note="", version=None) -> Issue:
    """Reject a submitted or classified issue as invalid, out of scope or a duplicate: community staff and up."""
    with transaction.atomic():
        issue = _lock(issue=issue, actor=actor)
        _refuse("reject", actor=actor, issue=issue)
        _check_version(issue=issue, version=version)
        if reason not in Issue.RejectReason.values:
            raise ValidationFailed.on("reason", one_of(Issue.RejectReason.values))
        note = clean_text(note, field="note", max_length=NOTE_MAX)
        original = None
        if reason == Issue.RejectReason.DUPLICATE:
            original = _duplicate_target(issue=issue, actor=actor, duplicate_of=duplicate_of)
        elif duplicate_of not in (None, ""):
            raise ValidationFailed.on("duplicate_of", gettext_noop("Only a duplicate names the issue it repeats."))

        from_status, now = issue.status, timezone.now()
        issue.status = TRANSITIONS[A.REJECT].target
        issue.reject_reason = reason
        issue.duplicate_of = original
        # It leaves the open states for good: the retention clock starts, as for a closed issue.
        issue.closed_at = now
        data = {"reason": reason}
        if original is not None:
            data.update(duplicate_of=str(original.pk), duplicate_of_number=original.number)
        _record(issue=issue, actor=actor, action=A.REJECT, from_status=from_status, note=note, data=data)
    return issue


def _duplicate_target(*, issue: Issue, actor, duplicate_of) -> Issue:
    if duplicate_of in (None, ""):
        raise ValidationFailed.on("duplicate_of", gettext_noop("Name the issue this one repeats."))
    original = Issue.objects.visible_to(actor).filter(pk=issue_pk(duplicate_of)).first()
    if original is None:
        raise ValidationFailed.on("duplicate_of", gettext_noop("No such issue."))
    if original.pk == issue.pk:
        raise ValidationFailed.on("duplicate_of", gettext_noop("An issue cannot duplicate itself."))
    if original.status == S.REJECTED:
        raise ValidationFailed.on(
            "duplicate_of", gettext_noop("The original issue was rejected; name the one it repeats.")
        )
    return original
