"""manage.py generate_grids: grids with boundaries and buildings for communities, the same for the same seed."""

from django.core.management.base import BaseCommand, CommandError

from grids.generation import BBox, grids_generate
from grids.models import Area


class Command(BaseCommand):
    help = (
        "Generate grids (GeoJSON boundaries tiling --bbox among the communities, no gap, no overlap) and buildings "
        "for the communities given with --community or found under --under. Idempotent for the same --seed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--community", nargs="+", default=[], metavar="CODE", help="community codes")
        parser.add_argument("--under", metavar="CODE", help="every community at or under this node")
        parser.add_argument("--bbox", required=True, help="lat_min,lat_max,lng_min,lng_max tiled among the communities")
        parser.add_argument("--grids-per-community", type=int, default=6)
        parser.add_argument("--buildings-per-grid", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        try:
            bbox = BBox.parse(options["bbox"])
        except ValueError as e:
            raise CommandError(f"--bbox: {e}") from e
        communities = self._communities(options["community"], options["under"])
        try:
            result = grids_generate(
                communities=communities,
                bbox=bbox,
                grids_per_community=options["grids_per_community"],
                buildings_per_grid=options["buildings_per_grid"],
                seed=options["seed"],
                progress=not options["no_progress"] and options["verbosity"] > 0,
            )
        except ValueError as e:
            raise CommandError(str(e)) from e
        if options["verbosity"] == 0:
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.communities} communities: grids {result.grids_created} created, "
                f"{result.grids_updated} updated, {result.grids_retired} retired (boundary removed); "
                f"buildings {result.buildings_created} created, {result.buildings_updated} updated"
            )
        )

    def _communities(self, codes: list[str], under: str | None) -> list[Area]:
        if not codes and not under:
            raise CommandError("name the communities: --community CODE … or --under CODE")
        found: dict[str, Area] = {}
        if codes:
            rows = {a.code: a for a in Area.objects.filter(code__in=codes)}
            missing = sorted(set(codes) - rows.keys())
            if missing:
                raise CommandError(f"unknown area code(s): {', '.join(missing)}")
            for a in rows.values():
                if a.level != Area.Level.COMMUNITY:
                    raise CommandError(f"{a.code} is a {a.level}, not a community")
            found.update(rows)
        if under:
            node = Area.objects.filter(code=under).first()
            if node is None:
                raise CommandError(f"unknown area code: {under}")
            found.update({a.code: a for a in Area.objects.under(node).filter(level=Area.Level.COMMUNITY)})
        if not found:
            raise CommandError("no communities found; import the divisions first (manage.py import_divisions)")
        return sorted(found.values(), key=lambda a: a.code)
