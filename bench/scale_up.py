"""Make a 10 M dataset from a copy of the 1 M one in minutes, not the hour and a half of `make bench SCALE=10m`.

`python -m bench.scale_up DB [--copies 9]`: DB is a scratch copy of the api benchmark's dataset (createdb -T
griddesk_bench DB, then migrate it). Each bulk issue (number BK-…) is written again `copies` times with a new id
(md5 of the old id and the copy's number, so its dispatch, rating, events and escalation marks follow it), a number
B<copy>-… and every timestamp moved `copy` × 6 seconds earlier (the issues are about a minute apart at 1 M: the copies
fall between them), so the mix of states, kinds, categories, channels and ages stays the 1 M dataset's, ten times as
dense, and the rows are written in time order. Secondary indexes are dropped and made again after the rows (faster
than keeping them), foreign-key triggers are off while writing (the rows point at what they copy). Then the
statistics rollups are rebuilt (manage.py rebuild_stats_rollups) and everything is analysed. Run it under the
measuring lock (/work/HELPERS.md): it keeps both CPUs busy.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
SHIFT = "interval '6 seconds'"
# Table → (how its rows find their bulk issue, the column of its time order).
CHILDREN = {
    "issues_dispatch": "created_at",
    "issues_rating": "created_at",
    "issues_event": "at",
    "issues_escalationmark": "due_at",
}


def _columns(cursor, table: str) -> list[tuple[str, str, bool]]:
    cursor.execute(
        "SELECT column_name, data_type, is_identity = 'YES' OR column_default LIKE 'nextval%%'"
        " FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return cursor.fetchall()


def _expression(table: str, column: str, data_type: str) -> str:
    if column in ("id", "issue_id", "duplicate_of_id") and data_type == "uuid":
        return f"CASE WHEN t.{column} IS NULL THEN NULL ELSE md5(t.{column}::text || k)::uuid END"
    if table == "issues_issue" and column == "number":
        return "'B' || k || substr(t.number, 3)"
    if data_type == "timestamp with time zone":
        return f"t.{column} - k * {SHIFT}"
    return f"t.{column}"


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = i.indexrelid)",
        [table],
    )
    return cursor.fetchall()


def scale_up(database: str, copies: int) -> None:
    connection = psycopg2.connect(f"postgres://postgres@127.0.0.1:5432/{database}")
    connection.autocommit = True
    cursor = connection.cursor()
    cursor.execute("SET session_replication_role = replica")  # no foreign-key triggers while writing copies
    cursor.execute("SET work_mem = '1GB'")
    cursor.execute("SET maintenance_work_mem = '1GB'")
    cursor.execute("CREATE TEMP TABLE copies AS SELECT generate_series(1, %s) AS k", [copies])
    cursor.execute("CREATE TEMP TABLE bulk AS SELECT id FROM issues_issue WHERE number LIKE 'BK-%%'")
    cursor.execute("CREATE UNIQUE INDEX ON bulk (id)")
    cursor.execute("ANALYZE bulk")
    for table in ["issues_issue", *CHILDREN]:
        started = time.perf_counter()
        dropped = _secondary_indexes(cursor, table)
        for name, _ in dropped:
            cursor.execute(f'DROP INDEX "{name}"')
        columns = [(c, t) for c, t, generated in _columns(cursor, table) if not (generated and c == "id")]
        names = ", ".join(c for c, _ in columns)
        values = ", ".join(_expression(table, c, t) for c, t in columns)
        if table == "issues_issue":
            source, order = "issues_issue t JOIN bulk USING (id)", "t.created_at - k * " + SHIFT
        else:
            source, order = f"{table} t JOIN bulk b ON b.id = t.issue_id", f"t.{CHILDREN[table]} - k * {SHIFT}"
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {values} FROM {source} CROSS JOIN copies ORDER BY {order}"
        )
        rows = cursor.rowcount
        for _, definition in dropped:
            cursor.execute(definition)
        print(f"{table}: {rows:,} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    cursor.execute("SET session_replication_role = origin")
    cursor.execute("ANALYZE")
    started = time.perf_counter()
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}"}
    subprocess.run(
        [sys.executable, "manage.py", "rebuild_stats_rollups", "--no-progress"], cwd=ROOT, env=env, check=True
    )
    print(f"rollups rebuilt in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    cursor.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="a scratch copy of griddesk_bench, never griddesk_bench itself")
    parser.add_argument("--copies", type=int, default=9)
    args = parser.parse_args()
    if args.database == "griddesk_bench":
        parser.error("copy it first: createdb -T griddesk_bench DB")
    scale_up(args.database, args.copies)


if __name__ == "__main__":
    main()
