"""manage.py triage_train: retrain the triage model now, from the shipped labelled set and the staff's decisions."""

from django.core.management.base import BaseCommand, CommandError

from triage.training import triage_train


class Command(BaseCommand):
    help = (
        "Retrain the triage suggestions model from triage/data/labelled.tsv and every issue's latest classify "
        "decision; prints its version, training size and held-out accuracy."
    )

    def handle(self, *args, **options):
        model = triage_train()
        if model is None:
            raise CommandError("Nothing to learn from: fewer than two categories in the training data.")
        top1 = "n/a" if model.top1 is None else f"{model.top1:.1%}"
        top3 = "n/a" if model.top3 is None else f"{model.top3:.1%}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Triage model v{model.pk}: {model.trained_on} examples ({model.staff_decisions} staff decisions), "
                f"held-out {model.held_out}: top-1 {top1}, top-3 {top3}, {model.seconds:.1f} s."
            )
        )
