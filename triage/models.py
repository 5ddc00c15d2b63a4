"""The fitted triage models: one row per training run, the newest active one answers suggestions."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TriageModel(models.Model):
    """A fitted classifier (triage.engine, pickled) with what it was trained on and how well it did."""

    created_at = models.DateTimeField(_("trained at"), auto_now_add=True, db_index=True)
    engine = models.CharField(_("engine"), max_length=40)
    # How many lines it learnt from: the shipped labelled set and the staff's classify decisions.
    trained_on = models.PositiveIntegerField(_("training size"))
    staff_decisions = models.PositiveIntegerField(_("staff decisions"), default=0)
    # Measured on a held-out fifth before the final fit on everything.
    held_out = models.PositiveIntegerField(_("held-out size"), default=0)
    top1 = models.FloatField(_("top-1 accuracy"), null=True)
    top3 = models.FloatField(_("top-3 accuracy"), null=True)
    seconds = models.FloatField(_("training seconds"), default=0)
    blob = models.BinaryField(_("fitted model"))

    class Meta:
        verbose_name = _("triage model")
        verbose_name_plural = _("triage models")
        ordering = ["-id"]

    def __str__(self):
        return f"v{self.pk} ({self.engine}, {self.trained_on})"

    @property
    def version(self) -> int:
        return self.pk


class PlaceDayCount(models.Model):
    """How many issues of one category were reported in one place (a grid, or a building) on one local day: the
    hot-spot baseline (a constant-size read: at most BASELINE_DAYS rows per place), kept by triage.hotspots as each
    issue is counted (once under its grid, once more under its building when it names one)."""

    place_code = models.CharField(max_length=24)  # an Area code: a grid's or a building's
    category_pk = models.IntegerField()
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["place_code", "category_pk", "day"], name="place_day_count_unique")
        ]

    def __str__(self):
        return f"{self.place_code}/{self.category_pk} {self.day}: {self.count}"


class SeenIssue(models.Model):
    """An issue hot-spot detection has seen, with its place and time copied: the window of recent reports is read
    here (by grid and time, a constant-size read) rather than from the issues table, which has no such index; and
    `counted_category` records the category it was counted under in PlaceDayCount, so it is counted once."""

    issue = models.OneToOneField("issues.Issue", on_delete=models.CASCADE, primary_key=True, related_name="+")
    grid_code = models.CharField(max_length=24)
    building_code = models.CharField(max_length=24, blank=True)
    created_at = models.DateTimeField()
    # Null until the issue has a category (a submission without one is seen, then counted when classified).
    counted_category = models.IntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["grid_code", "-created_at"], name="seen_issue_grid_window")]

    def __str__(self):
        return str(self.issue_id)


class HotSpot(models.Model):
    """One alert for a burst of similar reports (one category, or near-duplicate text) in one grid or one building,
    far above that place's own baseline; an issue is in at most one open alert."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    street_code = models.CharField(_("street"), max_length=9, db_index=True)
    grid_code = models.CharField(_("grid"), max_length=24)
    # The grid (always: the map highlights it), and the building when the burst is one building's.
    area = models.ForeignKey("grids.Area", on_delete=models.PROTECT, related_name="+", verbose_name=_("area"))
    building = models.ForeignKey(
        "grids.Area", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("building")
    )
    building_code = models.CharField(_("building code"), max_length=24, blank=True, default="")
    # Null: a burst of near-duplicate text among reports with no category yet.
    category = models.ForeignKey(
        "issues.Category", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("category")
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    first_at = models.DateTimeField(_("first report at"))
    last_at = models.DateTimeField(_("last report at"))
    observed = models.PositiveIntegerField(_("reports in the window"))
    expected = models.FloatField(_("expected in the window"))
    p_value = models.FloatField(_("tail probability"))
    issues = models.ManyToManyField("issues.Issue", related_name="hotspots", verbose_name=_("issues"))
    created_at = models.DateTimeField(_("raised at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("hot spot")
        verbose_name_plural = _("hot spots")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["grid_code", "category", "status"], name="hotspot_place_status"),
            # Statistics: alerts raised in a period.
            models.Index(fields=["created_at"], name="hotspot_created"),
            # The closing sweep reads the open alerts only.
            models.Index(fields=["last_at"], name="hotspot_open", condition=models.Q(status="open")),
        ]

    def __str__(self):
        return f"{self.building_code or self.grid_code}/{self.category_id}: {self.observed} (≈{self.expected:.1f})"

    @property
    def place_name(self) -> str:
        """Return the grid's name, then the building's when the burst is one building's (select_related both)."""
        return f"{self.area.name} · {self.building.name}" if self.building_id else self.area.name
