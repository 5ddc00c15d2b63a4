"""Shapes of the issue API (API.md "Issues"): requests are checked for form only, every rule lives in the workflow.

Input serializers name their fields after the keyword arguments of issues.workflow, so a view passes
`validated_data` through unchanged; codes (category, department, grid, building) and issue ids become objects
here, and an unknown one is a 400 naming its field. Lengths and ranges name the workflow's own limits
(issues.workflow.rules, issues.arguments), so the schema describes what the workflow checks; the phone rules are
asked of issues.arguments itself (before any photo is decoded), never written again here.
"""

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
        data = dict(self.validated_data)
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
