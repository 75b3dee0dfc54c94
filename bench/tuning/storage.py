"""Where studies live, and how workers take turns to claim a trial.

``--storage`` (default: ``<results>/tuning/studies.journal``):

- ``journal:PATH``: Optuna's journal file (JournalStorage + JournalFileBackend): embedded,
  no server, safe for several processes on one host. It has no heartbeat, so a worker that
  died mid-trial is found by its pid (bench.worker: the trial's ``worker`` attribute names
  host, pid and process start, as a lock file does) and its trial is failed and retried.
- ``sqlite:///PATH``: Optuna's RDB storage on SQLite (one host), with heartbeats.
- ``postgresql://user@host:port/db``: one study for workers on many hosts. Each running
  trial sends a heartbeat every ``heartbeat`` seconds; a trial silent for three intervals is
  failed and re-queued with its parameters (RetryHeartbeatStaleTrialCallback).

Claims (taking the next trial of a study) are serialised by a claim lock, so that counting
the trials and creating the next one is one step and a study never exceeds its budget: a
lock file beside a file storage, a PostgreSQL advisory lock (released by the server if the
holder dies) for PostgreSQL.
"""
from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from bench.errors import ConfigError, DataError
from bench.locks import FileLock

DEFAULT_JOURNAL = Path("tuning") / "studies.journal"
"""The default storage, under the results directory."""
SCHEMES = ("journal:PATH", "sqlite:///PATH", "postgresql://USER@HOST:PORT/DB")
STALE_AFTER_HEARTBEATS = 3
MAX_RETRIES = 3
"""How often a trial whose worker died is re-queued before it stays failed."""
CONNECT_TIMEOUT_S = 5


@dataclass
class StudyStorage:
    """An opened storage: ``shown`` is its URL with any password hidden; ``claim(study)`` is a
    context manager that holds the study's claim lock."""

    shown: str
    kind: str
    storage: optuna.storages.BaseStorage
    claim: Callable[[str], AbstractContextManager]

    @property
    def has_heartbeat(self) -> bool:
        return self.kind != "journal"


def shown_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    if "://" not in url:
        return url
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - only RDB URLs need SQLAlchemy
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, minus nothing secret
        return url.split("@")[-1]


def storage_kind(url: str) -> str:
    """journal, sqlite or postgresql; anything else is a ConfigError naming the schemes."""
    if url.startswith("journal:"):
        return "journal"
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        return "sqlite"
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        return "postgresql"
    raise ConfigError(f"--storage {shown_url(url)}: unknown storage scheme '{scheme or url}'; "
                      f"use one of {', '.join(SCHEMES)} (default: <results>/{DEFAULT_JOURNAL})")


def _file_claims(lock_dir: Path) -> Callable[[str], AbstractContextManager]:
    return lambda study: FileLock(lock_dir / f"{study}.claim.lock", f"a trial claim of study {study}")


def _advisory_claims(url: str) -> Callable[[str], AbstractContextManager]:
    """PostgreSQL advisory locks keyed by the study name: held on one connection, released
    by the server when that connection ends (a killed worker never leaves one behind)."""
    import sqlalchemy  # noqa: PLC0415

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args={"connect_timeout": CONNECT_TIMEOUT_S})

    @contextmanager
    def claim(study: str) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha256(f"alignbench:{study}".encode()).digest()[:8], "big", signed=True)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    return claim


def _rdb_storage(url: str, kind: str, heartbeat_s: int) -> RDBStorage:
    import sqlalchemy  # noqa: PLC0415

    engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}} if kind == "postgresql" else {}
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.8; we rely on them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_s,
                              grace_period=STALE_AFTER_HEARTBEATS * heartbeat_s,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES))
    except ModuleNotFoundError as err:
        raise ConfigError(f"--storage {shown_url(url)} needs the database driver '{err.name}'; "
                          "pip install 'psycopg[binary]' (it is in the project's dependencies)") from err
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise DataError(f"cannot open the study database {shown_url(url)} ({reason}); check that the server "
                        "is running and that the user, host, port and database in --storage are right") from err


def open_storage(url: str | None, results_root: Path, heartbeat_s: int, create: bool = True) -> StudyStorage:
    """Open ``url`` (None: the default journal under ``results_root``); with ``create=False``
    a journal file that does not exist yet is a ConfigError (readers never create one)."""
    if url is None:
        url = f"journal:{Path(results_root) / DEFAULT_JOURNAL}"
    kind = storage_kind(url)
    if kind == "journal":
        path = Path(url[len("journal:"):])
        if not path.name or path.is_dir():
            raise ConfigError(f"--storage {url}: name a journal file, e.g. journal:results/tuning/studies.journal")
        if not create and not path.is_file():
            raise ConfigError(f"no tuning studies at {path}; run `bench tune --method M --trials N` first "
                              "(or name the storage with --storage)")
        path.parent.mkdir(parents=True, exist_ok=True)
        return StudyStorage(url, kind, JournalStorage(JournalFileBackend(str(path))), _file_claims(path.parent / "locks"))
    storage = _rdb_storage(url, kind, heartbeat_s)
    if kind == "sqlite":
        database = Path(url.split(":///", 1)[1]) if ":///" in url else Path(".")
        return StudyStorage(url, kind, storage, _file_claims(database.parent / "locks"))
    return StudyStorage(shown_url(url), kind, storage, _advisory_claims(url))
