"""The PostgreSQL backend's CPU of a create's one query, whole and by parts, replayed in one session (by hand).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a copy of griddesk_bench> CACHE_URL=redis://127.0.0.1:6379/7 \
        CELERY_BROKER_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/replay_create.py [-n 1000] [--rounds 3]

Sends bench/bench_api.py's create through the test Client (as bench/profile_create.py) until it is warm, captures
the one query of the next create (the day's number, the rollup statement, the issue's and its event's INSERT), then
replays it `-n` times per variant and round, each time with a new issue id, and reads the CPU of this session's
backend from /proc/<pid>/schedstat:

- `whole`: the query as the create sends it;
- `no_rollup`: without the rollup statement (what a create would cost the server if the rollup rows were written
  elsewhere);
- `rollup`: the rollup statement alone, in a transaction of its own;
- `rollup_by_id`: the same rows changed by an UPDATE of their ids and the entry by a plain INSERT, in a transaction
  of its own: what the statement would cost if the rows' ids were known (an experiment: no code path sends it).

Every round runs the variants in turn. It writes issues, rollup counts and entries into that database: never point
it at one you keep. docs/scaling.md, "A create's rollup rows", reads its figures.
"""

import argparse
import re
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Its import sets what profile_create runs with (settings, cache key prefix, throttles that never refuse).
from bench.profile_create import BODY  # noqa: E402

UUID = re.compile(r"'\{?\"?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\"?\}?'::uuid")


def _captured_query(client) -> str:
    """Return the SQL of one warm create's query, its parameters in place."""
    from django.db import connection

    sent = []

    def capture(execute, sql, params, many, context):
        sent.append(context["cursor"].mogrify(sql, params).decode() if params else sql)
        return execute(sql, params, many, context)

    for _ in range(3):
        client.post("/api/v1/issues/", BODY, content_type="application/json")
    with connection.execute_wrapper(capture):
        response = client.post("/api/v1/issues/", BODY, content_type="application/json")
    if response.status_code != 201 or len(sent) != 1:
        raise SystemExit(f"a warm create sent {len(sent)} queries (answer {response.status_code}), not one")
    return sent[0]


def _by_id(cursor, rollup: str) -> tuple[str, list[list[int]], int]:
    """Prepare the UPDATE-by-id experiment for the rows of the captured rollup statement; return its EXECUTE's
    counts arguments, the rows' ids by slot (in the statement's order) and the leaf row's place among them."""
    from issues.rollups import COUNTS, KEY_COLUMNS, WRITE_ROW_COLUMNS

    arrays = re.findall(r"('\{.*?\}'::\w+\[\])", rollup)
    column = dict(zip(WRITE_ROW_COLUMNS, arrays, strict=False))
    keys, names = ", ".join(column[c] for c in KEY_COLUMNS), ", ".join(KEY_COLUMNS)
    cursor.execute(
        f"SELECT r.slot, array_agg(r.id ORDER BY v.n) FROM unnest({keys}) WITH ORDINALITY AS v({names}, n)"
        f" JOIN issues_statsrollup r USING ({names}) GROUP BY r.slot ORDER BY r.slot"
    )
    ids = [row_ids for _, row_ids in cursor.fetchall()]
    counts = ", ".join(column[c] for c in COUNTS)
    added = ", ".join(f"{c} = t.{c} + v.{c}" for c in COUNTS)
    placeholders = ", ".join(f"${i + 2}" for i in range(len(COUNTS)))
    cursor.execute(
        f"PREPARE replay_by_id(bigint[], {', '.join(['int[]'] * len(COUNTS))}) AS UPDATE issues_statsrollup t SET"
        f" {added} FROM unnest($1, {placeholders}) AS v(id, {', '.join(COUNTS)}) WHERE t.id = v.id"
    )
    cursor.execute(
        "PREPARE replay_entry(uuid, bigint) AS INSERT INTO issues_statsentry (issue_id, rollup_id, flags, ratings,"
        " satisfied, kind, resolved_on, due_on, overdue_on) VALUES ($1, $2, 3, 0, 0, '', '0001-01-01', '0001-01-01',"
        " '0001-01-01')"
    )
    levels = column["level"].split("'")[1].strip("{}").replace('"', "").split(",")
    return counts, ids, levels.index("leaf")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1000, help="replays of each variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.get(username="community1")
    client = Client(headers={"authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"})
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        query = _captured_query(client)
    number, rollup, submit = query.split("; EXECUTE ")[0], *("EXECUTE " + p for p in query.split("; EXECUTE ")[1:])
    issue = UUID.search(submit).group(1)
    cursor = connection.cursor()
    counts, ids, leaf = _by_id(cursor, rollup)

    def by_id(new: str) -> str:
        slot = ids[int(new[:2], 16) % len(ids)]  # a slot as the transaction id would pick one
        update = f"EXECUTE replay_by_id('{{{','.join(map(str, slot))}}}', {counts})"
        return f"BEGIN; {update}; EXECUTE replay_entry('{new}', {slot[leaf]}); COMMIT"

    variants = {
        "whole": lambda new: f"{number}; {rollup}; {submit.replace(issue, new)}",
        "no_rollup": lambda new: f"{number}; {submit.replace(issue, new)}",
        "rollup": lambda new: f"BEGIN; {rollup.replace(issue, new)}; COMMIT",
        "rollup_by_id": by_id,
    }
    cursor.execute("SELECT pg_backend_pid()")
    schedstat = Path(f"/proc/{cursor.fetchone()[0]}/schedstat")
    print(f"{len(ids)} slots of {len(ids[0])} rollup rows; backend CPU and wall time per replay")
    for round_number in range(1, args.rounds + 1):
        for name, make in variants.items():
            cpu = int(schedstat.read_text().split()[0])
            start = time.perf_counter()
            for _ in range(args.n):
                cursor.execute(make(str(uuid.uuid4())))
            wall = (time.perf_counter() - start) * 1000 / args.n
            cpu = (int(schedstat.read_text().split()[0]) - cpu) / 1e6 / args.n
            print(f"round {round_number} {name:13s} backend {cpu:.3f} ms, wall {wall:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
