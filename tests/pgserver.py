"""A throwaway PostgreSQL server for the test session, from the installed binaries.

initdb into a fresh temp directory, start on a free port on 127.0.0.1 with
password authentication (scram), hand out one database per test, stop and
delete everything at the end. Durability is switched off (fsync,
synchronous_commit): the data lives as long as the session.

PostgreSQL refuses to run as root; as root the server runs as the `postgres`
user (the Debian package creates it) or else `nobody`, via subprocess's
user= (no runuser/su needed). Binaries: $PG_BINDIR, else
/usr/lib/postgresql/<newest>/bin, else initdb on PATH. Without them the
fixture fails loudly: scripts/test.sh installs the Debian `postgresql` package.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg.types.string import TextLoader

SUPERUSER = "canvas_test"


class PgServerError(RuntimeError):
    pass


def find_bindir() -> Path:
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    by_version = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                        else 0, reverse=True)
    candidates += [Path(p) for p in by_version]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    raise PgServerError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $PG_BINDIR, "
        "/usr/lib/postgresql/*/bin or PATH. Install them: apt-get install -y postgresql "
        "(scripts/test.sh does this), or run only DuckDB tests with -k 'not postgres'"
    )


def _run_as() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None when we are not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PgServerError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.account = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="canvas-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.user = SUPERUSER
        self.password = "pw-" + secrets.token_hex(12)
        self.port = 0
        self._admin: psycopg.Connection | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "PgServer":
        if self.account is not None:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._own(pwfile)
        self._pg("initdb", "-D", self.data, "-U", self.user, f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        pwfile.unlink()
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            try:
                self._pg("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                         "-o", self._server_options(), "start")
                return self
            except PgServerError:
                if "could not bind" not in self._log_tail():
                    raise
        raise PgServerError(f"could not start PostgreSQL:\n{self._log_tail()}")

    def _server_options(self) -> str:
        settings = {
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": self.root,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": 100,
        }
        return " ".join(f"-c {k}={v}" for k, v in settings.items())

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        if self.port:
            try:
                self._pg("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            except PgServerError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg(self, program: str, *args) -> None:
        """Run a server binary, as the unprivileged account when we are root."""
        kwargs = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid,
                      "extra_groups": []}
        proc = subprocess.run([str(self.bindir / program), *map(str, args)], cwd=self.root,
                              capture_output=True, text=True, **kwargs)
        if proc.returncode != 0:
            raise PgServerError(
                f"{program} failed ({proc.returncode}): {proc.stderr.strip()}\n{self._log_tail()}"
            )

    def _own(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-20:])
        except OSError:
            return ""

    # -- databases -----------------------------------------------------------
    def connect(self, dbname: str = "postgres", **kwargs) -> psycopg.Connection:
        """An autocommit connection; json/jsonb come back as text, as from DuckDB."""
        conn = psycopg.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, dbname=dbname, autocommit=True, **kwargs)
        for type_name in ("json", "jsonb"):
            conn.adapters.register_loader(type_name, TextLoader)
        return conn

    @property
    def admin(self) -> psycopg.Connection:
        if self._admin is None or self._admin.closed:
            self._admin = self.connect()
        return self._admin

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin.execute(f'create database "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin.execute(f'drop database if exists "{name}" with (force)')

    def environ(self, dbname: str) -> dict[str, str]:
        """The variables profiles.example.yml's postgres target reads."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": dbname,
        }
