"""Draw the map's stored drawings (grids.maps) of every grid and outline that lacks a current one.

Run it after the migration that added them (grids 0004) or after grids were loaded with SQL: otherwise the first map
read of each node draws what it finds stale, once, and is slow that one time.
"""

from django.core.management.base import BaseCommand

from grids.maps import map_drawings_refresh
from grids.models import Area, MapDrawing


class Command(BaseCommand):
    help = "Draw the map's stored drawings of every grid and community and street outline that lacks a current one."

    def handle(self, *args, **options):
        before = MapDrawing.objects.count()
        for street in Area.objects.filter(level=Area.Level.STREET).order_by("code"):
            map_drawings_refresh(area=street)
        self.stdout.write(f"map drawings: {MapDrawing.objects.count()} stored ({before} before)")
