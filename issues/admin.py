"""Django admin for reference data (categories, working-day overrides) and a read-only look at issues and history.

Issues change only through issues.workflow: the admin never edits status, deadlines, dispatches or events. The
issue and event views follow the API's rules: only the issues the signed-in user may see (orgs.scoping, for
superusers too: an operator without a role sees none), the reporter masked unless the viewer handles the issue.
"""

from django.contrib import admin
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from issues.models import CalendarDay, Category, Dispatch, Event, ExportJob, ExtensionRequest, Issue, Rating
from issues.personal_data import can_see_reporter, mask_name, mask_phone
from orgs.models import Role
from orgs.scoping import scope_for_user


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "parent",
        "kind",
        "department",
        "response_hours",
        "resolution_workdays",
        "is_active",
    )
    list_filter = ("kind", "is_active", "department")
    list_select_related = ("parent", "department")
    search_fields = ("code", "name")
    autocomplete_fields = ("parent",)


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    """Edit the working-day overrides that issues.sla reads before chinesecalendar (docs/calendar.md)."""

    list_display = ("date", "weekday", "is_workday", "note", "updated_at")
    list_filter = ("is_workday",)
    search_fields = ("note",)
    date_hierarchy = "date"
    ordering = ("-date",)
    readonly_fields = ("updated_at",)

    @admin.display(description=_("weekday"))
    def weekday(self, obj: CalendarDay) -> str:
        return date_format(obj.date, "l")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DispatchInline(ReadOnlyInline):
    model = Dispatch
    fields = ("department", "lead", "status", "active", "summoned", "created_at", "accepted_at", "return_reason")
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    model = Event
    fields = ("at", "actor", "action", "from_status", "to_status", "note", "internal")
    readonly_fields = fields


class RatingInline(ReadOnlyInline):
    model = Rating
    fields = ("score", "comment", "rated_by", "created_at")
    readonly_fields = fields


class ExtensionInline(ReadOnlyInline):
    model = ExtensionRequest
    fields = ("workdays", "reason", "status", "requested_by", "decided_by", "old_due_at", "new_due_at")
    readonly_fields = fields


class ViewOnlyAdminMixin:
    """Show rows without add, change or delete: only issues.workflow changes issues, and events are append-only."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Issue)
class IssueAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Show issues; every change of state goes through issues.workflow, so nothing here is editable."""

    list_display = (
        "number",
        "status",
        "kind",
        "category",
        "urgent",
        "escalation_level",
        "community_code",
        "grid_code",
        "resolution_due_at",
        "created_at",
    )
    list_filter = ("status", "kind", "channel", "urgent", "escalation_level", "category")
    list_select_related = ("category",)
    search_fields = ("number", "description", "title")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (DispatchInline, RatingInline, ExtensionInline, EventInline)
    show_full_result_count = False  # no COUNT(*) over a large table on every page

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_object(self, request, object_id, from_field=None):
        """Return the issue with its reporter masked unless the viewer may read it (nothing here is ever saved)."""
        issue = super().get_object(request, object_id, from_field)
        if issue is not None and not can_see_reporter(request.user, issue):
            issue.reporter_name, issue.reporter_phone = mask_name(issue.reporter_name), mask_phone(issue.reporter_phone)
        return issue


@admin.register(Event)
class EventAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Show the append-only history of issues."""

    list_display = ("at", "issue", "action", "from_status", "to_status", "actor", "internal")
    list_filter = ("action", "internal")
    list_select_related = ("issue", "actor")
    search_fields = ("issue__number", "note")
    date_hierarchy = "at"
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(issue__in=Issue.objects.visible_to(request.user))


@admin.register(ExportJob)
class ExportJobAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Show who exported which issues, masked or not: read-only, for superusers and district admins."""

    list_display = ("created_at", "requested_by", "file_format", "masked", "direct", "rows_total", "status")
    list_filter = ("masked", "direct", "status", "file_format")
    list_select_related = ("requested_by",)
    search_fields = ("requested_by__username",)
    date_hierarchy = "created_at"
    show_full_result_count = False

    def _district_admin(self, request) -> bool:
        user = request.user
        return (
            user.is_active and user.is_staff and Role.DISTRICT_ADMIN in {r for r, _ in scope_for_user(user).node_roles}
        )

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or self._district_admin(request)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._district_admin(request)
