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
