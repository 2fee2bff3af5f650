"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory, `pg_ctl
start` on a free port of 127.0.0.1 (its unix socket in that directory), one database; stopped
and removed at the end of the session.

initdb refuses to run as root (CI runs the tests as root): the server then runs as the
`postgres` system user of the Debian package, else as `nobody`, through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid


def find_binaries() -> str | None:
    """The directory holding initdb and pg_ctl (PATH first, then Debian's versioned dirs)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(found))
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One running server; `url(schema)` is a URL whose tables land in their own schema.
    Not `durable`: fsync is off (the tests kill processes, never the machine)."""

    def __init__(self, binaries: str, durable: bool = False) -> None:
        self.binaries = binaries
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = next((name for name in ("postgres", "nobody") if _user(name)), None)
            if self.user is None:
                raise RuntimeError("no unprivileged user to run PostgreSQL as")
        self.dir = tempfile.mkdtemp(prefix="zixir-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.started = False
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        try:
            self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-instructions", "--no-sync")
            self.options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                            f"-c unix_socket_directories={self.dir} -c max_connections=60 "
                            f"-c shared_buffers=16MB")
            if not durable:  # commits still wait for the WAL write, not for the disk
                self.options += " -c fsync=off"
            self.start()
            self.execute("postgres", "CREATE DATABASE zixir")
        except BaseException:
            self.stop()
            raise

    def start(self) -> None:
        self._run("pg_ctl", "start", "-D", self.data, "-w", "-t", "60",
                  "-l", os.path.join(self.dir, "log"), "-o", self.options)
        self.started = True

    def halt(self) -> None:
        """Stop the server (every connection is cut); `start()` brings it back."""
        self._run("pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w")
        self.started = False

    def _run(self, tool: str, *args: str) -> None:
        argv = [os.path.join(self.binaries, tool), *args]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                cwd=self.dir)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stderr or result.stdout}")

    def base_url(self, database: str = "zixir") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, database: str, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.base_url(database), autocommit=True) as conn:
            conn.execute(statement)

    def url(self, schema: str | None = None) -> str:
        """A URL whose tables live in a fresh schema (tests do not see each other's keys)."""
        schema = schema or "t_" + uuid.uuid4().hex[:12]
        self.execute("zixir", f"CREATE SCHEMA IF NOT EXISTS {schema}")
        return f"{self.base_url()}?options=-csearch_path%3D{schema}"

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "stop", "-D", self.data, "-m", "immediate", "-w")
                self.started = False
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
