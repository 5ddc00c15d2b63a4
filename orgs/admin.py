"""Django admin for departments, memberships, partner apps and their API keys.

A raw API key is shown once, in a message, when it is issued (a new partner app gets one); only its hash is stored.
"""

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from orgs import auth_cache
from orgs.models import ApiKey, Department, Membership, PartnerApp


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "district", "is_active")
    list_filter = ("kind", "is_active")
    list_select_related = ("district",)
    search_fields = ("code", "name")
    autocomplete_fields = ("district",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "area", "department", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "area", "department")
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email")
    autocomplete_fields = ("user", "area", "department")


class ApiKeyInline(admin.TabularInline):
    """The partner's keys, read-only: keys are issued by an action and revoked by another, never edited."""

    model = ApiKey
    extra = 0
    can_delete = False
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _show_raw_key(request, partner: PartnerApp, raw: str) -> None:
    messages.warning(
        request,
        format_html(
            "New API key for {}: <code>{}</code> — copy it now; it is stored hashed and will not be shown again.",
            partner,
            raw,
        ),
    )


@admin.register(PartnerApp)
class PartnerAppAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "area", "user", "is_active", "active_keys", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("area", "user")
    search_fields = ("slug", "name")
    autocomplete_fields = ("user", "area")
    inlines = (ApiKeyInline,)
    actions = ("issue_key", "revoke_keys")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(active_key_count=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)))
        )

    @admin.display(description=_("active keys"), ordering="active_key_count")
    def active_keys(self, obj):
        return obj.active_key_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            _key, raw = ApiKey.issue(partner=obj, name="admin")
            _show_raw_key(request, obj, raw)

    @admin.action(description=_("Issue a new API key (shown once)"))
    def issue_key(self, request, queryset):
        for partner in queryset:
            _key, raw = ApiKey.issue(partner=partner, name=f"admin {timezone.localdate():%Y-%m-%d}")
            _show_raw_key(request, partner, raw)

    @admin.action(description=_("Revoke every active API key"))
    def revoke_keys(self, request, queryset):
        n = _revoke(ApiKey.objects.filter(partner__in=queryset))
        self.message_user(request, f"{n} key(s) revoked.", messages.SUCCESS)


def _revoke(keys) -> int:
    """Revoke the active keys among `keys` in one update; they stop at once (an update sends no signal to
    orgs.signals, so what orgs.auth_cache remembers of them is forgotten here)."""
    active = keys.filter(revoked_at__isnull=True)
    hashes = list(active.values_list("key_hash", flat=True))
    n = active.update(revoked_at=timezone.now())
    auth_cache.forget(*(auth_cache.api_key_key(h) for h in hashes))
    return n


class RevokedFilter(admin.SimpleListFilter):
    title = _("revoked")
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return (("no", _("active")), ("yes", _("revoked")))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "partner", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (RevokedFilter,)
    list_select_related = ("partner",)
    search_fields = ("prefix", "name", "partner__slug", "partner__name")
    fields = ("partner", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_keys",)

    def has_add_permission(self, request):
        # Keys are issued from the partner app ("Issue a new API key"), where the raw key can be shown.
        return False

    @admin.action(description=_("Revoke the selected keys"))
    def revoke_keys(self, request, queryset):
        n = _revoke(queryset)
        self.message_user(request, f"{n} key(s) revoked.", messages.SUCCESS)
