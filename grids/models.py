"""The territory: district → street → community → grid → building, one tree with a materialized path."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

PATH_SEPARATOR = "/"


def subtree_q(field: str, path: str) -> Q:
    """Return the filter for `field` (a materialized path) at or under the node whose path is `path`.

    Both halves are served by one btree index with varchar_pattern_ops on PostgreSQL.
    """
    return Q(**{field: path}) | Q(**{f"{field}__startswith": path + PATH_SEPARATOR})


class AreaQuerySet(models.QuerySet):
    def under(self, area: "Area") -> "AreaQuerySet":
        """Return the nodes at or under `area`."""
        return self.filter(subtree_q("path", area.path))


class Area(models.Model):
    """Hold one node of the territory; only grids.services writes `path`."""

    class Level(models.TextChoices):
        DISTRICT = "district", _("district")
        STREET = "street", _("street")
        COMMUNITY = "community", _("community")
        GRID = "grid", _("grid")
        BUILDING = "building", _("building")

    # Depth of each level in the tree (district = 0); a child is always one level down.
    DEPTH = {Level.DISTRICT: 0, Level.STREET: 1, Level.COMMUNITY: 2, Level.GRID: 3, Level.BUILDING: 4}
    # Official code length per level: national statistical codes for the first three, then ours.
    CODE_LENGTH = {Level.DISTRICT: 6, Level.STREET: 9, Level.COMMUNITY: 12, Level.GRID: 15, Level.BUILDING: 18}

    code = models.CharField(_("code"), max_length=24, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    # No index of its own: area_parent_level (parent, level) serves lookups by parent.
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
        db_index=False,
    )
    # Codes from the district down to this node joined by "/": "everything under X" is one prefix query.
    # unique=True gives it two PostgreSQL indexes: the btree and a varchar_pattern_ops one ("…_like") that
    # serves subtree_q's prefix LIKE; a third explicit one only slowed the national import.
    path = models.CharField(_("path"), max_length=160, unique=True, editable=False)
    # Grid: households (300–500 per grid) and an optional GeoJSON Polygon; building: a point and an address.
    households = models.PositiveIntegerField(_("households"), null=True, blank=True)
    boundary = models.JSONField(_("boundary (GeoJSON)"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    # The source's extra codes (city, province) kept as they came.
    extra = models.JSONField(_("extra codes"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = AreaQuerySet.as_manager()

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["code"]
        indexes = [
            # Serves "the children of X" (areas?parent=) and "the grids of community X".
            models.Index(fields=["parent", "level"], name="area_parent_level"),
            models.Index(fields=["level"], name="area_level"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(level="district", parent__isnull=True) | (~Q(level="district") & Q(parent__isnull=False)),
                name="area_only_districts_are_roots",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def path_codes(self) -> list[str]:
        """Return the codes from the district down to this node."""
        return self.path.split(PATH_SEPARATOR)

    def ancestor_code(self, level: str) -> str | None:
        """Return the code of this node's ancestor (or itself) at `level`, read from the path."""
        depth = self.DEPTH[level]
        codes = self.path_codes
        return codes[depth] if depth < len(codes) else None


class MapDrawing(models.Model):
    """Keep what the map draws of one node, precomputed (grids.maps): a grid's boundary, or a community's or street's
    outline, simplified at each of the map's zoom tiers. A cache: it is rebuilt whenever the grids it was drawn from
    differ from `grids` and `latest`, so a request never simplifies or unions what did not change."""

    area = models.OneToOneField(
        Area, on_delete=models.CASCADE, primary_key=True, related_name="drawing", verbose_name=_("area")
    )
    # The state of the grids it was drawn from: how many and their latest change (a grid: 1 and its own updated_at).
    grids = models.PositiveIntegerField(_("grids drawn from"))
    latest = models.DateTimeField(_("latest grid change"), null=True)
    # Bounds of what is drawn (WGS 84); null when nothing is (no boundary, or one that cannot be drawn).
    west = models.FloatField(null=True)
    south = models.FloatField(null=True)
    east = models.FloatField(null=True)
    north = models.FloatField(null=True)
    # Outlines: the unioned area at full precision (GeoJSON), to union a street from its communities; grids: empty.
    shape = models.TextField(blank=True)
    # What is drawn at each zoom tier (grids.maps.ZOOM_TIERS), simplified to it; null when nothing is. A grid: its
    # GeoJSON Feature up to its properties' last member (a read appends the counts); an outline: its geometry.
    zoom_6 = models.TextField(null=True)
    zoom_9 = models.TextField(null=True)
    zoom_12 = models.TextField(null=True)
    zoom_15 = models.TextField(null=True)
    zoom_19 = models.TextField(null=True)

    class Meta:
        verbose_name = _("map drawing")
        verbose_name_plural = _("map drawings")

    def __str__(self):
        return f"drawing of {self.area_id}"
