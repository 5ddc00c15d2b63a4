"""Writes to the territory: the one place that sets a node's path."""

from django.core.exceptions import ValidationError

from grids.maps import map_drawings_refresh
from grids.models import PATH_SEPARATOR, Area

LEVEL_ORDER = [Area.Level.DISTRICT, Area.Level.STREET, Area.Level.COMMUNITY, Area.Level.GRID, Area.Level.BUILDING]


def child_level(level: str) -> str | None:
    """Return the level one below `level` (None under a building)."""
    i = LEVEL_ORDER.index(level)
    return LEVEL_ORDER[i + 1] if i + 1 < len(LEVEL_ORDER) else None


def area_path_for(*, code: str, parent: Area | None) -> str:
    """Return the materialized path of a node with `code` under `parent`."""
    return code if parent is None else f"{parent.path}{PATH_SEPARATOR}{code}"


def area_validate(*, code: str, level: str, parent: Area | None) -> None:
    """Refuse a node whose level or code does not fit its parent (hierarchy invariants)."""
    if level == Area.Level.DISTRICT:
        if parent is not None:
            raise ValidationError({"parent": "A district has no parent."})
    else:
        if parent is None:
            raise ValidationError({"parent": f"A {level} needs a parent."})
        if child_level(parent.level) != level:
            raise ValidationError({"level": f"A {level} cannot sit under a {parent.level}."})
        if not code.startswith(parent.code):
            raise ValidationError({"code": f"Code {code} does not start with its parent's code {parent.code}."})
    expected = Area.CODE_LENGTH[level]
    if len(code) != expected or not code.isdigit():
        raise ValidationError({"code": f"A {level} code has {expected} digits; got {code!r}."})


def area_create(*, code: str, name: str, level: str, parent: Area | None = None, **fields) -> Area:
    """Create a node after checking it fits the tree, with its path."""
    area_validate(code=code, level=level, parent=parent)
    area = Area.objects.create(
        code=code, name=name, level=level, parent=parent, path=area_path_for(code=code, parent=parent), **fields
    )
    if level == Area.Level.GRID and area.boundary is not None:
        map_drawings_refresh(area=area)  # drawn once here, not at the map's first read
    return area
