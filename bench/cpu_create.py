"""CPU per request of the API create over HTTP, from /proc, for a machine too busy for wall-clock ratios (by hand).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a copy of griddesk_bench> .venv/bin/python bench/cpu_create.py \
        [--root /path/to/a/checkout] [--seconds 10] [--rounds 3] [create reference bare]

Starts bench/bench_api.py's gunicorn (2 sync workers, the bench settings) on the code of `--root` (default: this
checkout), warms it, then for each round and each endpoint runs wrk for `--seconds` and reads, before and after, the
CPU time of the two workers and of the PostgreSQL backends serving that database (pg_stat_activity, this script's own
excluded): their CPU divided by the requests wrk counted. Other load inflates it less than it does wall-clock ratios,
but not nothing: a transaction holding an id anywhere in the cluster keeps every version of the rollup rows a create
updates, and the backend's CPU per create grows run by run (docs/scaling.md, "A create's CPU"). Left out: the WAL
writer, the checkpointer and autovacuum (shared with the rest of the machine); `--gin` then flushes the GIN pending
lists of issues_issue and reports that backend CPU per create as well (the cost a create defers to the next flush).
It writes issues into that database: never point it at one you keep.
"""

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 4  # as bench/bench_api.py
BODY = '{"description": "楼道灯不亮了，请尽快维修", "location": {"lat": 25.83, "lng": 114.96}}'
REFERENCE_BODY = '{"description": "楼道灯不亮了，请尽快维修"}'


def _cpu(pid: int) -> float:
    """Return the seconds `pid` has run on a CPU (user and system), 0 when it is gone: /proc/<pid>/schedstat counts
    nanoseconds, where /proc/<pid>/stat's utime and stime count ticks of 10 ms."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except FileNotFoundError:
        return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def _backends(cursor, database: str) -> list[int]:
    cursor.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
        " AND pid <> pg_backend_pid()",
        [database],
    )
    return [pid for (pid,) in cursor.fetchall()]


def _wrk(url: str, *, seconds: float, script: Path | None, token: str | None) -> tuple[int, int]:
    """Return (requests, non-2xx) of wrk on `url` for `seconds`."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "20s"]
    if token:
        command += ["-H", f"Authorization: Token {token}"]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return requests, int(bad.group(1)) if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoints", nargs="*", default=["create"], choices=["create", "reference", "bare"])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code gunicorn serves")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gin", action="store_true", help="also flush the GIN pending lists after each create run")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from bench import bench_api

    url = os.environ["DATABASE_URL"]
    database = url.rsplit("/", 1)[1].split("?")[0]
    token = Token.objects.get_or_create(
        user__username="community1", defaults={"user_id": bench_api._user_id("community1")}
    )
    token = token[0].key
    tmp = Path(tempfile.mkdtemp(prefix="cpu-create-"))
    scripts = {
        "create": bench_api.CREATE_LUA.format(token=token, body=BODY),
        "reference": bench_api.CREATE_LUA.format(token=token, body=REFERENCE_BODY),
    }
    for name, text in scripts.items():
        (tmp / f"{name}.lua").write_text(text)
    ctx = SimpleNamespace(database_url=url, tmp_dir=tmp, log=print)
    bench_api.ROOT = args.root  # gunicorn --chdir: the code measured
    port = bench_api._free_port()
    base = f"http://127.0.0.1:{port}"
    paths = {"create": "/api/v1/issues/", "reference": "/bench/ref/issues/", "bare": "/bench/bare/"}
    process = bench_api._start_gunicorn(ctx, port, secret_key=secrets.token_urlsafe(60))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in args.endpoints}
    gin: list[float] = []
    try:
        workers = _children(process.pid)
        if len(workers) != bench_api.WORKERS:
            raise RuntimeError(f"expected {bench_api.WORKERS} workers, found {workers}")
        with connection.cursor() as cursor:

            def run(name: str, seconds: float) -> tuple[int, float, float]:
                script = tmp / f"{name}.lua" if name in scripts else None
                before_backends = {pid: _cpu(pid) for pid in _backends(cursor, database)}
                before_workers = sum(_cpu(pid) for pid in workers)
                requests, bad = _wrk(base + paths[name], seconds=seconds, script=script, token=token)
                worker_s = sum(_cpu(pid) for pid in workers) - before_workers
                backend_s = sum(_cpu(pid) - before_backends.get(pid, 0.0) for pid in _backends(cursor, database))
                if bad:
                    raise RuntimeError(f"{name}: {bad} non-2xx answers")
                return requests, worker_s, backend_s

            for name in args.endpoints:  # warm: connections, caches, prepared statements
                run(name, 3)
            for round_number in range(args.rounds):
                for name in args.endpoints:
                    requests, worker_s, backend_s = run(name, args.seconds)
                    load = os.getloadavg()[0]
                    worker_ms, backend_ms = worker_s * 1000 / requests, backend_s * 1000 / requests
                    results[name].append((worker_ms, backend_ms))
                    print(
                        f"round {round_number + 1} {name}: {requests} requests, worker {worker_ms:.3f} ms,"
                        f" backend {backend_ms:.3f} ms per request (load {load:.1f})",
                        flush=True,
                    )
                    if name == "create" and args.gin:
                        mine = _cpu(connection.connection.info.backend_pid)
                        cursor.execute(
                            "SELECT sum(gin_clean_pending_list(indexrelid::regclass)) FROM pg_index i"
                            " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
                            " WHERE a.amname = 'gin' AND i.indrelid = 'issues_issue'::regclass"
                        )
                        cursor.fetchone()
                        time.sleep(0.05)
                        gin.append((_cpu(connection.connection.info.backend_pid) - mine) * 1000 / requests)
                        print(f"  GIN pending lists flushed: {gin[-1]:.3f} ms per create", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    for name, rows in results.items():
        worker = statistics.median(w for w, _ in rows)
        backend = statistics.median(b for _, b in rows)
        print(
            f"{name}: median worker {worker:.3f} ms + backend {backend:.3f} ms = {worker + backend:.3f} ms per request"
        )
    if gin:
        print(f"GIN flush: median {statistics.median(gin):.3f} ms per create")


if __name__ == "__main__":
    main()
