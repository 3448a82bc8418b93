"""Operations on the whole database: backups, restores and the move from SQLite to
PostgreSQL. Plain functions that run inside an app context; `aeplan.cli` wires them to
`flask --app app backup | restore | move-to-postgres`.

SQLite is copied through its online backup API, never as a file: a file copy of a live
WAL database can miss committed pages or catch half-written ones. PostgreSQL is copied
with pg_dump / pg_restore, which take the connection from the app's DATABASE_URL.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import JSON, Integer, LargeBinary, create_engine, func, inspect, select, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from aeplan.extensions import db
from aeplan.transactions import SQLITE_BEGIN

Echo = Callable[[str], None]
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
SQLITE_BUSY_SECONDS = 30
# Tables the migrations fill with a starting row (0002 seeds data_version); a move
# replaces those rows with the source's, and they do not make a target "not empty".
MIGRATION_SEEDED = frozenset({"data_version"})


class OpsError(Exception):
    """A backup, restore or move that cannot go ahead; the message says why and what to do."""


def _quiet(_line: str) -> None:
    pass


# --- the database in use and its migration revision ------------------------------------------

def dialect() -> str:
    """'sqlite' or 'postgresql': the kind of database the app is configured with."""
    name = db.engine.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise OpsError(f"Backups and restores support SQLite and PostgreSQL, not {name}.")
    return name


def sqlite_path() -> Path:
    """The file of the configured SQLite database (Flask-SQLAlchemy makes it absolute)."""
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise OpsError(f"The SQLite database {db.engine.url} is not a plain file; "
                       "nothing to back up or restore.")
    return Path(path)


def migration_heads() -> set[str]:
    """The newest migration revision(s) this code knows."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(_alembic_config()).get_heads())


def is_known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(_alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _alembic_config():
    return current_app.extensions["migrate"].migrate.get_config()


def revision_of(connection: Connection) -> str | None:
    """The migration revision the data on `connection` is at; None without alembic_version."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def revision_advice(revision: str | None) -> str:
    """One line on whether data at `revision` suits this code, and what to run if not."""
    heads = migration_heads()
    if revision is None:
        return ("The database has no migration revision: run `flask --app app db upgrade` "
                "before starting the app.")
    if revision in heads:
        return f"The data is at migration revision {revision}, this code's latest."
    if is_known_revision(revision):
        return (f"The data is at migration revision {revision}; this code expects "
                f"{', '.join(sorted(heads))}. Run `flask --app app db upgrade` before "
                "starting the app.")
    return (f"The data is at migration revision {revision}, which this code does not know: "
            "it comes from a newer version of AE Plan. Run that version.")


# --- backup ------------------------------------------------------------------------------------

def backup(path: Path, *, force: bool = False, echo: Echo = _quiet) -> Path:
    """Write a consistent backup of the configured database to `path` (or, when `path` is a
    directory, to a timestamped file in it) and return the file written. Safe while the
    app serves requests. Refuses to overwrite a file unless `force`."""
    kind = dialect()
    path = Path(path)
    if path.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = path / f"aeplan-{stamp}.{'db' if kind == 'sqlite' else 'dump'}"
    if path.exists() and not force:
        raise OpsError(f"{path} already exists; pass --force to overwrite it.")
    if not path.parent.is_dir():
        raise OpsError(f"The directory {path.parent} does not exist.")
    started = time.monotonic()
    try:
        if kind == "sqlite":
            source = sqlite_path()
            if not source.is_file():
                raise OpsError(f"There is no database at {source}; nothing to back up.")
            echo(f"Backing up the SQLite database {source} through its online backup API ...")
            tables, rows = sqlite_backup(source, path)
            echo(f"Checked the copy: integrity ok, {rows} rows in {tables} tables.")
        else:
            echo(f"Backing up the PostgreSQL database {_safe(db.engine.url)} with pg_dump ...")
            pg_dump(db.engine.url, path)
            with db.engine.connect() as connection:
                echo(f"The data is at migration revision {revision_of(connection)}.")
    except OSError as error:
        raise OpsError(f"Cannot write the backup: {error}") from error
    echo(f"Wrote {path} ({_size(path.stat().st_size)}) in {time.monotonic() - started:.1f} s.")
    return path


def sqlite_backup(source: Path, dest: Path) -> tuple[int, int]:
    """Copy the SQLite database `source` to `dest` through the online backup API and check
    the copy; return its (tables, rows). The copy is made in one step, inside one read
    transaction: in WAL mode writers go on meanwhile, and the copy is the database as it
    was when the step began. `dest` appears only once complete, readable by its owner only."""
    partial = _partial_path(dest)
    try:
        with closing(sqlite3.connect(source, timeout=SQLITE_BUSY_SECONDS,
                                      isolation_level=None)) as src, \
                closing(sqlite3.connect(partial, isolation_level=None)) as copy:
            src.backup(copy)
            # One self-contained file, whatever the live database's journal mode.
            copy.execute("PRAGMA journal_mode=DELETE")
            tables, rows = _check_sqlite(copy)
        _fsync(partial)
        os.replace(partial, dest)
    except sqlite3.Error as error:
        raise OpsError(f"The SQLite backup failed: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    return tables, rows


def pg_dump(url: URL, dest: Path) -> None:
    """pg_dump in custom format (-Fc) to `dest`; the password goes through PGPASSWORD."""
    conninfo, env, schema = libpq_connection(url)
    command = [_tool("pg_dump"), "--format=custom", "--no-password", f"--dbname={conninfo}"]
    if schema:
        command.append(f"--schema={schema}")
    partial = _partial_path(dest)
    try:
        _run([*command, f"--file={partial}"], env)
        _fsync(partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


# --- restore -----------------------------------------------------------------------------------

def restore(path: Path, *, confirm: Callable[[str], object], echo: Echo = _quiet) -> str | None:
    """Replace the configured database's data with the backup at `path`; return the
    migration revision of the restored data.

    `confirm(question)` is asked once the backup has been checked and before anything
    changes; nothing is restored unless it returns true.
    """
    kind = dialect()
    path = Path(path)
    if not path.is_file():
        raise OpsError(f"There is no backup at {path}.")
    found = backup_format(path)
    expected = "sqlite" if kind == "sqlite" else "pg_dump"
    if found != expected:
        what = {"sqlite": "an SQLite backup", "pg_dump": "a pg_dump custom-format archive",
                None: "neither an SQLite backup nor a pg_dump archive"}[found]
        raise OpsError(f"{path} is {what}, but the configured database is {kind}. "
                       "To move from SQLite to PostgreSQL use `flask --app app move-to-postgres`.")
    if kind == "sqlite":
        return _restore_sqlite(path, confirm, echo)
    return _restore_postgres(path, confirm, echo)


def backup_format(path: Path) -> str | None:
    """'sqlite', 'pg_dump' (custom format) or None, from the file's first bytes."""
    with open(path, "rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "pg_dump"
    return None


def _restore_sqlite(path: Path, confirm, echo: Echo) -> str | None:
    target = sqlite_path()
    if target.exists() and target.samefile(path):
        raise OpsError(f"{path} is the live database itself, not a backup of it.")
    with closing(sqlite3.connect(path, isolation_level=None)) as backup_db:
        try:
            tables, rows = _check_sqlite(backup_db)
            revision = backup_db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error as error:
            raise OpsError(f"{path} is not an AE Plan database: {error}") from error
    revision = revision[0] if revision else None
    if revision is not None and not is_known_revision(revision):
        raise OpsError(f"{path} is at migration revision {revision}, which this code does not "
                       "know: it was made by a newer version of AE Plan. Restore it with that "
                       "version.")
    question = (f"Replace all data in {target} with {path} ({rows} rows in {tables} tables, "
                f"revision {revision})? Stop the app first: its workers would see the data "
                "change under them.")
    if not confirm(question):
        raise OpsError("Nothing restored.")
    db.engine.dispose()
    if target.exists() and target.stat().st_size:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        keep = target.with_name(f"{target.name}.before-restore-{stamp}")
        sqlite_backup(target, keep)
        echo(f"Kept the data being replaced in {keep}.")
    echo(f"Restoring {path} into {target} through the online backup API ...")
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as src, \
                closing(sqlite3.connect(target, timeout=SQLITE_BUSY_SECONDS,
                                         isolation_level=None)) as live:
            src.backup(live)
    except sqlite3.Error as error:
        raise OpsError(f"The restore failed, the database is unchanged: {error}") from error
    with db.engine.connect() as connection:
        return revision_of(connection)


def _restore_postgres(path: Path, confirm, echo: Echo) -> str | None:
    conninfo, env, _schema = libpq_connection(db.engine.url)
    command = [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
               "--single-transaction", "--exit-on-error", "--no-password",
               f"--dbname={conninfo}", str(path)]
    question = (f"Replace the AE Plan tables in {_safe(db.engine.url)} with {path}? "
                "Stop the app first: its workers would see the data change under them.")
    if not confirm(question):
        raise OpsError("Nothing restored.")
    db.engine.dispose()
    echo(f"Restoring {path} into {_safe(db.engine.url)} with pg_restore (one transaction) ...")
    _run(command, env)
    with db.engine.connect() as connection:
        return revision_of(connection)


# --- SQLite to PostgreSQL ----------------------------------------------------------------------

def move_to_postgres(target_url: str, *, batch_size: int = 2000,
                     echo: Echo = _quiet) -> dict[str, int]:
    """Copy every row of the configured SQLite database into the empty PostgreSQL database
    at `target_url` and prove the copy complete; return the rows per table.

    The target gets its schema from the migrations, then the rows table by table in
    foreign-key order inside one transaction, each sequence set past the highest id, and
    the row count and the contents of every table compared with the source before the
    commit. Any difference rolls the copy back. The source is read under a write lock, so
    nothing written while the move runs can be left behind unnoticed: such writes wait,
    then fail. The SQLite database itself is never changed.
    """
    if dialect() != "sqlite":
        raise OpsError("The configured database is already PostgreSQL; to copy it to another "
                       "server use `flask --app app backup` and `restore`.")
    url = postgres_url(target_url)
    source = db.engine
    tables = db.metadata.sorted_tables
    target = create_engine(url)
    try:
        with source.connect() as connection:
            revision = revision_of(connection)
            _check_source_schema(connection)
        if revision not in migration_heads():
            raise OpsError(f"The SQLite database is at migration revision {revision}; run "
                           "`flask --app app db upgrade` before moving it.")
        echo(f"Checking that {_safe(url)} is empty ...")
        _check_target_empty(target)
        echo("Creating the tables on the target (migrations) ...")
        _migrate(url)
        counts = _copy(source, target, tables, batch_size, echo)
        with target.connect() as connection:
            after = {t.name: _count(connection, t) for t in tables}
            target_revision = revision_of(connection)
    except (SQLAlchemyError, target.dialect.loaded_dbapi.Error) as error:
        hint = (" The SQLite database is busy: stop the app, then move."
                if "database is locked" in str(error) else "")
        raise OpsError(f"The move failed and copied no rows: {error}{hint}") from error
    finally:
        target.dispose()
    if after != counts or target_revision != revision:
        raise OpsError(f"After the commit the target differs from the source: {after} "
                       f"(revision {target_revision}) against {counts} (revision {revision}).")
    echo(f"Moved {sum(counts.values())} rows in {len(counts)} tables; every table's row "
         "count and contents match the SQLite database.")
    return counts


def postgres_url(url: str) -> URL:
    """A SQLAlchemy URL for psycopg 3 from `postgresql://...` / `postgres://...`."""
    try:
        parsed = make_url(url)
    except Exception as error:  # noqa: BLE001 - any unparsable string is a user error here
        raise OpsError(f"Not a database URL: {error}") from error
    if parsed.drivername.startswith("postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise OpsError(f"The target must be a PostgreSQL URL (postgresql://user@host/db), "
                   f"not {parsed.drivername}.")


def _check_source_schema(connection: Connection) -> None:
    """Every table and column of the source must have a place in the target."""
    known = {t.name: t for t in db.metadata.sorted_tables}
    inspector = inspect(connection)
    for name in inspector.get_table_names():
        if name == "alembic_version" or name.startswith("sqlite_"):
            continue
        if name not in known:
            raise OpsError(f"The SQLite database has a table {name!r} that AE Plan does not "
                           "know; its rows would be lost. Remove it or move it by hand.")
        extra = {c["name"] for c in inspector.get_columns(name)} - set(known[name].columns.keys())
        if extra:
            raise OpsError(f"The SQLite table {name!r} has columns AE Plan does not know "
                           f"({', '.join(sorted(extra))}); their values would be lost.")


def _check_target_empty(target: Engine) -> None:
    with target.connect() as connection:
        existing = set(inspect(connection).get_table_names())
        filled = [f"{t.name} ({n} rows)" for t in db.metadata.sorted_tables
                  if t.name in existing and t.name not in MIGRATION_SEEDED
                  and (n := _count(connection, t))]
    if filled:
        raise OpsError("The target database already has data: " + ", ".join(filled)
                       + ". Move into an empty database.")


def _migrate(url: URL) -> None:
    """Run the migrations against `url`, through a second app whose database it is."""
    from alembic import command
    from alembic.util import CommandError

    from aeplan import create_app

    app: Flask = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                             "SECRET_KEY": current_app.config["SECRET_KEY"] or "move"})
    with app.app_context():
        try:
            command.upgrade(_alembic_config(), "head")
        except CommandError as error:
            raise OpsError(f"Migrating the target failed: {error}") from error
        finally:
            db.engine.dispose()


def _copy(source: Engine, target: Engine, tables, batch_size: int,
          echo: Echo) -> dict[str, int]:
    counts: dict[str, int] = {}
    # IMMEDIATE: a write lock for the whole copy, so the snapshot is also the final state.
    with source.connect().execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}) as src, \
            src.begin(), target.connect() as dst, dst.begin():
        for table in reversed(tables):
            if table.name in MIGRATION_SEEDED:
                dst.execute(table.delete())
        for table in tables:
            started = time.monotonic()
            counts[table.name], digest = _copy_table(src, dst, table, batch_size, echo)
            echo(f"  {table.name}: {counts[table.name]} rows in "
                 f"{time.monotonic() - started:.1f} s")
            if (_count(dst, table), _digest(dst, table)) != (counts[table.name], digest):
                raise OpsError(f"The copy of {table.name} differs from the source "
                               f"({_differences(src, dst, table)}); nothing was committed.")
        _reset_sequences(dst, tables)
    return counts


def _copy_table(src: Connection, dst: Connection, table, batch_size: int,
                echo: Echo) -> tuple[int, int]:
    columns = list(table.columns)
    query = select(*columns).order_by(*(table.primary_key.columns or columns))
    row_hash = _row_hasher(table)
    # COPY, about ten times faster than INSERTs; each value goes through its column type's
    # bind processing first (UTCDateTime, JSON), as an INSERT would send it.
    quote = dst.dialect.identifier_preparer.quote
    copy_sql = (f"COPY {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
                "FROM STDIN")
    binds = [c.type.dialect_impl(dst.dialect).bind_processor(dst.dialect) for c in columns]
    driver = dst.connection.driver_connection
    rows, digest = 0, 0
    result = src.execute(query, execution_options={"yield_per": batch_size})
    for batch in result.partitions():
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in batch:
                copy.write_row([v if bind is None or v is None else bind(v)
                                for bind, v in zip(binds, row, strict=True)])
        digest += sum(map(row_hash, batch))
        rows += len(batch)
        if rows % (batch_size * 25) == 0:
            echo(f"  {table.name}: {rows} rows so far ...")
    return rows, digest % 2**128


def _reset_sequences(connection: Connection, tables) -> None:
    """Point each id sequence past the highest copied id, so that new rows get fresh ids."""
    quote = connection.dialect.identifier_preparer.quote
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                      {"t": quote(table.name), "c": keys[0].name}).scalar()
        if sequence:
            connection.execute(text(
                f"SELECT setval(:s, COALESCE((SELECT MAX({quote(keys[0].name)}) "
                f"FROM {quote(table.name)}), 0) + 1, false)"), {"s": sequence})


def _count(connection: Connection, table) -> int:
    return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _digest(connection: Connection, table) -> int:
    """An order-free fingerprint of the table's contents as the app reads them."""
    result = connection.execute(select(*table.columns), execution_options={"yield_per": 5000})
    return sum(map(_row_hasher(table), result)) % 2**128


def _row_hasher(table) -> Callable[[Iterable], int]:
    """A 128-bit hash of a row of `table` as the app reads it, equal on both databases:
    datetimes come back aware in UTC from either, JSON is compared with sorted keys and
    binary as bytes."""
    convert = {i: _json_text if isinstance(c.type, JSON) else bytes
               for i, c in enumerate(table.columns) if isinstance(c.type, JSON | LargeBinary)}

    def row_hash(row: Iterable) -> int:
        values = tuple(row) if not convert else tuple(
            convert[i](v) if i in convert and v is not None else v for i, v in enumerate(row))
        return int.from_bytes(hashlib.blake2b(repr(values).encode(), digest_size=16).digest(),
                              "big")
    return row_hash


def _json_text(value) -> str:
    return json.dumps(value, sort_keys=True)


def _differences(src: Connection, dst: Connection, table) -> str:
    """A few primary keys whose rows differ between source and target, for the error."""
    keys = [table.columns.keys().index(c.key) for c in table.primary_key.columns]
    row_hash = _row_hasher(table)

    def rows(connection):
        return {tuple(row[k] for k in keys): row_hash(row)
                for row in connection.execute(select(*table.columns))}

    before, after = rows(src), rows(dst)
    odd = sorted((set(before.items()) ^ set(after.items())), key=repr)
    keys = sorted({key for key, _ in odd}, key=repr)[:5]
    return f"{len(before)} rows against {len(after)}; first differing keys: {keys}"


# --- PostgreSQL client tools -------------------------------------------------------------------

def libpq_connection(url: URL) -> tuple[str, dict[str, str], str | None]:
    """Translate a SQLAlchemy URL for the PostgreSQL client tools: a libpq keyword/value
    connection string without the password, the environment that carries the password
    (PGPASSWORD, so that it is never on a command line), and the schema named first in a
    `-c search_path=...` option, if any (pg_dump then dumps only that schema)."""
    url = make_url(url)
    params = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    for key, value in url.query.items():
        params[key] = ",".join(value) if isinstance(value, tuple) else value
    password = params.pop("password", None) or url.password
    conninfo = " ".join(f"{key}={_libpq_quote(str(value))}"
                        for key, value in params.items() if value not in (None, ""))
    env = {"PGPASSWORD": password} if password else {}
    match = re.search(r"(?:-c\s*|--)search_path=(\S+)", str(params.get("options") or ""))
    schema = match.group(1).split(",")[0].strip('"') if match else None
    return conninfo, env, schema or None


def _libpq_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise OpsError(f"{name} was not found on PATH. Install the PostgreSQL client tools "
                       "of the server's major version or newer (Debian/Ubuntu: "
                       "`apt-get install postgresql-client`).")
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    completed = subprocess.run(command, env={**os.environ, **env}, capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        tool = os.path.basename(command[0])
        details = (completed.stderr or completed.stdout).strip()[-2000:]
        raise OpsError(f"{tool} failed (exit {completed.returncode}): {details}")


# --- small helpers -----------------------------------------------------------------------------

def _check_sqlite(connection: sqlite3.Connection) -> tuple[int, int]:
    """Check an SQLite database's integrity; return its (tables, rows)."""
    problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise OpsError("The SQLite integrity check failed: " + "; ".join(problems[:5]))
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    rows = sum(connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
               for name in names)
    return len(names), rows


def _partial_path(dest: Path) -> Path:
    """A new file beside `dest`, readable by its owner only: backups hold password hashes
    and feed secrets."""
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return partial


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe(url: URL | str) -> str:
    """The URL as people write it, without its password."""
    url = make_url(url)
    if url.drivername == "postgresql+psycopg":
        url = url.set(drivername="postgresql")
    return url.render_as_string(hide_password=True)


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"  # pragma: no cover
