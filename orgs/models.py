"""Who acts: departments, memberships (a role at a node or in a department) and partner apps."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The roles of DESIGN.md; a user with no membership is a resident."""

    GRID_WORKER = "grid_worker", _("grid worker")
    GRID_LEADER = "grid_leader", _("grid leader")
    BUILDING_LEADER = "building_leader", _("building leader")
    COMMUNITY_STAFF = "community_staff", _("community staff")
    STREET_OFFICER = "street_officer", _("street officer")
    DEPARTMENT_STAFF = "department_staff", _("department staff")
    DISTRICT_ADMIN = "district_admin", _("district admin")
    HOTLINE_OPERATOR = "hotline_operator", _("hotline operator")  # a 12345 seat taking calls for a territory


# Roles held at a territory node that reach the issues under it (see INTAKE_ROLES; the rest are held in a department).
NODE_ROLES = frozenset(
    {
        Role.GRID_WORKER,
        Role.GRID_LEADER,
        Role.BUILDING_LEADER,
        Role.COMMUNITY_STAFF,
        Role.STREET_OFFICER,
        Role.DISTRICT_ADMIN,
    }
)
# "Community staff and up" in API.md's action table.
TRIAGE_ROLES = frozenset({Role.COMMUNITY_STAFF, Role.STREET_OFFICER, Role.DISTRICT_ADMIN})
# "Street officer and up".
SUPERVISOR_ROLES = frozenset({Role.STREET_OFFICER, Role.DISTRICT_ADMIN})
# Roles held at a territory node that take reports for it but reach none of its issues: a hotline operator (12345
# seat) submits callers' reports anywhere under their node and sees the issues they took, not their colleagues'
# or the community's (a caller asking after an issue follows it by number and phone). orgs.scoping keeps them apart.
INTAKE_ROLES = frozenset({Role.HOTLINE_OPERATOR})
# Staff who report on behalf of others (patrols, neighbours).
FIELD_ROLES = frozenset({Role.GRID_WORKER, Role.GRID_LEADER, Role.BUILDING_LEADER})


class Department(models.Model):
    """A body that handles dispatched work, belonging to one district."""

    class Kind(models.TextChoices):
        FUNCTIONAL = "functional", _("functional department")
        PROPERTY = "property", _("property company")
        SOCIAL = "social", _("social organisation")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.FUNCTIONAL)
    district = models.ForeignKey(
        "grids.Area",
        on_delete=models.PROTECT,
        related_name="departments",
        limit_choices_to={"level": "district"},
        verbose_name=_("district"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class Membership(models.Model):
    """Give a user a role at a territory node or in a department; a user may hold several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    area = models.ForeignKey(
        "grids.Area",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("area"),
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("department"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            # A department role lives in a department; every other role lives at a node.
            models.CheckConstraint(
                condition=(Q(role="department_staff") & Q(department__isnull=False) & Q(area__isnull=True))
                | (~Q(role="department_staff") & Q(area__isnull=False) & Q(department__isnull=True)),
                name="membership_role_matches_place",
            ),
            models.UniqueConstraint(fields=["user", "role", "area", "department"], name="membership_unique"),
        ]

    def __str__(self):
        return f"{self.user} · {self.role} @ {self.area or self.department}"


def _hash_key(raw: str) -> str:
    # Keys are 32 random bytes: a fast hash is enough (no dictionary to guess from), unlike passwords.
    return hashlib.sha256(raw.encode()).hexdigest()


class PartnerApp(models.Model):
    """An API client (mini-program, 12345 hotline) acting through its own service user, within a scope."""

    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=100)
    # The partner acts as this user, so "what it submitted" is "what its user reported".
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="partner_app", verbose_name=_("service user")
    )
    area = models.ForeignKey(
        "grids.Area", on_delete=models.PROTECT, related_name="partner_apps", verbose_name=_("area")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner app")
        verbose_name_plural = _("partner apps")
        ordering = ["slug"]

    def __str__(self):
        return self.name


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, partner__is_active=True)


class ApiKey(models.Model):
    """A partner app's key, stored hashed; revoking it stops it at once."""

    PREFIX_LENGTH = 8

    partner = models.ForeignKey(
        PartnerApp, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("partner app")
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(_("prefix"), max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self):
        return f"{self.partner.slug}:{self.prefix}…"

    @classmethod
    def issue(cls, *, partner: PartnerApp, name: str = "") -> tuple["ApiKey", str]:
        """Create a key and return it with its raw value, which is shown once and never stored."""
        raw = f"{secrets.token_hex(cls.PREFIX_LENGTH // 2)}.{secrets.token_urlsafe(32)}"
        key = cls.objects.create(partner=partner, name=name, prefix=raw[: cls.PREFIX_LENGTH], key_hash=_hash_key(raw))
        return key, raw

    @classmethod
    def find(cls, raw: str) -> "ApiKey | None":
        """Return the active key whose raw value is `raw`, or None."""
        return (
            cls.objects.active()
            .select_related("partner__user", "partner__area")
            .filter(key_hash=_hash_key(raw))
            .first()
        )

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
