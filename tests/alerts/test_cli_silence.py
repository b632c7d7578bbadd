"""``hotline-ops silence add|list|expire`` through CliRunner, clock pinned at T0."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result

from hotline_ops.cli.main import cli
from tests.alerts import helpers
from tests.alerts.helpers import am_alert, webhook


@pytest.fixture
def app(tmp_path, store_url, clock):
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock)
    yield app
    app.close()


def run(app, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=app)


def add(app, *extra: str) -> Result:
    return run(
        app,
        "silence",
        "add",
        "--matcher",
        "trunk=ct-1",
        "--matcher",
        "alertname=~Trunk.*",
        "--duration",
        "2h",
        "--comment",
        "carrier works on ct-1",
        "--author",
        "wang",
        *extra,
    )


def test_it_adds_a_silence_that_suppresses_matching_alerts(app):
    result = add(app)
    assert (result.exit_code, result.stdout) == (
        0,
        'silence 1 added until 2026-11-28 12:00:00: trunk="ct-1", alertname=~"Trunk.*"\n',
    )
    http = helpers.client(app, "ingest")
    http.post(
        "/api/alertmanager", json=webhook(am_alert({"alertname": "TrunkDown", "trunk": "ct-1"}))
    )
    (alert,) = helpers.alerts_of(app)
    assert (alert.suppressed_by, helpers.incidents_of(app)) == ("silence:1", [])


def test_it_lists_silences_as_json(app, clock):
    add(app)
    clock.advance(timedelta(minutes=5))
    result = run(app, "silence", "list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (
        0,
        [
            {
                "id": 1,
                "state": "active",
                "matchers": [
                    {"name": "trunk", "value": "ct-1", "isRegex": False, "isEqual": True},
                    {"name": "alertname", "value": "Trunk.*", "isRegex": True, "isEqual": True},
                ],
                "text": 'trunk="ct-1", alertname=~"Trunk.*"',
                "starts_at": "2026-11-28T02:00:00+00:00",
                "ends_at": "2026-11-28T04:00:00+00:00",
                "created_by": "wang",
                "comment": "carrier works on ct-1",
                "created_at": "2026-11-28T02:00:00+00:00",
                "expired_at": None,
            }
        ],
    )


def test_it_lists_silences_as_a_table_in_local_time(app):
    add(app)
    # Wide enough that rich does not wrap a cell.
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["silence", "list"], obj=app)
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    assert (result.exit_code, rows) == (
        0,
        [
            [
                "1",
                "active",
                'trunk="ct-1", alertname=~"Trunk.*"',
                "2026-11-28 10:00:00",
                "2026-11-28 12:00:00",
                "wang",
                "carrier works on ct-1",
            ]
        ],
    )


def test_it_expires_a_silence_and_hides_it_unless_all(app, clock):
    add(app)
    clock.advance(timedelta(minutes=30))
    result = run(app, "silence", "expire", "1")
    assert (result.exit_code, result.stdout) == (
        0,
        'silence 1 expired: trunk="ct-1", alertname=~"Trunk.*"\n',
    )
    assert json.loads(run(app, "silence", "list", "--json").stdout) == []
    (row,) = json.loads(run(app, "silence", "list", "--all", "--json").stdout)
    assert (row["state"], row["ends_at"], row["expired_at"]) == (
        "expired",
        "2026-11-28T02:30:00+00:00",
        "2026-11-28T02:30:00+00:00",
    )


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (
            ["add", "--matcher", "trunk", "--comment", "x"],
            8,
            "error: --matcher: 'trunk' is not name=value, name!=value, name=~regex or "
            "name!~regex\n",
        ),
        (
            ["add", "--matcher", "trunk=~ct-(", "--comment", "x"],
            8,
            "error: --matcher: 'trunk=~ct-(': trunk: bad regex 'ct-(': missing ), "
            "unterminated subpattern at position 3\n",
        ),
        (
            ["add", "--matcher", "trunk=~.*", "--comment", "x"],
            8,
            "error: matchers: at least one matcher must not match the empty string\n",
        ),
        (
            ["add", "--matcher", "trunk=ct-1", "--duration", "soon", "--comment", "x"],
            8,
            "error: --duration: not a duration: 'soon' (use e.g. 30s, 5m, 2h, 1h30m)\n",
        ),
        (["expire", "9"], 3, "error: silence 9 does not exist\n"),
    ],
)
def test_it_refuses_bad_input_with_the_error_exit_code(app, args, code, error):
    result = run(app, "silence", *args)
    assert (result.exit_code, result.stderr) == (code, error)
    assert helpers.counts(app)[3] == 0


def test_it_refuses_to_expire_a_silence_twice(app):
    add(app)
    run(app, "silence", "expire", "1")
    result = run(app, "silence", "expire", "1")
    assert (result.exit_code, result.stderr) == (4, "error: silence 1 has already expired\n")
