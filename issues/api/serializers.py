"""Shapes of the issue API (API.md "Issues"): requests are checked for form only, every rule lives in the workflow.

Input serializers name their fields after the keyword arguments of issues.workflow, so a view passes
`validated_data` through unchanged; codes (category, department, grid, building) and issue ids become objects
here, and an unknown one is a 400 naming its field. Lengths and ranges name the workflow's own limits
(issues.workflow.rules, issues.arguments), so the schema describes what the workflow checks; the phone rules are
asked of issues.arguments itself (before any photo is decoded), never written again here.
"""

import math

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.errors import ValidationFailed, translate
from grids.models import Area
from issues.arguments import PHONE_MAX, TEXT_MAX, clean_phone, require_place, require_reporter_phone, validate_day
from issues.models import Category, Event, Issue, Kind
from issues.personal_data import can_see_reporter, handles_issue, reporter_for
from issues.photos import MAX_PHOTOS_PER_ISSUE
from issues.workflow.rules import (
    ADDRESS_MAX,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    EXTEND_MAX,
    EXTEND_MIN,
    EXTERNAL_ID_MAX,
    NOTE_MAX,
    REPORTER_NAME_MAX,
    SCORE_MAX,
    SCORE_MIN,
    TITLE_MAX,
)
from orgs.models import Department

MAX_PHOTOS = MAX_PHOTOS_PER_ISSUE


def phone_validator(value: str) -> None:
    """Refuse a phone number issues.arguments.clean_phone refuses, with its message."""
    try:
        clean_phone(value, field="phone")
    except ValidationFailed as exc:
        raise serializers.ValidationError(translate(exc.message), code="invalid") from exc


# The channels a body may name: the Open311 channel is set by the Open311 endpoint alone.
SUBMIT_CHANNELS = [(value, label) for value, label in Issue.Channel.choices if value != Issue.Channel.OPEN311]


# --- Fields that turn codes into objects ------------------------------------------------------------------------


def _area_code_field(level: str, **kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="code", queryset=Area.objects.filter(level=level), required=False, allow_null=True, **kwargs
    )


def _department_code_field(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="code", queryset=Department.objects.filter(is_active=True), **kwargs)


class OptionalBooleanField(serializers.BooleanField):
    """A boolean that is left out when not sent, in form bodies too (DRF reads a missing form checkbox as false)."""

    default_empty_html = serializers.empty


class VisibleIssueField(serializers.PrimaryKeyRelatedField):
    """An issue id, resolved only among the issues the caller may see (orgs.scoping): others are unknown."""

    def __init__(self, **kwargs):
        super().__init__(pk_field=serializers.UUIDField(), **kwargs)

    def get_queryset(self):
        return Issue.objects.visible_to(self.context["request"].user)


# --- Requests ---------------------------------------------------------------------------------------------------


class IssueLocationSerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lng = serializers.FloatField(min_value=-180, max_value=180)


class IssueReporterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=REPORTER_NAME_MAX, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=PHONE_MAX, required=False, allow_blank=True, validators=[phone_validator])


class IssueSubmitSerializer(serializers.Serializer):
    """The body of POST /api/v1/issues/ (JSON, or multipart with `location.lat`-style keys and `photos`)."""

    description = serializers.CharField(min_length=DESCRIPTION_MIN, max_length=DESCRIPTION_MAX)
    title = serializers.CharField(max_length=TITLE_MAX, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    category = serializers.SlugRelatedField(
        slug_field="code", queryset=Category.objects.filter(is_active=True), required=False, allow_null=True
    )
    urgent = serializers.BooleanField(required=False, default=False)
    location = IssueLocationSerializer(required=False, allow_null=True)
    building = _area_code_field(Area.Level.BUILDING)
    grid = _area_code_field(Area.Level.GRID)
    address = serializers.CharField(max_length=ADDRESS_MAX, required=False, allow_blank=True)
    reporter = IssueReporterSerializer(required=False)
    external_id = serializers.CharField(max_length=EXTERNAL_ID_MAX, required=False, allow_blank=True)
    channel = serializers.ChoiceField(
        choices=SUBMIT_CHANNELS,
        required=False,
        help_text=(
            "How the report came. Default: `partner` for a partner app, `web` for everyone else. A partner app may "
            "say `hotline` (the 12345 system); staff with a role over the place `patrol` or `on_behalf`; a hotline "
            "operator `hotline` within their territory. `hotline` and `on_behalf` need `reporter.phone`."
        ),
    )
    photos = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        required=False,
        max_length=MAX_PHOTOS,
        help_text=f"multipart/form-data only: up to {MAX_PHOTOS} JPEG, PNG or WebP images of 10 MB each.",
    )

    def validate(self, attrs):
        # issues.workflow.issue_submit asks the same rules (issues.arguments); asked here too so that no photo is
        # decoded for a body they refuse.
        location = attrs.get("location") or {}
        try:
            require_place(
                grid=attrs.get("grid"), building=attrs.get("building"), lat=location.get("lat"), lng=location.get("lng")
            )
        except ValidationFailed as exc:
            raise serializers.ValidationError(
                {name: [translate(m) for m in messages] for name, messages in exc.fields.items()}, code="required"
            ) from exc
        request = self.context.get("request")
        if request is not None:
            try:
                require_reporter_phone(actor=request.user, reporter_phone=(attrs.get("reporter") or {}).get("phone"))
            except ValidationFailed as exc:
                raise serializers.ValidationError(
                    {"reporter": {"phone": [translate(exc.message)]}}, code="required"
                ) from exc
        return attrs

    def submit_kwargs(self) -> dict:
        """Return the keyword arguments of issues.workflow.issue_submit (without the actor)."""
        return submit_kwargs_of(self.validated_data)

    def validated_plainly(self) -> dict | None:
        """Return what is_valid() would leave in validated_data for a plain JSON body, or None to ask is_valid().

        A submission's body is checked field by field with plain Python (no field objects built and copied, a
        third of a create's Python time before): only a body every field of which this accepts exactly as DRF
        would, to the same value, is answered here. Anything else (a wrong type, a limit passed, null where not
        allowed, an unknown code, a key not listed, a form body) returns None and goes through is_valid(), so
        every refusal is DRF's own, word for word. tests/api/test_submit_plain.py compares both over many bodies.
        """
        data = self.initial_data
        if not isinstance(data, dict) or "description" not in data or not data.keys() <= _PLAIN_FIELDS.keys():
            return None
        attrs = {}
        for name, value in data.items():
            cleaned = _PLAIN_FIELDS[name](value)
            if cleaned is _REFUSED:
                return None
            attrs[name] = cleaned
        attrs.setdefault("urgent", False)
        try:
            attrs = self.validate(attrs)
        except serializers.ValidationError:
            return None
        self._validated_data, self._errors = attrs, {}  # as is_valid() leaves them
        return attrs


def submit_kwargs_of(validated_data) -> dict:
    """Return the keyword arguments of issues.workflow.issue_submit (without the actor) for a submission's body."""
    data = dict(validated_data)
    data.pop("photos", None)
    location = data.pop("location", None)
    if location:
        data["lat"], data["lng"] = location["lat"], location["lng"]
    reporter = data.pop("reporter", None) or {}
    if reporter.get("name"):
        data["reporter_name"] = reporter["name"]
    if reporter.get("phone"):
        data["reporter_phone"] = reporter["phone"]
    return {key: value for key, value in data.items() if value is not None}


# --- A submission's body checked plainly (IssueSubmitSerializer.validated_plainly) -------------------------------
# Each checker returns the value DRF's field would return, or _REFUSED where DRF might refuse or answer otherwise.

_REFUSED = object()


def _plain_string(value) -> bool:
    """Return whether `value` is a string without NUL or surrogate characters (which DRF's CharField refuses)."""
    return isinstance(value, str) and "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)


def _plain_text(*, min_length=0, max_length, blank=True, validator=None):
    """CharField(min_length, max_length, allow_blank): a string, trimmed; no NUL, no surrogate; `validator` asked."""

    def check(value):
        if not _plain_string(value):
            return _REFUSED
        value = value.strip()
        if not value:
            return "" if blank else _REFUSED
        if not min_length <= len(value) <= max_length:
            return _REFUSED
        if validator is not None:
            try:
                validator(value)
            except serializers.ValidationError:
                return _REFUSED
        return value

    return check


def _plain_choice(values):
    """ChoiceField: one of `values`, as given."""
    values = frozenset(values)
    return lambda value: value if isinstance(value, str) and value in values else _REFUSED


def _plain_code(queryset):
    """SlugRelatedField(slug_field="code", allow_null=True): null, or the row of that code (one query, as DRF's)."""

    def check(value):
        if value is None:
            return None
        if not value or not _plain_string(value):
            return _REFUSED
        found = list(queryset.filter(code=value)[:2])
        return found[0] if len(found) == 1 else _REFUSED

    return check


def _plain_number(low, high):
    """FloatField(min_value, max_value): a JSON number (not a boolean), finite, within the bounds, as a float."""

    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _REFUSED
        try:
            value = float(value)
        except OverflowError:
            return _REFUSED
        return value if math.isfinite(value) and low <= value <= high else _REFUSED

    return check


def _plain_nested(fields: dict, *, nullable):
    """A nested serializer: an object with exactly these optional fields, each checked."""

    def check(value):
        if value is None:
            return None if nullable else _REFUSED
        if not isinstance(value, dict) or not value.keys() <= fields.keys():
            return _REFUSED
        out = {}
        for name, inner in value.items():
            cleaned = fields[name](inner)
            if cleaned is _REFUSED:
                return _REFUSED
            out[name] = cleaned
        return out

    return check


def _plain_location(value):
    """IssueLocationSerializer: both lat and lng are required."""
    cleaned = _plain_nested({"lat": _plain_number(-90, 90), "lng": _plain_number(-180, 180)}, nullable=True)(value)
    if cleaned not in (None, _REFUSED) and cleaned.keys() != {"lat", "lng"}:
        return _REFUSED
    return cleaned


_PLAIN_FIELDS = {
    "description": _plain_text(min_length=DESCRIPTION_MIN, max_length=DESCRIPTION_MAX, blank=False),
    "title": _plain_text(max_length=TITLE_MAX),
    "kind": _plain_choice(Kind.values),
    "category": _plain_code(Category.objects.filter(is_active=True)),
    "urgent": lambda value: value if isinstance(value, bool) else _REFUSED,
    "location": _plain_location,
    "building": _plain_code(Area.objects.filter(level=Area.Level.BUILDING)),
    "grid": _plain_code(Area.objects.filter(level=Area.Level.GRID)),
    "address": _plain_text(max_length=ADDRESS_MAX),
    "reporter": _plain_nested(
        {
            "name": _plain_text(max_length=REPORTER_NAME_MAX),
            "phone": _plain_text(max_length=PHONE_MAX, validator=phone_validator),
        },
        nullable=False,
    ),
    "external_id": _plain_text(max_length=EXTERNAL_ID_MAX),
    "channel": _plain_choice(value for value, _label in SUBMIT_CHANNELS),
}


class VersionedSerializer(serializers.Serializer):
    """Any action body may carry the version the caller last saw (a stale one is 409 stale_version)."""

    version = serializers.IntegerField(min_value=1, required=False)

    def workflow_kwargs(self) -> dict:
        """Return the keyword arguments for the issues.workflow action, leaving out what was not sent."""
        return {key: value for key, value in self.validated_data.items() if value is not None}


class ClassifySerializer(VersionedSerializer):
    category = serializers.SlugRelatedField(slug_field="code", queryset=Category.objects.filter(is_active=True))
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    urgent = OptionalBooleanField(required=False, allow_null=True)
    grid = _area_code_field(Area.Level.GRID)
    building = _area_code_field(Area.Level.BUILDING)


class DispatchSerializer(VersionedSerializer):
    departments = _department_code_field(many=True, allow_empty=False)
    lead = _department_code_field(required=False, allow_null=True)
    note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True)


class AcceptSerializer(VersionedSerializer):
    department = _department_code_field(
        required=False, allow_null=True, help_text="The department accepting, when the caller belongs to several."
    )


class ReturnSerializer(VersionedSerializer):
    reason = serializers.CharField(max_length=NOTE_MAX)


class ResolveSerializer(VersionedSerializer):
    note = serializers.CharField(max_length=TEXT_MAX)


class RateSerializer(VersionedSerializer):
    score = serializers.IntegerField(min_value=SCORE_MIN, max_value=SCORE_MAX)
    comment = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True)


class ReopenSerializer(VersionedSerializer):
    reason = serializers.CharField(max_length=NOTE_MAX)


class RejectSerializer(VersionedSerializer):
    reason = serializers.ChoiceField(choices=Issue.RejectReason.choices)
    duplicate_of = VisibleIssueField(required=False, allow_null=True)
    note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True)


class EscalateSerializer(VersionedSerializer):
    note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True)
    departments = _department_code_field(many=True, required=False, help_text="Departments summoned (吹哨).")


class ExtendSerializer(VersionedSerializer):
    workdays = serializers.IntegerField(min_value=EXTEND_MIN, max_value=EXTEND_MAX)
    reason = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True)


class ApproveExtensionSerializer(VersionedSerializer):
    pass


class RefuseExtensionSerializer(VersionedSerializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class SuperviseSerializer(VersionedSerializer):
    note = serializers.CharField(max_length=2000, help_text="The instruction to the handlers (督办).")


class CommentSerializer(VersionedSerializer):
    text = serializers.CharField(max_length=TEXT_MAX)
    internal = serializers.BooleanField(required=False, default=False, help_text="Staff only: hidden from residents.")


class PhotosSerializer(serializers.Serializer):
    photos = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False), min_length=1, max_length=MAX_PHOTOS
    )


class StatsQuerySerializer(serializers.Serializer):
    area = serializers.CharField(max_length=24, help_text="A territory node code inside the caller's scope.")
    date_from = serializers.DateField(
        required=False, validators=[validate_day], help_text="First day of creation counted (default: no limit)."
    )
    date_to = serializers.DateField(
        required=False, validators=[validate_day], help_text="Last day of creation counted (default: no limit)."
    )

    def to_internal_value(self, data):
        # The query string says `from` and `to`, which are Python keywords.
        data = {"area": data.get("area"), "date_from": data.get("from"), "date_to": data.get("to")}
        data = {key: value for key, value in data.items() if value not in (None, "")}
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            renamed = {{"date_from": "from", "date_to": "to"}.get(k, k): v for k, v in exc.detail.items()}
            raise serializers.ValidationError(renamed) from exc

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"from": [_("`from` is after `to`.")]})
        return attrs


# --- Responses --------------------------------------------------------------------------------------------------


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    department = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Category
        fields = ["code", "name", "parent", "kind", "department", "response_hours", "resolution_workdays"]


class CategoryRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class AreaCodesSerializer(serializers.Serializer):
    district = serializers.CharField()
    street = serializers.CharField()
    community = serializers.CharField()
    grid = serializers.CharField()
    building = serializers.CharField(allow_null=True)


class DispatchOutSerializer(serializers.Serializer):
    department = serializers.CharField()
    lead = serializers.BooleanField()
    status = serializers.CharField(help_text="pending, accepted or returned")


class IssueSerializer(serializers.ModelSerializer):
    """The issue as every endpoint returns it; the reporter is masked unless the caller may read it."""

    category = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()
    area = serializers.SerializerMethodField()
    dispatches = serializers.SerializerMethodField()
    reporter = serializers.SerializerMethodField()
    rating = serializers.SerializerMethodField()
    photos = serializers.SerializerMethodField()

    class Meta:
        model = Issue
        fields = [
            "id",
            "number",
            "status",
            "kind",
            "category",
            "urgent",
            "title",
            "description",
            "location",
            "address",
            "area",
            "escalation_level",
            "response_due_at",
            "resolution_due_at",
            "dispatches",
            "reporter",
            "rating",
            "photos",
            "channel",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    @property
    def _viewer(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    @extend_schema_field(CategoryRefSerializer(allow_null=True))
    def get_category(self, issue) -> dict | None:
        category = issue.category
        return {"code": category.code, "name": category.name} if category else None

    @extend_schema_field(IssueLocationSerializer(allow_null=True))
    def get_location(self, issue) -> dict | None:
        if issue.lat is None or issue.lng is None:
            return None
        return {"lat": issue.lat, "lng": issue.lng}

    @extend_schema_field(AreaCodesSerializer)
    def get_area(self, issue) -> dict:
        return {
            "district": issue.district_code,
            "street": issue.street_code,
            "community": issue.community_code,
            "grid": issue.grid_code,
            "building": issue.building_code or None,
        }

    @extend_schema_field(DispatchOutSerializer(many=True))
    def get_dispatches(self, issue) -> list[dict]:
        # The current round only; returned and retired rows stay in the history (events).
        return [
            {"department": d.department.code, "lead": d.lead, "status": d.status}
            for d in issue.dispatches.all()
            if d.active
        ]

    @extend_schema_field(IssueReporterSerializer)
    def get_reporter(self, issue) -> dict:
        return reporter_for(self._viewer, issue)

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=SCORE_MIN, max_value=SCORE_MAX))
    def get_rating(self, issue) -> int | None:
        ratings = list(issue.ratings.all())  # ordered oldest first
        return ratings[-1].score if ratings else None

    @extend_schema_field(serializers.ListField(child=serializers.URLField()))
    def get_photos(self, issue) -> list[str]:
        request = self.context.get("request")
        urls = [photo.image.url for photo in issue.photos.all()]
        return [request.build_absolute_uri(url) for url in urls] if request else urls


class EventOutSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True, help_text='Username; null for the system; "reporter" if masked.')
    action = serializers.CharField()
    from_status = serializers.CharField(allow_blank=True)
    to_status = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)


class LikelyDuplicateSerializer(IssueSerializer):
    """An issue that may report the same thing, with its distance in metres from the one being triaged."""

    distance_m = serializers.FloatField(read_only=True)

    class Meta(IssueSerializer.Meta):
        fields = [*IssueSerializer.Meta.fields, "distance_m"]
        read_only_fields = fields


class IssueDetailSerializer(IssueSerializer):
    """The issue with its history; internal notes only for the staff handling it."""

    events = serializers.SerializerMethodField()

    class Meta(IssueSerializer.Meta):
        fields = [*IssueSerializer.Meta.fields, "events"]
        read_only_fields = fields

    @extend_schema_field(EventOutSerializer(many=True))
    def get_events(self, issue) -> list[dict]:
        viewer = self._viewer
        handles = handles_issue(viewer, issue)
        sees_reporter = can_see_reporter(viewer, issue)
        at_field = serializers.DateTimeField()
        events = []
        for event in _events_of(issue):
            if event.internal and not handles:
                continue
            actor = event.actor.username if event.actor_id else None
            if event.actor_id and event.actor_id == issue.reporter_user_id and not sees_reporter:
                actor = "reporter"
            events.append(
                {
                    "at": at_field.to_representation(event.at),
                    "actor": actor,
                    "action": event.action,
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "note": event.note,
                }
            )
        return events


def _events_of(issue) -> list[Event]:
    prefetched = getattr(issue, "_prefetched_objects_cache", {}).get("events")
    if prefetched is not None:
        return list(prefetched)
    return list(issue.events.select_related("actor").order_by("at", "id"))


class StatsFiguresSerializer(serializers.Serializer):
    """The figures of API.md "Statistics"; rates are 0–1, or null when nothing is counted."""

    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    response_rate = serializers.FloatField(allow_null=True)
    resolution_rate = serializers.FloatField(allow_null=True)
    on_time_resolution_rate = serializers.FloatField(allow_null=True)
    satisfaction_rate = serializers.FloatField(allow_null=True)
    overdue = serializers.IntegerField()
    escalated = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Each rate's numerator and denominator.")


class StatsGroupSerializer(StatsFiguresSerializer):
    code = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class StatsAreaSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.CharField()


class StatsSerializer(StatsFiguresSerializer):
    area = StatsAreaSerializer()
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    by_channel = serializers.DictField(
        child=serializers.IntegerField(), help_text="Issues by the channel they came through, every channel listed."
    )
    by_category = StatsGroupSerializer(many=True)
    by_child_area = StatsGroupSerializer(many=True)


class _PartnerViewer:
    """What the issue serializer needs of a request: who is looking (the partner app's service user)."""

    def __init__(self, user):
        self.user = user

    def build_absolute_uri(self, location: str) -> str:
        return location  # no request, no host: photo URLs stay relative


def partner_representation(issue: Issue, viewer) -> dict:
    """Return `issue` as the partner app acting through `viewer` reads it in the API (its webhooks carry this)."""
    return IssueSerializer(issue, context={"request": _PartnerViewer(viewer)}).data


def partner_representations(issues, viewer) -> list[dict]:
    """Return each of `issues` as partner_representation returns it, through one serializer: building its fields is
    most of the cost of one issue's representation, and a sweep's webhooks need thousands."""
    return list(IssueSerializer(issues, many=True, context={"request": _PartnerViewer(viewer)}).data)
