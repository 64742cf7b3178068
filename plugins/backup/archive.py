"""Backups of a node, and restoring one: the database, the configuration and the keys, in one
encrypted file.

A backup is *logical*: every row of every table, read in one consistent snapshot, whatever the
database (SQLite or PostgreSQL). So a backup restores onto either, and onto a newer ektp: the rows
go into the schema revision they were taken at, then the migrations bring them forward.

The node's keys are in the backup (without the data key the biometrics are unreadable), so the file
is encrypted with a passphrase: scrypt derives a key, and the content is cut into 1 MiB chunks, each
sealed with AES-256-GCM under a counter nonce; the header and a "last chunk" flag are authenticated
with every chunk, so a changed, reordered or cut-off file is refused, never half restored.

File layout: ``EKB1``, a 4-byte header length, the JSON header (format, when, site, schema revision,
scrypt parameters and salt), then the chunks, each a 4-byte length and its ciphertext. Inside,
gzip-compressed JSON lines: ``{"file": path, "data": base64}`` for the deployment's files,
``{"table": name, "columns": [...]}`` then ``{"row": [...]}`` lines for its rows, and a closing
``{"end": {"rows": {table: count}}}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ektp_core.config import DEPLOYMENT_FILE, Deployment, load_deployment
from ektp_core.errors import EktpError
from ektp_core.lifecycle import audit
from ektp_core.store import Store

MAGIC = b"EKB1"
FORMAT = 1
CHUNK = 1 << 20
#: scrypt cost for the backup key: a backup is made and opened rarely, so it can afford to be slow to guess.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: Rows read or written at a time.
BATCH = 500
#: Files of the deployment folder that belong in a backup (the database is exported as rows).
_FILES = (DEPLOYMENT_FILE, "profile.toml", "profile.previous.toml")
Progress = Callable[[str], object]


class BackupError(EktpError):
    """A backup cannot be made or restored: a wrong passphrase, a damaged file, a target in use."""


@attrs.frozen(kw_only=True)
class BackupReport:
    """What a backup holds or what a restore brought back."""

    site: str
    revision: str | None
    rows: dict[str, int]
    files: list[str]


# --------------------------------------------------------------------------------------------------
# The encrypted container
# --------------------------------------------------------------------------------------------------


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise BackupError("a backup needs a passphrase")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _nonce(counter: int) -> bytes:
    return b"\0\0\0\0" + counter.to_bytes(8, "big")


class _SealedWriter(io.RawIOBase):
    """Encrypts what is written to it, chunk by chunk, into ``out``."""

    def __init__(self, out: IO[bytes], key: bytes, header: bytes) -> None:
        self.out, self.aead, self.header = out, AESGCM(key), header
        self.buffer = bytearray()
        self.counter = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += bytes(data)
        while len(self.buffer) > CHUNK:  # keep one chunk back: the last one is sealed as "last"
            self._seal(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]
        return len(data)

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        sealed = self.aead.encrypt(_nonce(self.counter), chunk, self.header + (b"\1" if last else b"\0"))
        self.out.write(struct.pack(">I", len(sealed)) + sealed)
        self.counter += 1

    def finish(self) -> None:
        self._seal(bytes(self.buffer), last=True)
        self.buffer.clear()


def _open_chunks(source: IO[bytes], key: bytes, header: bytes) -> Iterator[bytes]:
    aead = AESGCM(key)
    counter = 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) < 4:
            raise BackupError("the backup file is cut short (its last part is missing)")
        size = struct.unpack(">I", size_bytes)[0]
        if size > CHUNK + 64:
            raise BackupError("the backup file is damaged (a part has an impossible length)")
        sealed = source.read(size)
        if len(sealed) < size:
            raise BackupError("the backup file is cut short")
        for last in (False, True):
            try:
                chunk = aead.decrypt(_nonce(counter), sealed, header + (b"\1" if last else b"\0"))
            except InvalidTag:
                continue
            break
        else:
            if counter == 0:
                raise BackupError("wrong passphrase, or the backup file is damaged")
            raise BackupError(f"the backup file is damaged (part {counter + 1} does not check)")
        counter += 1
        yield chunk
        if last:
            if source.read(1):
                raise BackupError("the backup file has data after its end")
            return


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self.pending))
        target[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def read_header(path: Path) -> dict[str, Any]:
    """The unencrypted header of a backup file (no passphrase needed)."""
    with open(path, "rb") as source:
        return _read_header(source)[0]


def _read_header(source: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    if source.read(4) != MAGIC:
        raise BackupError("not an ektp backup file")
    size_bytes = source.read(4)
    size = struct.unpack(">I", size_bytes)[0] if len(size_bytes) == 4 else -1
    if not 0 < size < 1 << 16:
        raise BackupError("the backup file's header is damaged")
    raw = source.read(size)
    try:
        header = json.loads(raw)
    except ValueError:
        raise BackupError("the backup file's header is damaged") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else "?"
        raise BackupError(f"a backup format this ektp does not read: {found}")
    return header, raw


# --------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------


def _tables(conn: sa.Connection) -> list[sa.Table]:
    meta = sa.MetaData()
    meta.reflect(conn)
    # Parents before children, so foreign keys hold during a restore.
    return [t for t in meta.sorted_tables if t.name != "alembic_version"]


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "b" in value:
            return base64.b64decode(value["b"])
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
    return value


def create_backup(
    deployment: Deployment, target: Path, passphrase: str, *, progress: Progress = lambda _m: None
) -> BackupReport:
    """Write a backup of ``deployment`` to ``target`` (written to a temporary name, then renamed)."""
    salt = os.urandom(16)
    key = _key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    store = deployment.open_store()
    try:
        revision = store.current_revision()
        header = json.dumps(
            {
                "format": FORMAT,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "site": deployment.site_code,
                "revision": revision,
                "kdf": {
                    "name": "scrypt",
                    "n": SCRYPT_N,
                    "r": SCRYPT_R,
                    "p": SCRYPT_P,
                    "salt": base64.b64encode(salt).decode("ascii"),
                },
            }
        ).encode()
        partial = target.with_name(target.name + ".partial")
        rows: dict[str, int] = {}
        files: list[str] = []
        with open(partial, "wb") as out:
            out.write(MAGIC + struct.pack(">I", len(header)) + header)
            sealed = _SealedWriter(out, key, header)
            with gzip.GzipFile(fileobj=sealed, mode="wb", compresslevel=6, mtime=0) as zipped:

                def line(obj: Any) -> None:
                    zipped.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

                for name in [
                    *_FILES,
                    *sorted(
                        p.relative_to(deployment.root).as_posix() for p in deployment.keys_dir.glob("*") if p.is_file()
                    ),
                ]:
                    path = deployment.root / name
                    if path.is_file():
                        line({"file": name, "data": base64.b64encode(path.read_bytes()).decode("ascii")})
                        files.append(name)
                # One read transaction: every table from the same snapshot, while the node keeps working.
                with store.read() as conn:
                    for table in _tables(conn):
                        columns = [c.name for c in table.columns]
                        line({"table": table.name, "columns": columns})
                        count = 0
                        order = list(table.primary_key.columns) or list(table.columns)
                        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
                            sa.select(table).order_by(*order)
                        )
                        for row in result:
                            line({"row": [_encode(v) for v in row]})
                            count += 1
                        rows[table.name] = count
                        progress(f"{table.name}: {count} row(s)")
                line({"end": {"rows": rows, "files": files}})
            sealed.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        store.dispose()
    return BackupReport(site=deployment.site_code, revision=revision, rows=rows, files=files)


def _lines(source: IO[bytes], passphrase: str) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    header, raw = _read_header(source)
    kdf = header.get("kdf", {})
    try:
        key = _key(passphrase, base64.b64decode(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
    except (KeyError, TypeError, ValueError):
        raise BackupError("the backup file's header is damaged") from None
    reader = io.BufferedReader(_ChunkReader(_open_chunks(source, key, raw)), buffer_size=CHUNK)

    def lines() -> Iterator[dict[str, Any]]:
        try:
            with gzip.GzipFile(fileobj=reader, mode="rb") as unzipped:
                for text in unzipped:
                    yield json.loads(text)
        except (OSError, EOFError, ValueError) as exc:
            if isinstance(exc, BackupError):
                raise
            raise BackupError(f"the backup file is damaged ({exc})") from None

    return header, lines()


def restore_backup(
    source_path: Path,
    directory: Path,
    passphrase: str,
    *,
    database_url: str | None = None,
    progress: Progress = lambda _m: None,
) -> BackupReport:
    """Restore a backup into a new deployment folder ``directory`` (and its database).

    The folder must not hold a deployment and the database must be empty. The rows go into the
    schema revision the backup was taken at; then the migrations bring the database to this ektp's
    newest revision. Nothing is left behind when the file does not check.
    """
    directory = Path(directory)
    if (directory / DEPLOYMENT_FILE).exists():
        raise BackupError(f"{directory} already holds a deployment; restore into a new folder")
    created = not directory.exists()
    written: list[Path] = []
    try:
        with open(source_path, "rb") as source:
            header, lines = _lines(source, passphrase)
            report = _restore_lines(header, lines, directory, written, database_url, progress)
    except BaseException:
        for path in reversed(written):
            path.unlink(missing_ok=True)
        if created and directory.exists():
            for leftover in sorted(directory.rglob("*"), reverse=True):
                if leftover.is_dir():
                    leftover.rmdir()
                else:
                    leftover.unlink()
            directory.rmdir()
        raise
    return report


def _restore_lines(
    header: dict[str, Any],
    lines: Iterator[dict[str, Any]],
    directory: Path,
    written: list[Path],
    database_url: str | None,
    progress: Progress,
) -> BackupReport:
    directory.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    first = next(lines, None)
    while first is not None and "file" in first:
        name = str(first["file"])
        path = (directory / name).resolve()
        if directory.resolve() not in path.parents:
            raise BackupError(f"the backup names a file outside the deployment: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        written.append(path)
        path.write_bytes(base64.b64decode(first["data"]))
        if path.parent.name == "keys":
            path.chmod(0o600)
        files.append(name)
        first = next(lines, None)
    if DEPLOYMENT_FILE not in files:
        raise BackupError("the backup holds no deployment configuration")
    if database_url is None and _configured_url(directory / DEPLOYMENT_FILE).startswith("sqlite"):
        # An SQLite node restores into a database file of its own in the new folder, never into the file
        # the backup's configuration names (that may be the live node's).
        database_url = "sqlite:///ektp.sqlite3"
    if database_url:
        _set_database_url(directory / DEPLOYMENT_FILE, database_url)
    deployment = load_deployment(directory)
    if deployment.database_url.startswith("sqlite:///"):
        written.append(Path(deployment.database_url[len("sqlite:///") :]))
    store = Store(deployment.database_url)
    try:
        revision = header.get("revision")
        store.upgrade(revision or "head")
        rows = _insert_rows(store, first, lines, progress)
        progress(f"schema {revision} -> {store.upgrade('head')}")
    finally:
        store.dispose()
    return BackupReport(site=deployment.site_code, revision=header.get("revision"), rows=rows, files=files)


def _configured_url(path: Path) -> str:
    import tomllib

    try:
        return str(tomllib.loads(path.read_text("utf-8"))["deployment"]["database_url"])
    except (KeyError, ValueError) as exc:
        raise BackupError(f"the backup's {path.name} is not a deployment configuration ({exc})") from None


def _set_database_url(path: Path, url: str) -> None:
    import tomllib

    old = _configured_url(path)
    text = path.read_text("utf-8").replace(json.dumps(old), json.dumps(url), 1)
    if tomllib.loads(text)["deployment"]["database_url"] != url:
        raise BackupError(f"cannot set the database URL in {path}; edit it by hand")
    path.write_text(text, "utf-8")


def _insert_rows(
    store: Store, first: dict[str, Any] | None, lines: Iterator[dict[str, Any]], progress: Progress
) -> dict[str, int]:
    rows: dict[str, int] = {}
    end: dict[str, Any] | None = None
    with store.write() as conn:
        tables = {t.name: t for t in _tables(conn)}
        for name, existing in tables.items():
            if name == "audit_head":
                continue  # made by the migrations with its first row; replaced below
            if conn.execute(sa.select(sa.func.count()).select_from(existing)).scalar_one():
                raise BackupError(
                    f"the target database is not empty (table {name} has rows); restore into a new database"
                )
        table: sa.Table | None = None
        columns: list[str] = []
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            if batch and table is not None:
                conn.execute(table.insert(), batch)
                rows[table.name] = rows.get(table.name, 0) + len(batch)
                batch.clear()

        item = first
        while item is not None:
            if "table" in item:
                flush()
                if table is not None:
                    progress(f"{table.name}: {rows.get(table.name, 0)} row(s)")
                name = item["table"]
                if name not in tables:
                    raise BackupError(f"the backup has a table this schema lacks: {name}")
                table, columns = tables[name], list(item["columns"])
                rows[name] = 0
                if name == "audit_head":
                    conn.execute(table.delete())
            elif "row" in item:
                if table is None:
                    raise BackupError("the backup file is damaged (a row before its table)")
                batch.append({c: _decode(v) for c, v in zip(columns, item["row"], strict=True)})
                if len(batch) >= BATCH:
                    flush()
            elif "end" in item:
                flush()
                end = item["end"]
                break
            item = next(lines, None)
        if end is None:
            raise BackupError("the backup file ends before its last table")
        if dict(end.get("rows", {})) != rows:
            raise BackupError(f"the backup's rows do not add up: expected {end.get('rows')}, read {rows}")
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn, tables)
        checked = audit.verify(conn)
        if not checked.ok:
            raise BackupError(f"the restored audit chain breaks at entry {checked.first_bad_seq}")
    return rows


def _reset_sequences(conn: sa.Connection, tables: dict[str, sa.Table]) -> None:
    # Explicit ids were inserted: move each serial column's sequence past them.
    for table in tables.values():
        for column in table.primary_key.columns:
            if isinstance(column.type, sa.Integer) and column.autoincrement is not False:
                sequence = conn.execute(
                    sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
                ).scalar()
                if sequence:
                    conn.execute(
                        sa.text(
                            f"SELECT setval('{sequence}', COALESCE((SELECT MAX({column.name}) FROM "
                            f"{table.name}), 0) + 1, false)"
                        )
                    )
