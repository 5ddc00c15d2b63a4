"""Statistics rollups: keep StatsRollup current as issues change, and rebuild it (docs/scaling.md "Statistics").

Each issue counts once in its leaf day row (its local creation day × its grid or building path × its category ×
its channel): one bit per flag of issues.figures.issue_flags, plus its ratings and satisfied ratings. Its StatsEntry
remembers exactly what it added there. `rollup_refresh(issue_ids)` computes each issue's flags again from the
database, and where they (or its row: a new category, a new place) changed, subtracts what the entry says and adds
the new counts, to the leaf row and to the same counts summed up the tree (SHAPES: street and community rows by day
and by month), in one upsert, then rewrites the entry. issues.events calls it for every event it records, inside
the transaction of the change, after the change is written: the rollup commits or rolls back with the issue.

Submissions (PostgreSQL): a new issue is not counted in its transaction. It writes one StatsPending row, where it
would write its sixteen rows (its leaf row and SHAPES and trend rows, shared by every submission of its place and day)
and its entry: those were the cost of a create beyond a plain INSERT (docs/scaling.md, "A create's rollup rows").
`rollup_fold()` counts the pending issues as rollup_refresh counts an issue without an entry, a chunk per transaction,
and deletes their rows; every reader of the rows (issues.stats, issues.stats_report) calls it first, and Celery runs it
every few seconds. A change of a pending issue before the fold counts it the same way (no entry: counted whole); the
fold then finds its entry and adds nothing. On SQLite (one writer at a time) a submission is counted at once.

Concurrency: the upsert only adds (`count = count + delta`), so two transactions changing different issues of one
row both land, whatever their order. The row's lock is held to the commit, through its disk flush, so every change
of one day and place (every submission of the day in a community) would wait on the one before it: each row is kept
as SLOTS copies (`slot`), a transaction adds to the copies of its slot (its transaction id modulo SLOTS: concurrent
transactions have neighbouring ids, so different slots), and every reader sums over them as over periods. The rows
are written in one statement (_write), late in the transaction. One issue's refreshes are serialized by its row lock
(taken here too, so a caller outside the workflow is safe; not for an issue created in the same transaction, which
nobody else sees) and each reads the entry the previous one wrote. Rows are upserted in key order, so two refreshes
never wait on each other in a cycle.

Deadline rows (DeadlineRollup, "deadline rows" below): an open issue counts in `overdue` and `due_running` from the
moment its earliest relevant deadline passes (issues.figures.clock_terms); its entry remembers each figure's local
day and the issue adds 1 to the deadline rows of its leaf row's key and that day, moved by the same refresh, in the
same upsert statement, whenever its days (a new status, an acceptance, an extension) or its leaf row change.

`rollup_rebuild()` (manage.py rebuild_stats_rollups) recomputes everything month by month with set-based SQL,
each month in one transaction that (on PostgreSQL) locks both tables against writers, so a change made meanwhile
waits and then applies its delta against the rebuilt entry. `rollup_rebuild_deadlines()` (--deadlines) recomputes
the deadline rows and the entries' days alone, from the open issues.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import cache, reduce
from operator import add, eq, ge, gt, le, lt, or_
from types import SimpleNamespace

from django.db import connection, router, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least, TruncDate

from config.bulk import array_literal
from config.compiled import CompiledValues, Prepared, execute_prepared_many
from grids.models import PATH_SEPARATOR
from issues.figures import CLOCK_FIGURES, OTHER_OPEN_STATUSES, clock_terms, issue_flags
from issues.models import (
    DeadlineRollup,
    DepartmentEntry,
    DepartmentRollup,
    Dispatch,
    Issue,
    Rating,
    StatsEntry,
    StatsPending,
    StatsRollup,
)
from issues.sla import LOCAL_TZ

FLAG_KEYS = list(issue_flags())
COUNTS = ["total", *FLAG_KEYS, "ratings", "satisfied"]
KEY_COLUMNS = ["grain", "level", "period", "area_path", "category_pk", "channel", "kind", "resolved_on"]
CODE_COLUMNS = ["district_code", "street_code", "community_code", "grid_code", "building_code"]
G, L = StatsRollup.Grain, StatsRollup.Level
ALL_CATEGORIES, ALL_CHANNELS = StatsRollup.ALL_CATEGORIES, StatsRollup.ALL_CHANNELS
ALL_KINDS, NO_DAY = StatsRollup.ALL_KINDS, StatsRollup.NO_DAY
RESOLVED_STATUSES = (Issue.Status.RESOLVED, Issue.Status.CLOSED)
# The levels whose trend rows (grain TREND: total only) an issue counts in, by its creation day: one row of its kind
# (resolved_on NO_DAY) and, while it is resolved or closed, one of its resolution day (kind ALL_KINDS).
TREND_LEVELS = [L.COMMUNITY, L.STREET, L.DISTRICT]
# The rows each issue counts in besides its leaf day row, summed from the leaf rows: (grain, level, kept), where
# kept says which of category and channel the row keeps ("all": neither). What a street and a district read.
SHAPES = [
    (grain, level, kept)
    for grain in (G.DAY, G.MONTH)
    for level, kept in [
        (L.COMMUNITY, "all"),  # a street's children
        (L.STREET, "all"),  # a district's children
        (L.STREET, "category"),
        (L.STREET, "channel"),
        (L.DISTRICT, "category"),
        (L.DISTRICT, "channel"),
    ]
]
CODES_KEPT = {L.COMMUNITY: 3, L.STREET: 2, L.DISTRICT: 1}
# The copies of each row (module docstring): enough that two or three concurrent writers rarely share one, few
# enough that a dashboard reads at most this many times its rows.
SLOTS = 4


def _slot_sql() -> str:
    """Return the SQL of this transaction's slot: one for the whole transaction, so its row locks stay in key order."""
    # SQLite has one writer at a time: nothing to spread.
    return f"mod(txid_current(), {SLOTS})" if connection.vendor == "postgresql" else "0"


def _vectors(issues) -> "Iterable[dict]":
    """Return `issues` as values: the leaf row's key, the flags bit mask, the ratings and satisfied ratings."""
    flags = [Case(When(q, then=Value(1 << bit)), default=Value(0)) for bit, q in enumerate(issue_flags().values())]
    ratings = Rating.objects.filter(issue=OuterRef("pk")).order_by().values("issue")
    return issues.order_by().annotate(
        day=TruncDate("created_at", tzinfo=LOCAL_TZ),
        category_key=Coalesce("category_id", Value(0)),
        resolved_on=_resolved_on(),
        flag_bits=reduce(add, flags),
        rating_count=Coalesce(Subquery(ratings.annotate(n=Count("pk")).values("n")), Value(0)),
        satisfied_count=Coalesce(
            Subquery(ratings.filter(score__gte=Rating.SATISFIED_MIN).annotate(n=Count("pk")).values("n")), Value(0)
        ),
        **{day: _clock_day(terms) for day, terms in zip(CLOCK_DAYS, CLOCK_TERMS.values(), strict=True)},
    )


# The figures `now` changes, by their terms (issues.figures.clock_terms): `overdue` and `due_running`. An issue counts
# in DeadlineRollup on each figure's day (StatsEntry.overdue_on, due_on: CLOCK_DAYS, in CLOCK_FIGURES order).
CLOCK_TERMS = clock_terms()
CLOCK_DAYS = [f"{'overdue' if figure == 'overdue' else 'due'}_on" for figure in CLOCK_FIGURES]


def _clock_day(terms: list[tuple[Q, str]]):
    """Return the expression of the local day of the earliest deadline of `terms` whose filter the issue matches (the
    moment it starts counting in the figure), else NO_DAY."""
    moments = [Case(When(q, then=F(field)), output_field=DateTimeField()) for q, field in terms]
    if len(moments) > 1:
        # Each coalesced with the others: LEAST ignores NULLs on PostgreSQL, not on SQLite.
        moments = [Least(*(Coalesce(m, *moments[:i], *moments[i + 1 :]) for i, m in enumerate(moments)))]
    return Coalesce(TruncDate(moments[0], tzinfo=LOCAL_TZ), Value(NO_DAY), output_field=DateField())


def _clock_in_memory(issue) -> tuple | None:
    """Return _clock_day of each figure for `issue` as in memory, or None when memory cannot tell a filter."""
    days = []
    for terms in CLOCK_TERMS.values():
        moments = []
        for q, field in terms:
            holds = _matches(q, issue)
            if holds is None:
                return None
            if holds and getattr(issue, field) is not None:
                moments.append(getattr(issue, field))
        days.append(_local_day(min(moments)) if moments else NO_DAY)
    return tuple(days)


# Whether an issue has a resolution day (_resolved_on), read in SQL and in memory (_matches).
HAS_RESOLUTION_DAY = Q(status__in=RESOLVED_STATUSES, resolved_at__isnull=False)


def _resolved_on():
    """Return the expression of an issue's local resolution day while it is resolved or closed, else NO_DAY."""
    return Case(
        When(HAS_RESOLUTION_DAY, then=TruncDate("resolved_at", tzinfo=LOCAL_TZ)),
        default=Value(NO_DAY),
        output_field=DateField(),
    )


# --- an issue's row and counts from memory (a submission's: its row was just written from these very values) -----

FLAG_QS = list(issue_flags().values())
_COMPARE = {"exact": eq, "in": lambda value, values: value in values, "gt": gt, "gte": ge, "lt": lt, "lte": le}


def _matches(q, issue: Issue) -> bool | None:
    """Return whether `issue` as in memory matches the filter `q`, or None where memory cannot tell (a subquery, a
    NULL compared, a lookup through a relation): then the database is asked."""
    if not isinstance(q, Q):
        return None
    results = [_lookup(*child, issue) if isinstance(child, tuple) else _matches(child, issue) for child in q.children]
    if q.connector == Q.AND:
        result = False if False in results else (None if None in results else True)
    else:
        result = True if True in results else (None if None in results else False)
    return result if result is None or not q.negated else not result


def _lookup(lookup: str, value, issue: Issue) -> bool | None:
    name, _, op = lookup.partition("__")
    op = op or "exact"
    if "__" in op or not hasattr(issue, name):
        return None
    current = getattr(issue, name)
    if op == "isnull":
        return (current is None) == bool(value)
    if isinstance(value, F):
        value = getattr(issue, value.name, None)
    if current is None or value is None or op not in _COMPARE:
        return None
    return _COMPARE[op](current, value)


def _local_day(moment) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def _read_attributes(q) -> set[str]:
    """Return the attributes of an issue that _matches(q, issue) reads (the lookups' fields and the F()s compared)."""
    names = set()
    for child in q.children if isinstance(q, Q) else ():
        if isinstance(child, tuple):
            names.add(child[0].partition("__")[0])
            if isinstance(child[1], F):
                names.add(child[1].name)
        else:
            names |= _read_attributes(child)
    return names


# What _created_rows reads of an issue in memory, and its answers by their values: every submission of a kind (no
# deadline, no acceptance, not resolved) has the same flags, resolution day and deadline days, told once.
_MEMORY_ATTRIBUTES = sorted(
    set().union(
        *map(_read_attributes, [*FLAG_QS, HAS_RESOLUTION_DAY, *(q for terms in CLOCK_TERMS.values() for q, _ in terms)])
    )
    | {field for terms in CLOCK_TERMS.values() for _, field in terms}
)
_MEMORY_ANSWERS: dict[tuple, tuple | None] = {}
MEMORY_ANSWERS_KEPT = 1000


def _told_in_memory(issue: Issue) -> tuple | None:
    """Return (flag bits, resolution day, deadline days) of `issue` as in memory, or None when memory cannot tell."""
    values = tuple(getattr(issue, name) for name in _MEMORY_ATTRIBUTES)
    if values in _MEMORY_ANSWERS:
        return _MEMORY_ANSWERS[values]
    bits = [_matches(q, issue) for q in FLAG_QS]
    resolved = _matches(HAS_RESOLUTION_DAY, issue)
    clock = _clock_in_memory(issue)
    told = None
    if None not in bits and resolved is not None and clock is not None:
        flags = sum(1 << bit for bit, known in enumerate(bits) if known)
        told = (flags, _local_day(issue.resolved_at) if resolved else NO_DAY, clock)
    if len(_MEMORY_ANSWERS) >= MEMORY_ANSWERS_KEPT:
        _MEMORY_ANSWERS.clear()
    _MEMORY_ANSWERS[values] = told
    return told


def _created_rows(issues: list[Issue]) -> list[dict] | None:
    """Return what _REFRESH_ROWS reads of issues created in this transaction, from memory (no entry yet, no rating
    yet), or None when a flag cannot be told from memory."""
    rows = []
    for issue in issues:
        told = _told_in_memory(issue)
        if told is None:
            return None
        flags, resolved_on, clock = told
        row = {c: getattr(issue, c) for c in ["pk", "area_path", *CODE_COLUMNS, "channel", "kind"]}
        row |= {
            "day": _local_day(issue.created_at),
            "category_key": issue.category_id or 0,
            "resolved_on": resolved_on,
            "flag_bits": flags,
            "rating_count": 0,
            "satisfied_count": 0,
            **dict(zip(CLOCK_DAYS, clock, strict=True)),
            "stats_entry__flags": None,
        }
        rows.append(row)
    return rows


def _refresh_rows(ids):
    """Return the query of rollup_refresh: each issue's leaf row and counts now, and what its StatsEntry says."""
    old = "stats_entry__"
    return _vectors(Issue.objects.filter(pk__in=ids)).values(
        "pk", "day", "area_path", *CODE_COLUMNS, "category_key", "channel", "kind", "resolved_on", "flag_bits",
        "rating_count", "satisfied_count", *CLOCK_DAYS, f"{old}flags", f"{old}ratings", f"{old}satisfied",
        f"{old}kind", f"{old}resolved_on", *(f"{old}{day}" for day in CLOCK_DAYS), f"{old}rollup__period",
        f"{old}rollup__area_path", *(f"{old}rollup__{c}" for c in CODE_COLUMNS), f"{old}rollup__category_pk",
        f"{old}rollup__channel",
    )  # fmt: skip


# Compiled once per process (config.compiled): issue_flags and _resolved_on read no clock and no setting.
_REFRESH_ROWS = CompiledValues(Issue, _refresh_rows)
_LOCK_ROWS = CompiledValues(
    Issue,
    lambda ids: Issue.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk").values("pk"),
    for_write=True,
)


def _counts(flags: int, ratings: int, satisfied: int, sign: int = 1) -> list[int]:
    """Return the counts (COUNTS order) one issue adds to a row, times `sign`."""
    bits = [sign if flags & (1 << bit) else 0 for bit in range(len(FLAG_KEYS))]
    return [sign, *bits, sign * ratings, sign * satisfied]


def _shapes(leaf: tuple) -> list[tuple]:
    """Return the full rows (key and codes) an issue of leaf row `leaf` counts in: its leaf row first."""
    day, path, codes, category, channel, kind, resolved_on = leaf
    rows = [(G.DAY, L.LEAF, day, path, codes, category, channel, ALL_KINDS, NO_DAY)]
    for grain, level, kept in SHAPES:
        period = day.replace(day=1) if grain == G.MONTH else day
        upper = codes[: CODES_KEPT[level]]
        row_codes = (*upper, *[""] * (5 - len(upper)))
        row_category = category if kept == "category" else ALL_CATEGORIES
        row_channel = channel if kept == "channel" else ALL_CHANNELS
        rows.append(
            (grain, level, period, PATH_SEPARATOR.join(upper), row_codes, row_category, row_channel, ALL_KINDS, NO_DAY)
        )
    for level in TREND_LEVELS:
        upper = codes[: CODES_KEPT[level]]
        trend = (G.TREND, level, day, PATH_SEPARATOR.join(upper), (*upper, *[""] * (5 - len(upper))))
        rows.append((*trend, ALL_CATEGORIES, ALL_CHANNELS, kind, NO_DAY))
        if resolved_on != NO_DAY:
            rows.append((*trend, ALL_CATEGORIES, ALL_CHANNELS, ALL_KINDS, resolved_on))
    return rows


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def rollup_refresh(issue_ids: Iterable, *, created: list[Issue] | None = None, departments: bool = True) -> None:
    """Bring the rollup rows of these issues up to date with the database (module docstring).

    `created`: the issues (as saved) were created in this transaction, a submission. On PostgreSQL they wait for the
    fold (module docstring, "Submissions"). Elsewhere no other transaction can see their rows yet, so there is nothing
    to lock; they have no dispatch, so no department rows; no entry and no rating, so their counts come from memory
    (the same filters, issue_flags, read in memory: _matches).
    `departments=False`: the change touched no dispatch (a sweep's escalation), so the department rows stay.
    """
    ids = sorted(set(issue_ids), key=str)
    if not ids:
        return
    if created and connection.vendor == "postgresql":
        # Counted by the next fold (rollup_fold), not here: the shared rows are a create's largest cost.
        *_, sql, params = rollup_created_statement(created)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql" and not created:
            _LOCK_ROWS.rows(ids)
        rows = (_created_rows(created) if created else None) or _REFRESH_ROWS.rows(ids)
        deltas, late, entries = _changes(rows)
        if entries:
            _write(deltas, late, entries)
        if not created and departments:
            _department_refresh(ids)


def _changes(rows) -> tuple[dict, dict, list]:
    """Return (the deltas of the rollup rows, those of the deadline rows, the new entries) of rollup_refresh's rows:
    what changed since each issue's StatsEntry."""
    deltas: dict[tuple, list[int]] = {}
    late: dict[tuple, list[int]] = {}
    entries = []
    old = "stats_entry__"
    for row in rows:
        pk, new, vector, clock = _entry_of(row)
        if row[f"{old}flags"] is not None:
            r = f"{old}rollup__"
            was = (_as_date(row[f"{r}period"]), row[f"{r}area_path"], tuple(row[f"{r}{c}"] for c in CODE_COLUMNS))
            was = (*was, row[f"{r}category_pk"], row[f"{r}channel"], row[f"{old}kind"])
            was = (*was, _as_date(row[f"{old}resolved_on"]))
            was_vector = (row[f"{old}flags"], row[f"{old}ratings"], row[f"{old}satisfied"])
            was_clock = tuple(_as_date(row[f"{old}{day}"]) for day in CLOCK_DAYS)
            if was == new and was_vector == vector and was_clock == clock:
                continue
            _add(deltas, was, _counts(*was_vector, sign=-1))
            _add_late(late, was, was_clock, sign=-1)
        _add(deltas, new, _counts(*vector))
        _add_late(late, new, clock)
        entries.append((pk, new, vector, clock))
    return deltas, late, entries


def _entry_of(row) -> tuple:
    """Return (issue pk, leaf row, counts, deadline days) of a row of _REFRESH_ROWS as the issue is now: its entry."""
    new = (_as_date(row["day"]), row["area_path"], tuple(row[c] for c in CODE_COLUMNS))
    new = (*new, row["category_key"], row["channel"], row["kind"], _as_date(row["resolved_on"]))
    vector = (row["flag_bits"], row["rating_count"], row["satisfied_count"])
    return row["pk"], new, vector, tuple(_as_date(row[day]) for day in CLOCK_DAYS)


def rollup_created_statement(issues: list[Issue]) -> Prepared | None:
    """Return the statement rollup_refresh(created=issues) sends, to send in one round trip with the issues' own
    INSERT (issues.events): the INSERT of their StatsPending rows (module docstring, "Submissions"); None unless on
    PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    table = connection.ops.quote_name(StatsPending._meta.db_table)
    ids = [str(issue.pk) for issue in issues]
    return Prepared(None, None, f"INSERT INTO {table} (issue_id) SELECT unnest(%s::uuid[])", [ids])


def rollup_before_read() -> None:
    """Fold (rollup_fold) before a read of the rows, unless the read goes to a replica (config.db_router): a replica
    cannot be written, and what it answers lags already, by its replication and by the beat's last fold."""
    if router.db_for_read(StatsRollup) == router.db_for_write(StatsRollup):
        rollup_fold()


# How many submissions one transaction of rollup_fold counts.
FOLD_CHUNK = 2000


def rollup_fold(*, chunk: int = FOLD_CHUNK) -> int:
    """Count the submissions not counted yet (StatsPending) in the rollup; return how many. Every reader of the rows
    calls it first, so what it reads counts every submission committed before; Celery runs it every few seconds
    (`issues.stats_fold`), so a reader seldom finds more than a few.

    Each chunk is one transaction on the primary: it locks its pending rows in key order (a fold running at the same
    time waits for them, then finds them gone), counts their issues as rollup_refresh counts an issue without an entry
    (an issue changed meanwhile was counted by that change's refresh: it finds its entry, and adds nothing), and
    deletes them. The department rows stay: a submission has no dispatch.
    """
    folded = 0
    pending = StatsPending.objects.using(router.db_for_write(StatsPending)).order_by("pk")
    while True:
        # Read without a lock first: a reader that finds nothing pays one indexed query.
        if not (ids := list(pending.values_list("pk", flat=True)[:chunk])):
            return folded
        with transaction.atomic(using=pending.db):
            ids = list(pending.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
            rollup_refresh(ids, departments=False)
            pending.filter(pk__in=ids).delete()
        folded += len(ids)


# --- a known change: an escalation ---------------------------------------------------------------------------------
# An escalation changes the issue's escalation_level alone, so of issue_flags only `escalated` can move, and only when
# the level crosses from not escalated to escalated (an issue at level 1 escalated to 2 moves nothing). The change is
# known in memory: it is added as a delta (rollup_escalations), without the flags read and the recompute of
# rollup_refresh.

ESCALATED = FLAG_KEYS.index("escalated")


@cache  # a few levels, asked twice per escalation of a sweep
def _escalated_at(level: int) -> bool | None:
    """Return whether an issue at `level` counts as escalated (issue_flags' own filter, read in memory)."""
    return _matches(FLAG_QS[ESCALATED], SimpleNamespace(escalation_level=level))


def rollup_escalations(escalations: Iterable[tuple[Issue, int, int]]) -> None:
    """Count the escalations (issue, from_level, to_level) of issues locked and changed in this transaction, whose
    escalation_level alone changed (a sweep's), in the statistics rollup: what rollup_refresh would do, as a delta.

    Only the escalations into `escalated` count. Each issue's StatsEntry says whether it counts as escalated already
    (its bit; an issue escalated twice counts once): the others get the bit and +1 `escalated` in their leaf row and
    its SHAPES rows (trend rows count issues alone), in one upsert; on PostgreSQL the bits, the shapes and the upsert
    are one statement (_escalate_in_sql: no leaf row comes back to Python). An issue with no entry (never counted), or
    a level memory cannot tell, gets rollup_refresh. Department rows count no escalation level: untouched.
    """
    starting, unknown = {}, set()
    for issue, was, now in escalations:
        before, after = _escalated_at(was), _escalated_at(now)
        if before is None or after is None:
            unknown.add(issue.pk)
        elif after and not before:
            starting[issue.pk] = issue
    if not starting and not unknown:
        return
    with transaction.atomic(savepoint=False):
        pks = sorted(starting, key=str)
        if connection.vendor == "postgresql":
            with_entry = _escalate_in_sql(pks)
        else:
            leaves, with_entry = _entries_escalate(pks)
            added: dict[tuple, int] = {}
            for leaf, n in leaves.items():
                for shape in _shapes(leaf):
                    if shape[0] != G.TREND:
                        added[shape] = added.get(shape, 0) + n
            if added:
                _escalated_upsert(added)
        missing = unknown | (set(starting) - with_entry)  # never counted
        if missing:
            rollup_refresh(missing, departments=False)


def _escalated_shapes_sql() -> str:
    """Return the VALUES of the rows an escalated issue counts in besides trends, as _shapes builds them from its leaf
    row: (grain, level, by month, codes kept, category kept, channel kept); the leaf row first (all five codes)."""
    shapes = [(G.DAY, L.LEAF, False, 5, True, True)]
    shapes += [
        (grain, level, grain == G.MONTH, CODES_KEPT[level], kept == "category", kept == "channel")
        for grain, level, kept in SHAPES
    ]
    return ", ".join(
        f"('{grain}', '{level}', {month}, {codes}, {category}, {channel})"
        for grain, level, month, codes, category, channel in shapes
    )


def _escalate_in_sql(pks: list) -> set:
    """Do on PostgreSQL, in one statement, what _entries_escalate and _escalated_upsert do: set the escalated bit of
    the entries of `pks` that lack it and add +1 escalated per issue to its leaf row and SHAPES rows, in key order
    (_key's: text compared by code point, COLLATE "C"). Return the pks that have an entry."""
    bit = 1 << ESCALATED
    if not pks:
        return set()
    entry, rollup = (connection.ops.quote_name(m._meta.db_table) for m in (StatsEntry, StatsRollup))
    codes = [f"CASE WHEN s.codes >= {n} THEN l.{c} ELSE '' END AS {c}" for n, c in enumerate(CODE_COLUMNS, 1)]
    key = ["grain", "level", "period", "area_path", *CODE_COLUMNS, "category_pk", "channel"]
    zeros = [c for c in COUNTS if c != "escalated"]
    text = 'COLLATE "C"'
    sql = f"""
        WITH leaves AS (
            UPDATE {entry} e SET flags = e.flags | %(bit)s FROM {rollup} r
            WHERE e.issue_id = ANY(%(pks)s::uuid[]) AND e.flags & %(bit)s = 0 AND r.id = e.rollup_id
            RETURNING e.issue_id, r.period, r.area_path, {", ".join(f"r.{c}" for c in CODE_COLUMNS)}, r.category_pk,
                      r.channel
        ), shaped AS (
            SELECT s.grain, s.level,
                   CASE WHEN s.month THEN date_trunc('month', l.period)::date ELSE l.period END AS period,
                   CASE WHEN s.codes = 5 THEN l.area_path
                        ELSE concat_ws(%(separator)s, l.district_code, CASE WHEN s.codes >= 2 THEN l.street_code END,
                                       CASE WHEN s.codes >= 3 THEN l.community_code END) END AS area_path,
                   {", ".join(codes)},
                   CASE WHEN s.category THEN l.category_pk ELSE %(all_categories)s END AS category_pk,
                   CASE WHEN s.channel THEN l.channel ELSE %(all_channels)s END AS channel
            FROM leaves l
            CROSS JOIN (VALUES {_escalated_shapes_sql()}) AS s(grain, level, month, codes, category, channel)
        ), added AS (
            INSERT INTO {rollup} ({", ".join([*key, "kind", "resolved_on", "escalated", *zeros, "slot"])})
            SELECT {", ".join(key)}, %(all_kinds)s, %(no_day)s, count(*), {", ".join(["0"] * len(zeros))}, {_slot_sql()}
            FROM shaped GROUP BY {", ".join(key)}
            ORDER BY grain {text}, level {text}, period, area_path {text}, category_pk, channel {text}
            ON CONFLICT ({", ".join([*KEY_COLUMNS, "slot"])})
            DO UPDATE SET escalated = {rollup}.escalated + excluded.escalated
        )
        SELECT count(*) FROM leaves
    """
    params = {
        "bit": bit,
        "pks": [str(pk) for pk in pks],
        "separator": PATH_SEPARATOR,
        "all_categories": ALL_CATEGORIES,
        "all_channels": ALL_CHANNELS,
        "all_kinds": ALL_KINDS,
        "no_day": NO_DAY,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (counted,) = cursor.fetchone()
    if counted == len(pks):  # one entry per issue (its primary key): every one had an entry
        return set(pks)
    # Some had no entry, or had the bit already: which have one?
    return set(StatsEntry.objects.filter(issue_id__in=pks).values_list("issue_id", flat=True))


def _entries_escalate(pks: list) -> tuple[dict[tuple, int], set]:
    """Set the escalated bit of the entries of `pks` that lack it; return their leaves ({leaf: issues}) and the pks
    that have an entry (the generic path; PostgreSQL does this and the upsert in one statement, _escalate_in_sql)."""
    bit = 1 << ESCALATED
    leaves: dict[tuple, int] = {}
    if not pks:
        return leaves, set()
    r = "rollup__"
    entries = list(
        StatsEntry.objects.filter(issue_id__in=pks).values_list(
            "issue_id", "flags", f"{r}period", f"{r}area_path", *(f"{r}{c}" for c in CODE_COLUMNS),
            f"{r}category_pk", f"{r}channel",
        )
    )  # fmt: skip
    with_entry = {pk for pk, *_ in entries}
    counted = [pk for pk, flags, *_ in entries if not flags & bit]
    StatsEntry.objects.filter(issue_id__in=counted).update(flags=F("flags").bitor(bit))
    for period, path, *rest in (row[2:] for row in entries if not row[1] & bit):
        codes, (category, channel) = tuple(rest[: len(CODE_COLUMNS)]), rest[len(CODE_COLUMNS) :]
        leaf = (_as_date(period), path, codes, category, channel, ALL_KINDS, NO_DAY)
        leaves[leaf] = leaves.get(leaf, 0) + 1
    return leaves, with_entry


def _escalated_upsert(added: dict[tuple, int]) -> None:
    """Add `added` ({full row: n}) to the rows' `escalated`, creating them (other counts 0), in key order, one
    statement (the generic path: PostgreSQL does it in _escalate_in_sql)."""
    rows = sorted(added, key=lambda row: _key(*row[:4], *row[5:]))
    table = connection.ops.quote_name(StatsRollup._meta.db_table)
    columns = [*KEY_COLUMNS[:4], *CODE_COLUMNS, *KEY_COLUMNS[4:], "escalated"]
    values = []
    for row in rows:
        grain, level, period, path, codes, category, channel, kind, resolved_on = row
        values.append([str(grain), str(level), period, path, *codes, category, channel, kind, resolved_on, added[row]])
    zeros = [c for c in COUNTS if c != "escalated"]
    into = f"INSERT INTO {table} ({', '.join([*columns, *zeros, 'slot'])})"
    tail = (
        f" ON CONFLICT ({', '.join([*KEY_COLUMNS, 'slot'])})"
        f" DO UPDATE SET escalated = {table}.escalated + excluded.escalated"
    )
    one = f"({', '.join(['%s'] * len(columns))}, {', '.join(['0'] * len(zeros))}, {_slot_sql()})"
    with connection.cursor() as cursor:
        cursor.execute(f"{into} VALUES {', '.join([one] * len(values))}{tail}", [v for row in values for v in row])


def _add(deltas: dict, leaf: tuple, counts: list[int]) -> None:
    for shape in _shapes(leaf):
        current = deltas.setdefault(shape, [0] * len(COUNTS))
        for i, n in enumerate(counts[:1] if shape[0] == G.TREND else counts):  # a trend row counts issues alone
            current[i] += n


# --- deadline rows (DeadlineRollup) --------------------------------------------------------------------------------
# An open issue counts in `overdue` and `due_running` from the moment its earliest relevant deadline passes
# (issues.figures.clock_terms), as long as it does not change: its entry remembers each figure's local day (CLOCK_DAYS)
# and it adds 1 to that figure in the deadline rows of its leaf row's key and that day (LATE_SHAPES: what a street's
# and a district's cuts read, by creation day or month and by deadline day or month). A refresh that finds the days
# (or the leaf) changed subtracts the old rows and adds the new in the same upsert statement as the other rows.

LATE_SHAPES = [(L.COMMUNITY, "all"), (L.STREET, "all"), (L.STREET, "category"), (L.DISTRICT, "category")]
LATE_COUNTS = ["overdue", "due_running"]  # CLOCK_FIGURES order
# Each shape by (creation grain, deadline grain): a period's edge days and its whole months, each read up to
# yesterday (deadline days of the current month) or up to the last month (deadline months before it).
LATE_GRAINS = [(G.DAY, G.DAY), (G.MONTH, G.DAY), (G.MONTH, G.MONTH)]
LATE_KEY_COLUMNS = ["grain", "level", "period", "area_path", "category_pk", "channel", "due_grain", "due_on"]


def _late_shapes(leaf: tuple, due: date) -> list[tuple]:
    """Return the deadline rows (key and codes) an issue of leaf row `leaf` counts in on the local day `due`."""
    day, path, codes, category, channel = leaf[:5]
    rows = [(G.DAY, L.LEAF, day, path, codes, category, channel, G.DAY, due)]
    for level, kept in LATE_SHAPES:
        upper = codes[: CODES_KEPT[level]]
        place = (PATH_SEPARATOR.join(upper), (*upper, *[""] * (5 - len(upper))))
        cut = (category if kept == "category" else ALL_CATEGORIES, ALL_CHANNELS)
        for grain, due_grain in LATE_GRAINS:
            period = day.replace(day=1) if grain == G.MONTH else day
            due_period = due.replace(day=1) if due_grain == G.MONTH else due
            rows.append((grain, level, period, *place, *cut, due_grain, due_period))
    return rows


def _add_late(late: dict, leaf: tuple, clock: tuple, sign: int = 1) -> None:
    for figure, due in enumerate(clock):
        if due == NO_DAY:
            continue
        for shape in _late_shapes(leaf, due):
            late.setdefault(shape, [0] * len(LATE_COUNTS))[figure] += sign


def _late_key(row: tuple) -> tuple:
    grain, level, period, path, _, category, channel, due_grain, due_on = row
    period, due_on = period.isoformat(), due_on.isoformat()
    return (str(grain), str(level), period, path, int(category), channel, str(due_grain), due_on)


LATE_ROW_COLUMNS = [*LATE_KEY_COLUMNS[:4], *CODE_COLUMNS, *LATE_KEY_COLUMNS[4:], *LATE_COUNTS]
LATE_ROW_TYPES = ["text", "text", "date", "text", *["text"] * 5, "integer", "text", "text", "date", "integer"]
LATE_ROW_TYPES += ["integer"]
LATE_TABLE = DeadlineRollup._meta.db_table  # a plain name


def _late_values(late: dict) -> list[list]:
    """Return the deadline rows with a change, in key order (so two refreshes never wait on each other), as values of
    LATE_ROW_COLUMNS."""
    rows = sorted((row for row, counts in late.items() if any(counts)), key=_late_key)
    return [[str(r[0]), str(r[1]), r[2], r[3], *r[4], r[5], r[6], str(r[7]), r[8], *late[r]] for r in rows]


def _key(grain, level, period, path, category, channel, kind, resolved_on) -> tuple:
    period, resolved_on = _as_date(period).isoformat(), _as_date(resolved_on).isoformat()
    return (str(grain), str(level), period, path, int(category), channel, kind, resolved_on)


def _leaf_key(leaf: tuple) -> tuple:
    """Return the key of the leaf day row of an issue of leaf `leaf` (the row its StatsEntry points at)."""
    return _key(G.DAY, L.LEAF, leaf[0], leaf[1], leaf[3], leaf[4], ALL_KINDS, NO_DAY)


def _upsert(deltas: dict, *, leaves: set) -> tuple[str, list]:
    """Return the upsert adding the deltas to their rows (creating them, the leaf day rows of `leaves` even without a
    count), in key order, returning each row's id and key: (sql, params)."""
    wanted = {_leaf_key(leaf) for leaf in leaves}
    rows = sorted(
        (row for row, counts in deltas.items() if any(counts) or _key(*row[:4], *row[5:]) in wanted),
        key=lambda row: _key(*row[:4], *row[5:]),
    )
    table = connection.ops.quote_name(StatsRollup._meta.db_table)
    values = []
    for row in rows:
        grain, level, period, path, codes, category, channel, kind, resolved_on = row
        values.append(
            [str(grain), str(level), period, path, *codes, category, channel, kind, resolved_on, *deltas[row]]
        )
    return _insert_or_update_sql(
        table,
        [*KEY_COLUMNS[:4], *CODE_COLUMNS, *KEY_COLUMNS[4:], *COUNTS],
        values,
        conflict=[*KEY_COLUMNS, "slot"],
        updates=_added(table, COUNTS),
        returning=f"id, {', '.join(KEY_COLUMNS)}",
        computed={"slot": _slot_sql()},
    )


def _insert_or_update_sql(
    table: str, columns, rows: list, *, conflict, updates: str, returning: str = "", computed: dict | None = None
) -> tuple[str, list]:
    """Return the INSERT of `rows` (a list of values per row) that on a conflict over `conflict` SETs `updates`.

    `computed`: {column: SQL expression} of columns every row takes from the database (not parameters).
    """
    computed = computed or {}
    one = ", ".join(["%s"] * len(columns) + list(computed.values()))
    placeholders = ", ".join([f"({one})"] * len(rows))
    sql = (
        f"INSERT INTO {table} ({', '.join([*columns, *computed])}) VALUES {placeholders}"
        f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
    )
    return sql + (f" RETURNING {returning}" if returning else ""), [v for row in rows for v in row]


def _insert_or_update(table: str, columns, rows: list, *, conflict, updates: str, returning: str = "") -> list:
    """Write `rows` (a list of values per row) in one INSERT; on a conflict over `conflict`, SET `updates`."""
    sql, params = _insert_or_update_sql(table, columns, rows, conflict=conflict, updates=updates, returning=returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


def _added(table: str, counts) -> str:
    """SET clause of a rollup row: its counts plus the new row's (deltas add up)."""
    return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counts)


def _replaced(columns) -> str:
    """SET clause of an entry: the new row's values replace the old."""
    return ", ".join(f"{c} = excluded.{c}" for c in columns)


STATS_ENTRY_COLUMNS = ["issue_id", "rollup_id", "flags", "ratings", "satisfied", "kind", "resolved_on", *CLOCK_DAYS]


def _write(deltas: dict, late: dict, entries: list) -> None:
    """Add the deltas to their rows and point each issue's StatsEntry at its leaf day row, with what it adds there.

    On PostgreSQL in one statement (the entries join the upsert's returned rows): the shared rows' locks are taken
    by the last statement before the commit, and held no longer than it. Its text is the same whatever the rows (one
    array per column, unnest), so it is prepared once per connection (_WRITE_SQL) and only executed after that:
    parsing and planning the statement with a parameter per value took longer than running it.
    """
    if connection.vendor == "postgresql":
        _write_prepared(deltas, late, entries)
        return
    upsert, params = _upsert(deltas, leaves={entry[1] for entry in entries})
    late_values = _late_values(late)
    table = connection.ops.quote_name(StatsEntry._meta.db_table)
    issue_field = StatsEntry._meta.get_field("issue").target_field
    with connection.cursor() as cursor:
        cursor.execute(upsert, params)
        leaf_ids = {_key(*rest): pk for pk, *rest in cursor.fetchall()}
        if late_values:
            cursor.execute(
                *_insert_or_update_sql(
                    LATE_TABLE,
                    LATE_ROW_COLUMNS,
                    late_values,
                    conflict=[*LATE_KEY_COLUMNS, "slot"],
                    updates=_added(LATE_TABLE, LATE_COUNTS),
                )
            )
        values = [
            [issue_field.get_db_prep_value(pk, connection), leaf_ids[_leaf_key(leaf)], *vector, *leaf[5:7], *clock]
            for pk, leaf, vector, clock in entries
        ]
        updates = _replaced(STATS_ENTRY_COLUMNS[1:])
        cursor.execute(
            *_insert_or_update_sql(table, STATS_ENTRY_COLUMNS, values, conflict=["issue_id"], updates=updates)
        )


WRITE_ROW_COLUMNS = [*KEY_COLUMNS[:4], *CODE_COLUMNS, *KEY_COLUMNS[4:], *COUNTS]
WRITE_ROW_TYPES = [
    "text",
    "text",
    "date",
    "text",
    *["text"] * 5,
    "integer",
    "text",
    "text",
    "date",
    *["integer"] * len(COUNTS),
]
WRITE_ENTRY_COLUMNS = ["issue_id", "period", "area_path", "category_pk", "channel", "flags", "ratings", "satisfied"]
WRITE_ENTRY_COLUMNS += ["kind", "resolved_on", *CLOCK_DAYS]
WRITE_ENTRY_TYPES = ["uuid", "date", "text", "integer", "text", "integer", "integer", "integer", "text", "date"]
WRITE_ENTRY_TYPES += ["date"] * len(CLOCK_DAYS)


def _write_statement(*, late: bool) -> str:
    """Return the PREPARE text of _write on PostgreSQL: $1… the rows' columns (WRITE_ROW_COLUMNS, rows in key order),
    then with `late` the deadline rows' (LATE_ROW_COLUMNS, in key order), then the entries' (WRITE_ENTRY_COLUMNS), each
    an array. Without `late` (no deadline row changes: every submission) the statement has no deadline part at all:
    an INSERT of no rows still opens the table and its indexes, a measurable share of a create's statement."""
    rollup = connection.ops.quote_name(StatsRollup._meta.db_table)
    entry = connection.ops.quote_name(StatsEntry._meta.db_table)
    n, m = len(WRITE_ROW_COLUMNS), len(LATE_ROW_COLUMNS) if late else 0
    rows = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(WRITE_ROW_TYPES))
    late_arrays = ", ".join(f"${n + i + 1}::{t}[]" for i, t in enumerate(LATE_ROW_TYPES))
    entries = ", ".join(f"${n + m + i + 1}::{t}[]" for i, t in enumerate(WRITE_ENTRY_TYPES))
    leaf = f"r.grain = '{G.DAY.value}' AND r.level = '{L.LEAF.value}' AND r.kind = '{ALL_KINDS}'"
    leaf += f" AND r.resolved_on = '{NO_DAY.isoformat()}'"
    return (
        f"WITH r AS (INSERT INTO {rollup} ({', '.join(WRITE_ROW_COLUMNS)}, slot)"
        f" SELECT {', '.join(f'v.{c}' for c in WRITE_ROW_COLUMNS)}, {_slot_sql()}"
        f" FROM unnest({rows}) WITH ORDINALITY AS v({', '.join(WRITE_ROW_COLUMNS)}, n) ORDER BY v.n"
        f" ON CONFLICT ({', '.join([*KEY_COLUMNS, 'slot'])}) DO UPDATE SET {_added(rollup, COUNTS)}"
        f" RETURNING id, {', '.join(KEY_COLUMNS)})"
        # The deadline rows: not read by the entries, written all the same (every data-modifying WITH runs).
        + (
            f", d AS (INSERT INTO {LATE_TABLE} ({', '.join(LATE_ROW_COLUMNS)}, slot)"
            f" SELECT {', '.join(f'v.{c}' for c in LATE_ROW_COLUMNS)}, {_slot_sql()}"
            f" FROM unnest({late_arrays}) WITH ORDINALITY AS v({', '.join(LATE_ROW_COLUMNS)}, n) ORDER BY v.n"
            f" ON CONFLICT ({', '.join([*LATE_KEY_COLUMNS, 'slot'])}) DO UPDATE SET {_added(LATE_TABLE, LATE_COUNTS)})"
            if late
            else ""
        )
        + f" INSERT INTO {entry} ({', '.join(STATS_ENTRY_COLUMNS)})"
        " SELECT e.issue_id, r.id, e.flags, e.ratings, e.satisfied, e.kind, e.resolved_on,"
        f" {', '.join(f'e.{day}' for day in CLOCK_DAYS)}"
        f" FROM unnest({entries}) AS e ({', '.join(WRITE_ENTRY_COLUMNS)})"
        f" JOIN r ON {leaf} AND r.period = e.period AND r.area_path = e.area_path"
        " AND r.category_pk = e.category_pk AND r.channel = e.channel"
        f" ON CONFLICT (issue_id) DO UPDATE SET {_replaced(STATS_ENTRY_COLUMNS[1:])} RETURNING 1"
    )


_WRITE_NAME = "griddesk_rollup_write"  # with deadline rows: _late


def _write_prepared(deltas: dict, late: dict, entries: list) -> None:
    rows = execute_prepared_many(connection, [_write_prepared_statement(deltas, late, entries)])
    if len(rows) != len(entries):  # every leaf row is in the upsert: a miss is a bug, not data
        raise RuntimeError("A statistics entry found no leaf rollup row.")


def _write_prepared_statement(deltas: dict, late: dict, entries: list) -> Prepared:
    """Return the execution of the prepared _write."""
    row_arrays = _row_arrays(deltas, late, entries)
    entry_rows = [
        [str(pk), leaf[0], leaf[1], leaf[3], leaf[4], *vector, leaf[5], leaf[6], *clock]
        for pk, leaf, vector, clock in entries
    ]
    arrays = [*row_arrays, *(array_literal(column) for column in zip(*entry_rows, strict=True))]
    late = len(row_arrays) > len(WRITE_ROW_COLUMNS)
    name = f"{_WRITE_NAME}_late" if late else _WRITE_NAME
    execute = _EXECUTES.get(name)
    if execute is None:
        types = [*WRITE_ROW_TYPES, *(LATE_ROW_TYPES if late else []), *WRITE_ENTRY_TYPES]
        execute = _EXECUTES[name] = f"EXECUTE {name}({', '.join(f'%s::{t}[]' for t in types)})"
    return Prepared(name, _write_statement_late if late else _write_statement_plain, execute, arrays)


_EXECUTES: dict[str, str] = {}  # the EXECUTE text of each of _write's statements


def _write_statement_plain() -> str:
    return _write_statement(late=False)


def _write_statement_late() -> str:
    return _write_statement(late=True)


def _row_arrays(deltas: dict, late: dict, entries: list) -> list[str]:
    """Return the rows' and the deadline rows' columns of _write's statement (the latter only when some change), each
    one array literal (config.bulk.array_literal) cast to its parameter type: psycopg2's ARRAY[…] of 300 values took a
    third of a millisecond to write and the server as long to read."""
    _, params = _upsert(deltas, leaves={entry[1] for entry in entries})
    width = len(WRITE_ROW_COLUMNS)
    late_params = [value for row in _late_values(late) for value in row]
    late_width = len(LATE_ROW_COLUMNS) if late_params else 0
    return [
        *(array_literal(params[i::width]) for i in range(width)),
        *(array_literal(late_params[i::late_width]) for i in range(late_width)),
    ]


# --- rebuild ------------------------------------------------------------------------------------------------------


def rollup_months() -> list[date]:
    """Return the first day of each local month from the first issue's to the last issue's."""
    first = Issue.objects.order_by("created_at").values_list("created_at", flat=True).first()
    last = Issue.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if first is None:
        return []
    month, end = first.astimezone(LOCAL_TZ).date().replace(day=1), last.astimezone(LOCAL_TZ).date()
    months = []
    while month <= end:
        months.append(month)
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return months


def rollup_rebuild(*, progress=None) -> int:
    """Recompute every rollup row and entry from the issues; return the number of months written.

    `progress(months)` wraps the iteration over months (a progress bar); rows outside the issues' months go first.
    """
    months = rollup_months()
    rollup = connection.ops.quote_name(StatsRollup._meta.db_table)
    with transaction.atomic():
        _lock_tables()
        if months:
            with connection.cursor() as cursor:
                for table in (rollup, LATE_TABLE, DEPARTMENT_ROLLUP):
                    cursor.execute(
                        f"DELETE FROM {table} WHERE period < %s OR period >= %s", [months[0], _next(months[-1])]
                    )
        else:
            StatsEntry.objects.all().delete()
            DepartmentEntry.objects.all().delete()
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {rollup}")
                cursor.execute(f"DELETE FROM {LATE_TABLE}")
                cursor.execute(f"DELETE FROM {DEPARTMENT_ROLLUP}")
    for month in progress(months) if progress else months:
        with transaction.atomic():
            _lock_tables()
            _rebuild_month(month)
            _rebuild_department_month(month)
    return len(months)


def _next(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _lock_tables() -> None:
    """Make writers wait for this transaction (PostgreSQL; SQLite has one writer at a time anyway)."""
    if connection.vendor == "postgresql":
        models = (StatsRollup, StatsEntry, DeadlineRollup, DepartmentRollup, DepartmentEntry)
        tables = [connection.ops.quote_name(m._meta.db_table) for m in models]
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE")


def _rebuild_month(month: date) -> None:
    """Replace the rows and entries of the issues created in the local month starting on `month`."""
    start = datetime.combine(month, time.min, LOCAL_TZ)
    end = datetime.combine(_next(month), time.min, LOCAL_TZ)
    issues = Issue.objects.filter(created_at__gte=start, created_at__lt=end)
    vectors = _vectors(issues).values(
        "day", "area_path", *CODE_COLUMNS, "category_key", "channel", "kind", "resolved_on", "flag_bits",
        "rating_count", "satisfied_count", *CLOCK_DAYS, issue_key=F("pk"),
    )  # fmt: skip
    select, params = vectors.query.sql_with_params()
    rollup = connection.ops.quote_name(StatsRollup._meta.db_table)
    entry = connection.ops.quote_name(StatsEntry._meta.db_table)
    counts_sql = [
        "COUNT(*)",
        *(f"SUM(CASE WHEN (v.flag_bits & {1 << bit}) <> 0 THEN 1 ELSE 0 END)" for bit in range(len(FLAG_KEYS))),
        "SUM(v.rating_count)",
        "SUM(v.satisfied_count)",
    ]
    codes = ", ".join(CODE_COLUMNS)
    v_codes = ", ".join(f"v.{c}" for c in CODE_COLUMNS)
    with connection.cursor() as cursor:
        ids_sql, ids_params = issues.values("pk").query.sql_with_params()
        cursor.execute(f"DELETE FROM {entry} WHERE issue_id IN ({ids_sql})", ids_params)
        cursor.execute(f"DELETE FROM {rollup} WHERE period >= %s AND period < %s", [month, _next(month)])
        cursor.execute(
            f"INSERT INTO {rollup} (grain, level, period, area_path, {codes}, category_pk, channel,"
            f" {', '.join(COUNTS)})"
            f" SELECT %s, %s, v.day, v.area_path, {v_codes}, v.category_key, v.channel, {', '.join(counts_sql)}"
            f" FROM ({select}) v GROUP BY v.day, v.area_path, {v_codes}, v.category_key, v.channel",
            [G.DAY.value, L.LEAF.value, *params],
        )
        if connection.vendor == "postgresql":
            # Fresh statistics, or the planner takes the new rows for none and joins them by a nested loop.
            cursor.execute(f"ANALYZE {rollup}")
        cursor.execute(
            f"INSERT INTO {entry} ({', '.join(STATS_ENTRY_COLUMNS)})"
            f" SELECT v.issue_key, r.id, v.flag_bits, v.rating_count, v.satisfied_count, v.kind, v.resolved_on,"
            f" {', '.join(f'v.{day}' for day in CLOCK_DAYS)} FROM ({select}) v"
            f" JOIN {rollup} r ON r.grain = %s AND r.level = %s AND r.period = v.day AND r.area_path = v.area_path"
            " AND r.category_pk = v.category_key AND r.channel = v.channel AND r.kind = %s AND r.resolved_on = %s",
            [*params, G.DAY.value, L.LEAF.value, ALL_KINDS, NO_DAY],
        )
        _rebuild_trend(cursor, issues)
        cursor.execute(f"DELETE FROM {LATE_TABLE} WHERE period >= %s AND period < %s", [month, _next(month)])
        _rebuild_late(cursor, month)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {LATE_TABLE}")
        sums = ", ".join(f"SUM({c})" for c in COUNTS)
        for grain, level, kept in SHAPES:
            upper = CODE_COLUMNS[: CODES_KEPT[level]]
            path = f" || '{PATH_SEPARATOR}' || ".join(upper)
            blanks = ", ".join(["''"] * (5 - len(upper)))
            category = "category_pk" if kept == "category" else str(ALL_CATEGORIES)
            channel = "channel" if kept == "channel" else f"'{ALL_CHANNELS}'"
            group = [*([] if grain == G.MONTH else ["period"]), *upper]
            group += [c for c, k in (("category_pk", "category"), ("channel", "channel")) if k == kept]
            cursor.execute(
                f"INSERT INTO {rollup} (grain, level, period, area_path, {codes}, category_pk, channel,"
                f" {', '.join(COUNTS)})"
                f" SELECT %s, %s, {'%s' if grain == G.MONTH else 'period'}, {path}, {', '.join(upper)}, {blanks},"
                f" {category}, {channel}, {sums}"
                f" FROM {rollup} WHERE grain = %s AND level = %s AND period >= %s AND period < %s"
                f" GROUP BY {', '.join(group)}",
                [grain.value, level.value, *([month] if grain == G.MONTH else []), G.DAY.value, L.LEAF.value, month,
                 _next(month)],
            )  # fmt: skip


def _month_of(column: str) -> str:
    """Return the SQL of the first day of the month of the date `column`."""
    if connection.vendor == "postgresql":
        return f"date_trunc('month', {column})::date"
    return f"date({column}, 'start of month')"


def _rebuild_late(cursor, month: date | None = None) -> None:
    """Insert the deadline rows (slot 0) of the entries whose leaf row is of the local month starting on `month` (all
    with None): the leaf rows from the entries' days, then the LATE_SHAPES rows summed from those leaf rows."""
    entry = connection.ops.quote_name(StatsEntry._meta.db_table)
    rollup = connection.ops.quote_name(StatsRollup._meta.db_table)
    within, within_params = ("period >= %s AND period < %s", [month, _next(month)]) if month else ("1 = 1", [])
    codes = ", ".join(CODE_COLUMNS)
    keys = ["period", "area_path", *CODE_COLUMNS, "category_pk", "channel"]
    n = [f"n{i}" for i in range(len(LATE_COUNTS))]
    parts, params = [], []
    for figure, day in enumerate(CLOCK_DAYS):
        counts = ", ".join(f"{int(i == figure)} AS {name}" for i, name in enumerate(n))
        leaf_within = "r.period >= %s AND r.period < %s" if month else "1 = 1"
        parts.append(
            f"SELECT {', '.join(f'r.{c} AS {c}' for c in keys)}, e.{day} AS due_on, {counts}"
            f" FROM {entry} e JOIN {rollup} r ON r.id = e.rollup_id WHERE e.{day} <> %s AND {leaf_within}"
        )
        params += [NO_DAY, *within_params]
    cursor.execute(
        f"INSERT INTO {LATE_TABLE} ({', '.join(LATE_ROW_COLUMNS)})"
        f" SELECT %s, %s, period, area_path, {codes}, category_pk, channel, %s, due_on,"
        f" {', '.join(f'SUM({c})' for c in n)}"
        f" FROM ({' UNION ALL '.join(parts)}) x GROUP BY {', '.join(keys)}, due_on",
        [G.DAY.value, L.LEAF.value, G.DAY.value, *params],
    )
    sums = ", ".join(f"SUM({c})" for c in LATE_COUNTS)
    for level, kept in LATE_SHAPES:
        upper = CODE_COLUMNS[: CODES_KEPT[level]]
        path = f" || '{PATH_SEPARATOR}' || ".join(upper)
        blanks = ", ".join(["''"] * (5 - len(upper)))
        category = "category_pk" if kept == "category" else str(ALL_CATEGORIES)
        for grain, due_grain in LATE_GRAINS:
            period = _month_of("period") if grain == G.MONTH else "period"
            due_on = _month_of("due_on") if due_grain == G.MONTH else "due_on"
            group = [period, *upper, *(["category_pk"] if kept == "category" else []), due_on]
            cursor.execute(
                f"INSERT INTO {LATE_TABLE} ({', '.join(LATE_ROW_COLUMNS)})"
                f" SELECT %s, %s, {period}, {path}, {', '.join(upper)}, {blanks}, {category}, %s, %s, {due_on}, {sums}"
                f" FROM {LATE_TABLE} WHERE grain = %s AND level = %s AND {within} GROUP BY {', '.join(group)}",
                [grain.value, level.value, ALL_CHANNELS, due_grain.value, G.DAY.value, L.LEAF.value, *within_params],
            )


def rollup_rebuild_deadlines() -> int:
    """Recompute the deadline rows and the entries' days from the open issues alone (after migrating to them, or to
    check them), in one transaction that locks the rollup tables against writers; return the entries with a day.

    Every issue that counts in a deadline row is open, so this reads the open issues and the entries that had a day,
    not the history: minutes where rollup_rebuild takes most of an hour at 10,000,000 issues.
    """
    entry = connection.ops.quote_name(StatsEntry._meta.db_table)
    open_issues = Issue.objects.filter(reduce(or_, [q for terms in CLOCK_TERMS.values() for q, _ in terms]))
    days = open_issues.order_by().annotate(
        **{f"new_{day}": _clock_day(terms) for day, terms in zip(CLOCK_DAYS, CLOCK_TERMS.values(), strict=True)}
    )
    select, params = days.values(*(f"new_{day}" for day in CLOCK_DAYS), issue_key=F("pk")).query.sql_with_params()
    with transaction.atomic():
        _lock_tables()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {entry} SET {', '.join(f'{day} = %s' for day in CLOCK_DAYS)}"
                f" WHERE {' OR '.join(f'{day} <> %s' for day in CLOCK_DAYS)}",
                [NO_DAY] * (2 * len(CLOCK_DAYS)),
            )
            cursor.execute(
                f"UPDATE {entry} SET {', '.join(f'{day} = v.new_{day}' for day in CLOCK_DAYS)} FROM ({select}) v"
                f" WHERE {entry}.issue_id = v.issue_key"
                f" AND ({' OR '.join(f'v.new_{day} <> %s' for day in CLOCK_DAYS)})",
                [*params, *[NO_DAY] * len(CLOCK_DAYS)],
            )
            counted = cursor.rowcount
            cursor.execute(f"DELETE FROM {LATE_TABLE}")
            _rebuild_late(cursor)
            if connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {LATE_TABLE}")  # as the rebuild's: fresh statistics for the readers' plans
    return counted


def _rebuild_trend(cursor, issues) -> None:
    """Insert the trend rows (TREND_LEVELS) of `issues`: by creation day and kind, and by resolution day."""
    trend = issues.order_by().annotate(day=TruncDate("created_at", tzinfo=LOCAL_TZ), resolved_on=_resolved_on())
    select, params = trend.values("day", "kind", "resolved_on", *CODE_COLUMNS).query.sql_with_params()
    rollup = connection.ops.quote_name(StatsRollup._meta.db_table)
    codes = ", ".join(CODE_COLUMNS)
    for level in TREND_LEVELS:
        upper = [f"v.{c}" for c in CODE_COLUMNS[: CODES_KEPT[level]]]
        path = f" || '{PATH_SEPARATOR}' || ".join(upper)
        blanks = ", ".join(["''"] * (5 - len(upper)))
        insert = (
            f"INSERT INTO {rollup} (grain, level, period, area_path, {codes}, category_pk, channel, kind, resolved_on,"
            f" {', '.join(COUNTS)}) SELECT %s, %s, v.day, {path}, {', '.join(upper)}, {blanks}, %s, %s"
        )
        zeros = ", 0" * (len(COUNTS) - 1)
        head = [G.TREND.value, level.value, ALL_CATEGORIES, ALL_CHANNELS]
        group = f"v.day, {', '.join(upper)}"
        cursor.execute(
            f"{insert}, v.kind, %s, COUNT(*){zeros} FROM ({select}) v GROUP BY {group}, v.kind",
            [*head, NO_DAY, *params],
        )
        cursor.execute(
            f"{insert}, %s, v.resolved_on, COUNT(*){zeros} FROM ({select}) v WHERE v.resolved_on <> %s"
            f" GROUP BY {group}, v.resolved_on",
            [*head, ALL_KINDS, *params, NO_DAY],
        )


# --- departments --------------------------------------------------------------------------------------------------
# DepartmentRollup (the /stats/ page's departments, issues.stats_report): each issue adds, for every department it
# was dispatched to, one DepartmentEntry's counts to that department's leaf day row (its local creation day × its
# grid or building path) and to the same row summed up the tree (DEPARTMENT_SHAPES). The entry remembers what it
# added; a refresh subtracts it and adds the new counts where they changed, as for StatsRollup above.

DEPARTMENT_COUNTS = [
    "dispatched", "accepted_on_time", "returned", "accepted", "resolved", "due_resolved", "resolved_on_time", "ratings",
    "satisfied",
]  # fmt: skip
DEPARTMENT_CODES = CODE_COLUMNS[:3]
# The statuses in which a passed resolution deadline makes an issue due while open (issues.stats.due_running_q).
DUE_OPEN_STATUSES = [
    *Issue.DEADLINE_STATUSES["resolution"],
    *OTHER_OPEN_STATUSES,
]  # district, street, community: enough to name every row above the leaf
DEPARTMENT_SHAPES = [(grain, level) for grain in (G.DAY, G.MONTH) for level in TREND_LEVELS]
DEPARTMENT_ROLLUP, DEPARTMENT_ENTRY = DepartmentRollup._meta.db_table, DepartmentEntry._meta.db_table  # plain names


def department_lead_q(prefix: str = "") -> Q:
    """Return the filter of the current round's lead dispatch (the department answerable for the outcome)."""
    return Q(**{f"{prefix}lead": True, f"{prefix}active": True})


def _department_vectors(dispatches):
    """Return `dispatches` grouped by issue and department as values: the leaf row's key and DEPARTMENT_COUNTS.

    The definitions of issues.stats_report's department row (its module docstring): every dispatch round counts in
    `dispatched`, `accepted_on_time` and `returned`; the rest count once, for the current round's lead only.
    """
    lead = department_lead_q()
    resolved = Q(issue__status__in=RESOLVED_STATUSES)
    has_deadline = Q(issue__resolution_due_at__isnull=False)
    ratings = Rating.objects.filter(issue=OuterRef("issue_id")).order_by().values("issue")

    def per_lead(query):
        count = Coalesce(Subquery(query.annotate(n=Count("pk")).values("n")), Value(0))
        return Coalesce(Sum(Case(When(lead, then=count), default=Value(0), output_field=IntegerField())), Value(0))

    return (
        dispatches.order_by()
        .values(
            "issue_id",
            "department_id",
            day=TruncDate("issue__created_at", tzinfo=LOCAL_TZ),
            path=F("issue__area_path"),
            **{code: F(f"issue__{code}") for code in DEPARTMENT_CODES},
        )  # fmt: skip
        .annotate(
            dispatched=Count("pk"),
            accepted_on_time=Count(
                "pk", filter=Q(accepted_at__isnull=False, accepted_at__lte=F("issue__response_due_at"))
            ),
            returned=Count("pk", filter=Q(status=Dispatch.Status.RETURNED)),
            accepted=Count("pk", filter=lead & Q(issue__accepted_at__isnull=False)),
            resolved=Count("pk", filter=lead & Q(issue__accepted_at__isnull=False) & resolved),
            due_resolved=Count("pk", filter=lead & has_deadline & resolved),
            resolved_on_time=Count(
                "pk", filter=lead & has_deadline & resolved & Q(issue__resolved_at__lte=F("issue__resolution_due_at"))
            ),
            ratings=per_lead(ratings),
            satisfied=per_lead(ratings.filter(score__gte=Rating.SATISFIED_MIN)),
            lead_due_at=Max(
                Case(When(lead & Q(issue__status__in=DUE_OPEN_STATUSES), then=F("issue__resolution_due_at")))
            ),
        )
    )


VECTOR_COLUMNS = ["issue_id", "department_id", "day", "path", *DEPARTMENT_CODES, *DEPARTMENT_COUNTS, "lead_due_at"]
ENTRY_COLUMNS = [
    "issue_id",
    "department_id",
    "period",
    "area_path",
    *DEPARTMENT_CODES,
    *DEPARTMENT_COUNTS,
    "lead_due_at",
]


def _department_refresh(ids: list) -> None:
    """Bring the department rows and entries of these issues up to date (one read; writes only what changed)."""
    vectors, params = _department_vectors(Dispatch.objects.filter(issue_id__in=ids)).query.sql_with_params()
    entries, entry_params = (
        DepartmentEntry.objects.filter(issue_id__in=ids).values(*ENTRY_COLUMNS).query.sql_with_params()
    )
    width = len(VECTOR_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1, {', '.join(f'v.{c}' for c in VECTOR_COLUMNS)} FROM ({vectors}) v"
            f" UNION ALL SELECT 0, {', '.join(f'e.{c}' for c in ENTRY_COLUMNS)} FROM ({entries}) e",
            [*params, *entry_params],
        )
        read = cursor.fetchall()
    new, old = {}, {}
    for is_new, *row in read:
        place = (_as_date(row[2]), row[3], tuple(row[4:7]))
        (new if is_new else old)[(row[0], row[1])] = (place, (*(int(n) for n in row[7 : width - 1]), row[width - 1]))
    deltas: dict[tuple, list[int]] = {}
    written = []
    for key in sorted(new.keys() | old.keys(), key=lambda k: (str(k[0]), k[1])):
        if new.get(key) == old.get(key):
            continue
        department = key[1]
        if key in old:
            _department_add(deltas, department, *old[key], sign=-1)
        if key in new:
            _department_add(deltas, department, *new[key])
            written.append((key, new[key]))
    gone = [key for key in old if key not in new]  # only if an issue's dispatch rows were deleted
    if deltas:
        _department_upsert(deltas)
    if written:
        _department_write_entries(written)
    for issue_id, department_id in gone:
        DepartmentEntry.objects.filter(issue_id=issue_id, department_id=department_id).delete()


def _department_add(deltas: dict, department: int, place: tuple, vector: tuple, sign: int = 1) -> None:
    day, path, codes = place
    counts = vector[:-1]  # the last is lead_due_at, the entry's alone
    for grain, level, period, row_path, row_codes in [
        (G.DAY, L.LEAF, day, path, codes),
        *_department_shapes(day, codes),
    ]:
        current = deltas.setdefault(
            (str(grain), str(level), period, row_path, department, row_codes), [0] * len(counts)
        )
        for i, n in enumerate(counts):
            current[i] += sign * n


def _department_shapes(day: date, codes: tuple) -> list[tuple]:
    rows = []
    for grain, level in DEPARTMENT_SHAPES:
        upper = codes[: CODES_KEPT[level]]
        period = day.replace(day=1) if grain == G.MONTH else day
        rows.append((grain, level, period, PATH_SEPARATOR.join(upper), (*upper, *[""] * (3 - len(upper)))))
    return rows


def _department_upsert(deltas: dict) -> None:
    """Add the deltas to their rows (creating them), in key order so two refreshes never wait on each other."""
    rows = sorted(
        (key for key, counts in deltas.items() if any(counts)), key=lambda k: (*k[:2], k[2].isoformat(), *k[3:5])
    )
    if not rows:
        return
    key_columns = ["grain", "level", "period", "area_path", "department_id"]
    values = [[*key[:5], *key[5], *deltas[key]] for key in rows]
    _insert_or_update(
        DEPARTMENT_ROLLUP,
        [*key_columns, *DEPARTMENT_CODES, *DEPARTMENT_COUNTS],
        values,
        conflict=key_columns,
        updates=_added(DEPARTMENT_ROLLUP, DEPARTMENT_COUNTS),
    )


def _department_write_entries(written: list) -> None:
    values = [
        [issue_id, department_id, day, path, *codes, *counts]
        for (issue_id, department_id), ((day, path, codes), counts) in written
    ]
    _insert_or_update(
        DEPARTMENT_ENTRY,
        ENTRY_COLUMNS,
        values,
        conflict=["issue_id", "department_id"],
        updates=_replaced(ENTRY_COLUMNS[2:]),
    )


def _rebuild_department_month(month: date) -> None:
    """Replace the department rows and entries of the issues created in the local month starting on `month`."""
    start = datetime.combine(month, time.min, LOCAL_TZ)
    end = datetime.combine(_next(month), time.min, LOCAL_TZ)
    issues = Issue.objects.filter(created_at__gte=start, created_at__lt=end)
    vectors, params = _department_vectors(
        Dispatch.objects.filter(issue__created_at__gte=start, issue__created_at__lt=end)
    ).query.sql_with_params()
    codes = ", ".join(DEPARTMENT_CODES)
    counts = ", ".join(DEPARTMENT_COUNTS)
    sums = ", ".join(f"SUM({c})" for c in DEPARTMENT_COUNTS)
    with connection.cursor() as cursor:
        ids_sql, ids_params = issues.values("pk").query.sql_with_params()
        cursor.execute(f"DELETE FROM {DEPARTMENT_ENTRY} WHERE issue_id IN ({ids_sql})", ids_params)
        cursor.execute(f"DELETE FROM {DEPARTMENT_ROLLUP} WHERE period >= %s AND period < %s", [month, _next(month)])
        cursor.execute(
            f"INSERT INTO {DEPARTMENT_ENTRY} ({', '.join(ENTRY_COLUMNS)})"
            f" SELECT {', '.join(f'v.{c}' for c in VECTOR_COLUMNS)} FROM ({vectors}) v",
            params,
        )
        cursor.execute(
            f"INSERT INTO {DEPARTMENT_ROLLUP} (grain, level, period, area_path, department_id, {codes}, {counts})"
            f" SELECT %s, %s, period, area_path, department_id, {codes}, {sums} FROM {DEPARTMENT_ENTRY}"
            f" WHERE issue_id IN ({ids_sql}) GROUP BY period, area_path, department_id, {codes}",
            [G.DAY.value, L.LEAF.value, *ids_params],
        )
        for grain, level in DEPARTMENT_SHAPES:
            upper = DEPARTMENT_CODES[: CODES_KEPT[level]]
            path = f" || '{PATH_SEPARATOR}' || ".join(upper)
            blanks = "".join(", ''" for _ in range(3 - len(upper)))
            group = [*([] if grain == G.MONTH else ["period"]), *upper, "department_id"]
            cursor.execute(
                f"INSERT INTO {DEPARTMENT_ROLLUP} (grain, level, period, area_path, department_id, {codes}, {counts})"
                f" SELECT %s, %s, {'%s' if grain == G.MONTH else 'period'}, {path}, department_id,"
                f" {', '.join(upper)}{blanks}, {sums}"
                f" FROM {DEPARTMENT_ROLLUP} WHERE grain = %s AND level = %s AND period >= %s AND period < %s"
                f" GROUP BY {', '.join(group)}",
                [grain.value, level.value, *([month] if grain == G.MONTH else []), G.DAY.value, L.LEAF.value, month,
                 _next(month)],
            )  # fmt: skip
