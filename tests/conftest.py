"""Shared fixtures: a pinned clock, content folders, stores on SQLite and PostgreSQL, a
webhook receiver. PostgreSQL is a real private cluster: `make test` starts it and passes
HOTLINE_TEST_PG_URL; a bare `pytest` starts its own. A missing server fails, never skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hotline_ops.app import App, build_app
from hotline_ops.clock import FixedClock
from hotline_ops.settings import load_settings
from tests.support.content import write_content
from tests.support.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
# Every test that pins time starts here: 10:00 in Wuzhou.
T0 = datetime(2026, 11, 28, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    url = os.environ.get("HOTLINE_TEST_PG_URL")
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="hotline-ops-pg-")
    os.chmod(folder, 0o755)
    script = ROOT / "scripts" / "pg-cluster"
    out = subprocess.run([script, "start", folder], check=True, capture_output=True, text=True)
    try:
        yield out.stdout.strip()
    finally:
        subprocess.run([script, "stop", folder], check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database per test on the private cluster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_server.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A content folder with the default example-like config; returns the root file."""
    return write_content(tmp_path / "site")


@pytest.fixture
def make_app(tmp_path: Path, clock: FixedClock):
    """Build an App from a content folder, migrated, on the given store URL."""
    apps: list[App] = []

    def build(root: Path, url: str | None = None) -> App:
        env = {"HOTLINE_OPS_DATABASE_URL": url} if url else {}
        app = build_app(load_settings(root, env=env), clock=clock)
        app.store.upgrade()
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rcv:
        yield rcv
