"""DbProbe against the private PostgreSQL cluster and against SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa

from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.db import DbProbe
from tests.support.process import free_port

SECRET = "s3cr3t-Pw"


def _check(params: dict[str, Any], timeout: float = 5.0) -> ProbeResult:
    return asyncio.run(DbProbe(params).check(timeout))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE service (name TEXT)")
        conn.execute("INSERT INTO service VALUES ('hotline')")
    conn.close()
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on each backend."""
    return str(
        request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_url")
    )


def _with_password(pg_url: str, database: str) -> tuple[str, int]:
    url = sa.make_url(pg_url).set(password=SECRET, database=database)
    return url.render_as_string(hide_password=False), int(url.port or 0)


def test_it_runs_select_1_and_measures_latency(db_url: str) -> None:
    result = _check({"url": db_url})
    assert (result.ok, result.detail, result.metrics) == (True, "returned '1'", {})
    assert result.latency_s is not None and 0 < result.latency_s < 5.0


def test_it_compares_the_first_value_as_text(db_url: str) -> None:
    result = _check({"url": db_url, "query": "SELECT 1", "expect": "1"})
    assert (result.ok, result.detail) == (True, "returned '1'")


def test_it_reads_a_real_table_on_sqlite(sqlite_url: str) -> None:
    result = _check({"url": sqlite_url, "query": "SELECT name FROM service", "expect": "hotline"})
    assert (result.ok, result.detail) == (True, "returned 'hotline'")


def test_it_fails_when_the_value_differs_from_expect(db_url: str) -> None:
    result = _check({"url": db_url, "query": "SELECT 2", "expect": "1"})
    assert (result.ok, result.detail) == (False, "returned '2' (expected '1')")
    assert result.latency_s is not None


def test_it_fails_when_no_row_comes_back_but_one_is_expected(db_url: str) -> None:
    result = _check({"url": db_url, "query": "SELECT 1 WHERE 1 = 0", "expect": "1"})
    assert (result.ok, result.detail) == (False, "returned no rows (expected '1')")


def test_it_accepts_a_statement_without_rows(db_url: str) -> None:
    result = _check({"url": db_url, "query": "CREATE TEMPORARY TABLE probe_scratch (x INT)"})
    assert (result.ok, result.detail) == (True, "returned no rows")


def test_it_sends_the_query_as_written(db_url: str) -> None:
    # No bind-parameter parsing: ':' and '%' reach the server untouched.
    result = _check({"url": db_url, "query": "SELECT '50%:done'", "expect": "50%:done"})
    assert (result.ok, result.detail) == (True, "returned '50%:done'")


def test_it_fails_when_slower_than_max_latency_ms(pg_url: str) -> None:
    result = _check({"url": pg_url, "query": "SELECT pg_sleep(0.05)", "max_latency_ms": 10})
    assert result.latency_s is not None
    assert (result.ok, result.detail) == (
        False, f"took {result.latency_s * 1000:.1f} ms (max 10 ms)",
    )  # fmt: skip


def test_it_reports_a_query_error_in_one_line_on_postgresql(pg_url: str) -> None:
    result = _check({"url": pg_url, "query": "SELECT * FROM no_such_table"})
    assert (result.ok, result.latency_s, result.detail) == (
        False, None, 'query failed: relation "no_such_table" does not exist',
    )  # fmt: skip


def test_it_reports_a_query_error_in_one_line_on_sqlite(sqlite_url: str) -> None:
    result = _check({"url": sqlite_url, "query": "SELECT * FROM no_such_table"})
    assert (result.ok, result.detail) == (False, "query failed: no such table: no_such_table")


def test_it_names_the_host_of_a_bad_url_but_never_its_password(pg_url: str) -> None:
    url, port = _with_password(pg_url, "no_such_db")
    result = _check({"url": url})
    prefix = f"cannot connect to postgresql+psycopg://postgres:***@127.0.0.1:{port}/no_such_db: "
    assert (result.ok, result.latency_s) == (False, None)
    assert result.detail.startswith(prefix)
    assert result.detail.endswith('FATAL: database "no_such_db" does not exist')
    assert "\n" not in result.detail and SECRET not in result.detail


def test_it_masks_the_password_in_repr(pg_url: str) -> None:
    url, port = _with_password(pg_url, "postgres")
    probe = DbProbe({"url": url})
    assert SECRET not in repr(probe.params) and SECRET not in str(probe.params)
    assert f"url='postgresql+psycopg://postgres:***@127.0.0.1:{port}/postgres'" in repr(
        probe.params
    )


def test_it_fails_quickly_on_a_closed_port() -> None:
    port = free_port()
    started = time.monotonic()
    result = _check({"url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"})
    elapsed = time.monotonic() - started
    assert (result.ok, result.latency_s) == (False, None)
    assert result.detail.startswith(
        f"cannot connect to postgresql+psycopg://postgres@127.0.0.1:{port}/postgres: "
    )
    assert result.detail.endswith("Connection refused")
    assert elapsed < 1.0


def test_it_cancels_a_postgresql_query_that_outlives_the_timeout(pg_url: str) -> None:
    started = time.monotonic()
    result = _check({"url": pg_url, "query": "SELECT pg_sleep(5)"}, timeout=1.0)
    elapsed = time.monotonic() - started  # asyncio.run also waits for the worker thread
    assert (result.ok, result.latency_s, result.detail) == (False, None, "timeout after 1.0s")
    assert 1.0 <= elapsed < 2.0
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            still_running = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE state = 'active' AND query = 'SELECT pg_sleep(5)'"
            ).scalar()
    finally:
        engine.dispose()
    assert still_running == 0


def test_it_interrupts_a_sqlite_query_that_outlives_the_timeout(sqlite_url: str) -> None:
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    )
    started = time.monotonic()
    result = _check({"url": sqlite_url, "query": endless}, timeout=0.5)
    elapsed = time.monotonic() - started
    assert (result.ok, result.latency_s, result.detail) == (False, None, "timeout after 0.5s")
    assert elapsed < 1.5


def test_it_reads_the_url_from_an_environment_variable(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_TEST_DB_URL", pg_url)
    probe = DbProbe({"url_env": "HOTLINE_TEST_DB_URL"})
    result = asyncio.run(probe.check(5.0))
    assert (result.ok, result.detail) == (True, "returned '1'")
    assert "127.0.0.1" not in repr(probe.params)


def test_it_reports_an_unset_url_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_TEST_DB_URL", raising=False)
    result = _check({"url_env": "HOTLINE_TEST_DB_URL"})
    assert (result.ok, result.detail) == (
        False, "environment variable HOTLINE_TEST_DB_URL is not set",
    )  # fmt: skip


def test_it_reports_an_invalid_url_in_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_TEST_DB_URL", f"postgresql+psycopg://u:{SECRET}@h:port/db")
    result = _check({"url_env": "HOTLINE_TEST_DB_URL"})
    assert (result.ok, result.detail) == (
        False, "environment variable HOTLINE_TEST_DB_URL: not a valid SQLAlchemy URL",
    )  # fmt: skip


def test_it_rejects_an_invalid_url_without_echoing_it() -> None:
    with pytest.raises(pydantic.ValidationError, match="not a valid SQLAlchemy URL") as caught:
        DbProbe({"url": f"postgresql+psycopg://u:{SECRET}@h:port/db"})
    assert SECRET not in str(caught.value)


def test_it_rejects_an_unknown_dialect() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown database dialect 'nosuchdb'"):
        DbProbe({"url": "nosuchdb://u@h/db"})


def test_it_rejects_a_driver_that_is_not_installed() -> None:
    with pytest.raises(pydantic.ValidationError, match="driver for 'postgresql\\+pg8000' is not"):
        DbProbe({"url": "postgresql+pg8000://u@h/db"})


def test_it_rejects_an_asyncio_driver() -> None:
    with pytest.raises(pydantic.ValidationError, match="'sqlite\\+aiosqlite' is an asyncio"):
        DbProbe({"url": "sqlite+aiosqlite:///x.db"})


def test_it_requires_exactly_one_of_url_and_url_env() -> None:
    with pytest.raises(pydantic.ValidationError, match="give exactly one of url or url_env"):
        DbProbe({"query": "SELECT 1"})
    with pytest.raises(pydantic.ValidationError, match="give exactly one of url or url_env"):
        DbProbe({"url": "sqlite://", "url_env": "HOTLINE_TEST_DB_URL"})


def test_it_rejects_an_unknown_param() -> None:
    with pytest.raises(pydantic.ValidationError, match="dsn\n  Extra inputs"):
        DbProbe({"url": "sqlite://", "dsn": "x"})
