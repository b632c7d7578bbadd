"""The fixture year on a store: ``year_app`` on SQLite, ``year_app_any`` on both backends."""

from __future__ import annotations

import pytest

from hotline_ops.app import build_app
from hotline_ops.settings import load_settings
from tests.reports import fixture
from tests.reports.make_examples import NOW


def _year(tmp_path, clock, url: str | None, breach: bool = True, env=None, **settings):
    tmp_path = tmp_path / ("breach" if breach else "no-breach")
    env = {**(env or {}), **({"HOTLINE_OPS_DATABASE_URL": url} if url else {})}
    clock.set(fixture.local(2027, 1, 1))
    app = build_app(load_settings(fixture.site(tmp_path, **settings), env=env), clock=clock)
    app.store.upgrade()
    fixture.fill(app, clock, breach=breach)
    clock.set(NOW)
    return app


@pytest.fixture
def year_app(tmp_path, clock):
    app = _year(tmp_path, clock, None)
    yield app
    app.close()


@pytest.fixture
def year_app_any(tmp_path, clock, store_url):
    app = _year(tmp_path, clock, store_url)
    yield app
    app.close()


@pytest.fixture
def year_app_no_breach(tmp_path, clock):
    app = _year(tmp_path, clock, None, breach=False)
    yield app
    app.close()
