"""A throwaway PostgreSQL primary and its streaming replica, made with initdb and pg_basebackup on this machine.

The read-replica benchmark and test need a real standby, and the machine's own cluster must not be changed for it
(no pg_hba edit, no replication slot left behind, no base backup of every database it holds): this pair lives in a
temporary directory, on free ports, runs as the `postgres` user when started by root, and is gone after `stop()`.
The database is copied in with pg_dump after the base backup, so the replica receives it by streaming, as a
production replica receives every write.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _pg_bin() -> Path:
    """Return the directory of the server's programs (Debian keeps initdb and pg_ctl out of PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # a symlink in /usr/local/bin may stand for initdb alone
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) are not installed")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReplicaPair:
    """A primary and a hot standby streaming from it; `url(name, replica=…)` names a database on either."""

    def __init__(self):
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="griddesk-replica-"))
        self.primary_port, self.replica_port = _free_port(), _free_port()
        self.started: list[Path] = []

    def url(self, database: str, *, replica: bool = False) -> str:
        return f"postgres://postgres@127.0.0.1:{self.replica_port if replica else self.primary_port}/{database}"

    def _run(self, *args, **kwargs) -> subprocess.CompletedProcess:
        """Run a server program as `postgres` (initdb and the server refuse root)."""
        command = [str(self.bin / args[0]), *map(str, args[1:])]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return result

    def _start(self, data: Path, port: int) -> None:
        options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", data, "-o", options, "-l", data.parent / f"{data.name}.log", "-w", "start")
        self.started.append(data)

    def start(self) -> "ReplicaPair":
        """initdb a primary (trust on 127.0.0.1, replication allowed: initdb's defaults), start it, base-back it up
        into a standby (-R writes its primary_conninfo) and start that."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        primary, replica = self.root / "primary", self.root / "replica"
        self._run("initdb", "-D", primary, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self._start(primary, self.primary_port)
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", self.primary_port, "-U", "postgres", "-D", replica,
            "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        self._start(replica, self.replica_port)
        return self

    def copy_database(self, source_url: str, name: str) -> None:
        """Create `name` on the primary as a copy of `source_url` (pg_dump | psql): the standby receives it by WAL."""
        self._psql(self.primary_port, "postgres", f'CREATE DATABASE "{name}"')
        dump = subprocess.Popen(
            [str(self.bin / "pg_dump"), "--no-owner", "--no-privileges", source_url], stdout=subprocess.PIPE
        )
        subprocess.run(
            [str(self.bin / "psql"), "-q", "-v", "ON_ERROR_STOP=1", self.url(name)],
            stdin=dump.stdout, check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
        dump.stdout.close()
        if dump.wait() != 0:
            raise RuntimeError(f"pg_dump of {source_url} failed")

    def _psql(self, port: int, database: str, sql: str) -> str:
        url = f"postgres://postgres@127.0.0.1:{port}/{database}"
        result = subprocess.run(
            [str(self.bin / "psql"), "-Atq", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
            check=True, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        return result.stdout.strip()

    def primary_lsn(self) -> str:
        return self._psql(self.primary_port, "postgres", "SELECT pg_current_wal_lsn()")

    def replayed(self, lsn: str, *, timeout: float = 600) -> float:
        """Wait until the standby has replayed the primary's WAL up to `lsn`; return how many seconds that took."""
        started = time.monotonic()
        while self._psql(self.replica_port, "postgres", f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") != "t":
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the replica did not replay {lsn} within {timeout:.0f} s")
            time.sleep(0.02)
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop both servers (the standby first) and remove everything they wrote."""
        for data in reversed(self.started):
            try:
                self._run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
            except RuntimeError:
                pass  # already down: nothing to stop
        self.started.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "ReplicaPair":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
