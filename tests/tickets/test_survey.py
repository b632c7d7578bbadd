"""Satisfaction collection (P6.1, P6.2): the survey SMS through the real outbox to the local
SMS gateway emulator, the signed form, IVR keypresses; coverage per channel (P6.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from hotline_ops.app import build_app
from hotline_ops.clock import FixedClock
from hotline_ops.core import kpi as core
from hotline_ops.core.kpi import Period
from hotline_ops.notify.emulators import GatewayEmulator, sms_gateway
from hotline_ops.server import create_app
from hotline_ops.services import ack, outbox
from hotline_ops.settings import load_settings
from hotline_ops.store.models import OutboxMessage
from hotline_ops.store.tickets import Ticket
from hotline_ops.tickets import audit, kpi, service, survey_sms, tokens
from tests.conftest import T0
from tests.tickets.helpers import HAPPY, body, ticket_site, walk

SECRET = "survey-secret-5f1c9a0e7b"
GW_TOKEN = "gw-token-3c2b1a"
PUBLIC = "https://12345.example.gov.cn"
UNTIL_CLOSED = HAPPY[:9]
NUMBER = "2026112800000001"  # the first ticket on T0 (28 Nov 2026, Asia/Shanghai)


def _site(folder: Path, gateway_url: str | None) -> Path:
    channels = {"ops": {"kind": "fake"}}
    if gateway_url:
        provider = {"type": "http", "url": f"{gateway_url}/sms/send", "token_secret": "gw"}
        channels["sms"] = {"kind": "sms", "provider": provider}
    root = ticket_site(folder, channels=channels)
    path = folder / "tickets" / "satisfaction.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["sms"].update(channel="sms" if gateway_url else None, public_url=PUBLIC)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return root


@pytest.fixture
def gateway() -> Iterator[GatewayEmulator]:
    with sms_gateway(clock=FixedClock(T0), token=GW_TOKEN) as emulator:
        yield emulator  # type: ignore[misc]


@pytest.fixture
def make(tmp_path, clock, store_url, gateway):
    apps = []

    def build(*, secret: str | None = SECRET, sms: bool = True):
        env = {"HOTLINE_OPS_DATABASE_URL": store_url, "HOTLINE_OPS_SECRET_GW": GW_TOKEN}
        if secret:
            env["HOTLINE_OPS_SECRET_SURVEY"] = secret
        root = _site(tmp_path / f"site{len(apps)}", gateway.url if sms else None)
        app = build_app(load_settings(root, env=env), clock=clock)
        app.store.upgrade()
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def app(make):
    return make()


def _closed(app, **fields) -> Ticket:
    ticket = service.create(app, body=body(**fields), actor="seat-07")
    walk(app, ticket.id, UNTIL_CLOSED)
    return ticket


def _link(ticket_id: int, expires=T0 + timedelta(days=7)) -> str:
    return f"/api/survey/{survey_sms.token(SECRET, ticket_id, expires)}"


def _client(app) -> TestClient:
    return TestClient(create_app(app), raise_server_exceptions=False)


def _row(app, ticket_id) -> Ticket:
    with app.store.session() as session:
        row = session.get(Ticket, ticket_id)
        session.expunge(row)
        return row


def _events(app, ticket_id) -> list[tuple[str, str]]:
    with app.store.session() as session:
        return [(e.action, e.actor) for e in audit.events_of(session, ticket_id)]


ANSWERS = {"attitude": "3", "efficiency": "2", "result": "1", "时效": "3"}


# --- the SMS ---------------------------------------------------------------------------------


def test_it_sends_the_survey_sms_with_a_signed_link_through_the_outbox_on_closing(app, gateway):
    ticket = _closed(app)
    stats = outbox.deliver_due(app)
    url = f"{PUBLIC}{_link(ticket.id)}"
    assert [(m["phone"], m["content"]) for m in gateway.accepted] == [
        ("13877400000", f"您反映的“小区夜间施工噪声”（工单{NUMBER}）已办结，请评价：{url}")
    ]
    assert gateway.accepted[0]["idempotency_key"] == f"ticket:{ticket.id}:survey"
    assert stats.sent == 1
    with app.store.session() as session:
        close = audit.events_of(session, ticket.id)[-1]
    assert (close.action, close.data["survey_sms"]) == ("close", "queued")


def test_it_shortens_a_long_title_so_the_link_is_never_cut(app):
    ticket = _closed(app, title="噪" * 200)
    with app.store.session() as session:
        text = session.scalars(select(OutboxMessage.text)).one()
    url = f"{PUBLIC}{_link(ticket.id)}"
    assert text.endswith(f"已办结，请评价：{url}")
    assert len(text) == 201 - survey_sms.SIGNATURE_ROOM
    assert "噪…" in text


def test_it_sends_nothing_without_the_secret(make):
    app = make(secret=None)
    ticket = _closed(app)
    with app.store.session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert audit.events_of(session, ticket.id)[-1].data["survey_sms"] == "no_secret"


def test_it_sends_nothing_to_a_landline(app):
    ticket = _closed(app, caller_number="0774-3822345")
    with app.store.session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert audit.events_of(session, ticket.id)[-1].data["survey_sms"] == "no_mobile"


def test_it_sends_nothing_when_no_sms_channel_is_configured(make):
    app = make(sms=False)
    ticket = _closed(app)
    with app.store.session() as session:
        assert audit.events_of(session, ticket.id)[-1].data["survey_sms"] == "off"


# --- the form --------------------------------------------------------------------------------


def test_it_shows_a_chinese_form_with_every_item_and_stores_nothing(app):
    ticket = _closed(app)
    page = _client(app).get(_link(ticket.id))
    assert page.status_code == 200
    for text in ("服务态度", "办理效率", "办理结果", "回复时效", "基本满意", NUMBER):
        assert text in page.text
    assert page.text.count('type="radio"') == 12
    assert _row(app, ticket.id).status == "closed"


def test_it_records_the_sms_evaluation_once_as_the_masked_caller(app):
    ticket = _closed(app)
    client = _client(app)
    answer = client.post(_link(ticket.id), data=ANSWERS)
    assert (answer.status_code, "感谢您的评价" in answer.text) == (200, True)
    row = _row(app, ticket.id)
    assert (row.status, row.evaluated_at) == ("evaluated", T0)
    assert row.satisfaction == {
        "via": "sms",
        "attitude": 3,
        "efficiency": 2,
        "result": 1,
        "custom": {"时效": 3},
    }
    assert _events(app, ticket.id)[-1] == ("evaluate", "sms:138****0000")
    again = client.post(_link(ticket.id), data={**ANSWERS, "attitude": "1"})
    assert again.status_code == 409
    assert "每张工单只能评价一次" in again.text
    assert _row(app, ticket.id).satisfaction["attitude"] == 3
    assert client.get(_link(ticket.id)).status_code == 409


def test_it_refuses_a_form_missing_an_item_naming_it(app):
    ticket = _closed(app)
    answer = _client(app).post(_link(ticket.id), data={**ANSWERS, "时效": ""})
    assert answer.status_code == 400
    assert "时效: 回复时效 missing" in answer.text
    answer = _client(app).post(_link(ticket.id), data={**ANSWERS, "result": "5"})
    assert "result: 办理结果 &#x27;5&#x27; is not 1, 2 or 3" in answer.text
    assert _row(app, ticket.id).status == "closed"


def test_it_refuses_a_tampered_link_and_stores_nothing(app):
    ticket = _closed(app)
    link = _link(ticket.id)
    payload, mac = link.rsplit("/", 1)[1].split(".")
    other = survey_sms.token(SECRET, ticket.id + 1, T0 + timedelta(days=7)).split(".")[0]
    for bad in (f"{payload}.{mac[:-2]}AA", f"{other}.{mac}", payload):
        answer = _client(app).post(f"/api/survey/{bad}", data=ANSWERS)
        assert answer.status_code == 403, bad
        assert "链接无效" in answer.text
    assert _row(app, ticket.id).status == "closed"


def test_it_refuses_an_expired_link(app, clock):
    ticket = _closed(app)
    clock.set(T0 + timedelta(days=7))
    answer = _client(app).post(_link(ticket.id), data=ANSWERS)
    assert (answer.status_code, "token: expired" in answer.text) == (403, True)
    assert _row(app, ticket.id).evaluated_at is None


def test_it_refuses_an_incident_ack_token_signed_with_the_same_secret(app):
    """Same signed-claims format, other claims: an ack token is no survey token."""
    ticket = _closed(app)
    token = ack.sign(SECRET, ticket.id, "zhang", T0 + timedelta(days=1))
    answer = _client(app).post(f"/api/survey/{token}", data=ANSWERS)
    assert (answer.status_code, "token: malformed" in answer.text) == (403, True)


def test_it_refuses_the_link_once_the_ticket_was_called_back(app):
    ticket = _closed(app)
    walk(app, ticket.id, [("callback", {})])
    answer = _client(app).post(_link(ticket.id), data=ANSWERS)
    assert (answer.status_code, "已回访" in answer.text) == (409, True)


# --- IVR -------------------------------------------------------------------------------------


@pytest.fixture
def ivr(app):
    _token, value = tokens.add(app, name="ivr-gw", role="ivr")
    return _client(app), {"Authorization": f"Bearer {value}"}


def test_it_records_the_ivr_keypresses_with_channel_ivr(app, ivr):
    client, headers = ivr
    ticket = _closed(app)
    path = f"/api/tickets/{ticket.id}/ivr-evaluation"
    answer = client.post(path, json={"digits": "1213", "call_id": "c-77"}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "id": ticket.id,
        "number": NUMBER,
        "status": "evaluated",
        "satisfaction": {
            "via": "ivr",
            "attitude": 3,
            "efficiency": 2,
            "result": 3,
            "custom": {"时效": 1},
        },
    }
    with app.store.session() as session:
        last = audit.events_of(session, ticket.id)[-1]
    assert (last.actor, last.reason) == ("ivr:ivr-gw", "IVR按键评价，呼叫c-77")
    again = client.post(path, json={"digits": "3333"}, headers=headers)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("digits", "error"),
    [
        (
            "1293",
            "digits: key '9' at position 3 (办理结果) is not a survey key "
            "(1=满意, 2=基本满意, 3=不满意)",
        ),
        (
            "12",
            "digits: expected 4 keys, one per item (attitude（服务态度）, "
            "efficiency（办理效率）, result（办理结果）, 时效（回复时效）), got 2",
        ),
        (
            "123#",
            "digits: key '#' at position 4 (回复时效) is not a survey key "
            "(1=满意, 2=基本满意, 3=不满意)",
        ),
    ],
)
def test_it_refuses_bad_keypresses_naming_the_key_and_position(app, ivr, digits, error):
    client, headers = ivr
    ticket = _closed(app)
    path = f"/api/tickets/{ticket.id}/ivr-evaluation"
    answer = client.post(path, json={"digits": digits}, headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (400, error)
    assert _row(app, ticket.id).evaluated_at is None


def test_a_seat_cannot_rate_an_item_that_is_not_configured(app):
    ticket = _closed(app)
    sat = {"attitude": 3, "efficiency": 3, "result": 3, "custom": {"态度好": 3}}
    with pytest.raises(Exception, match=r"satisfaction.custom.态度好: unknown item"):
        walk(app, ticket.id, [("evaluate", {"satisfaction": sat})])
    assert _row(app, ticket.id).satisfaction is None


# --- coverage per channel (P6.1) ---------------------------------------------------------------


def test_it_reports_evaluation_coverage_per_channel(app, ivr):
    client, headers = ivr
    by_sms, by_ivr, by_seat, _none = (_closed(app) for _ in range(4))
    _client(app).post(_link(by_sms.id), data=ANSWERS)
    client.post(
        f"/api/tickets/{by_ivr.id}/ivr-evaluation", json={"digits": "1111"}, headers=headers
    )
    sat = {"attitude": 2, "efficiency": 2, "result": 2}
    walk(app, by_seat.id, [("evaluate", {"satisfaction": sat})])
    month = Period.parse("2026-11", app.settings.tz)
    figures = kpi.compute(app, period=month)["kpi"]
    assert figures["evaluation_coverage"] == core.ratio(3, 4)
    assert figures["evaluation_coverage_by_channel"] == {
        "ivr": core.ratio(1, 4),
        "sms": core.ratio(1, 4),
        "seat": core.ratio(1, 4),
    }


# --- callbacks (P7.2 scripts per category, P7.3 redial until max_attempts) ---------------------


def test_it_picks_the_callback_script_of_the_tickets_category(app):
    wage = _closed(app, category="050101", type="help")
    walk(app, wage.id, [("callback", {})])
    with app.store.session() as session:
        last = audit.events_of(session, wage.id)[-1]
    assert last.data["script"] == "wage"
    assert last.data["text"].startswith("您好，这里是梧州12345热线。您反映的欠薪诉求")


def test_an_urgent_ticket_keeps_the_urgent_script_in_any_category(app):
    ticket = _closed(app, category="050101", type="help", urgency="urgent")
    walk(app, ticket.id, [("callback", {})])
    with app.store.session() as session:
        assert audit.events_of(session, ticket.id)[-1].data["script"] == "urgent"


def _deadlines(app, ticket_id):
    from hotline_ops.store.models import Deadline

    with app.store.session() as session:
        rows = session.scalars(
            select(Deadline)
            .where(Deadline.ticket_id == ticket_id, Deadline.kind == "redial")
            .order_by(Deadline.due_at)
        )
        return [(r.due_at, r.cancelled_at) for r in rows]


def test_it_redials_until_max_attempts_then_raises_a_popup_and_an_alert(app, clock):
    from hotline_ops.errors import BadRequest
    from hotline_ops.store.tickets import TicketPopup

    ticket = _closed(app)
    for minutes in (0, 30, 60):
        clock.set(T0 + timedelta(minutes=minutes))
        walk(app, ticket.id, [("callback_missed", {})])
    assert _deadlines(app, ticket.id) == [
        (T0 + timedelta(minutes=30), T0 + timedelta(minutes=30)),
        (T0 + timedelta(minutes=60), T0 + timedelta(minutes=60)),
    ]
    text = f"工单{NUMBER}回访3次均未接通，已停止重拨，请人工处理（P7.3）"
    with app.store.session() as session:
        popups = [(p.kind, p.text) for p in session.scalars(select(TicketPopup))]
        alerts = [
            (m.channel, m.dedup_key, m.text)
            for m in session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "ops"))
        ]
        attempts = [e.data for e in audit.events_of(session, ticket.id)[-3:]]
    assert popups == [("redial_exhausted", text)]
    assert alerts == [("ops", f"ticket:{ticket.id}:redial-exhausted", text)]
    assert attempts == [
        {"attempt": 1, "redial": True},
        {"attempt": 2, "redial": True},
        {"attempt": 3, "redial": False},
    ]
    with pytest.raises(BadRequest, match="all 3 callback attempts are already recorded"):
        walk(app, ticket.id, [("callback_missed", {})])
    walk(app, ticket.id, [("callback", {})])  # the caller may still be reached later
    assert _row(app, ticket.id).status == "called_back"


# --- CLI -------------------------------------------------------------------------------------


def _cli(app, *args):
    from click.testing import CliRunner

    from hotline_ops.cli.main import cli

    return CliRunner().invoke(cli, list(args), obj=app)


def test_the_cli_prints_the_survey_link_of_a_closed_ticket(app):
    ticket = _closed(app)
    result = _cli(app, "ticket", "survey-link", str(ticket.id))
    assert (result.exit_code, result.output) == (0, f"{PUBLIC}{_link(ticket.id)}\n")


def test_the_cli_refuses_a_survey_link_for_an_open_ticket_or_without_the_secret(make):
    app = make()
    open_ticket = service.create(app, body=body(), actor="seat-07")
    result = _cli(app, "ticket", "survey-link", str(open_ticket.id))
    assert result.exit_code == 4
    assert "only a closed ticket is rated" in result.output
    unsigned = make(secret=None)
    closed = _closed(unsigned)
    result = _cli(unsigned, "ticket", "survey-link", str(closed.id))
    assert (result.exit_code, result.output.strip()) == (
        8,
        "error: secret: HOTLINE_OPS_SECRET_SURVEY is not set (survey links)",
    )


def test_the_cli_prints_coverage_per_channel_in_the_kpi_table(app):
    ticket = _closed(app)
    walk(
        app,
        ticket.id,
        [("evaluate", {"satisfaction": {"attitude": 3, "efficiency": 3, "result": 3}})],
    )
    result = _cli(app, "ticket", "kpi", "--period", "2026-11")
    assert result.exit_code == 0, result.output
    rows = {
        cells[0]: cells[1:]
        for line in result.output.splitlines()
        if (cells := [c.strip() for c in line.strip("│ ").split("│")])[0].startswith("evaluation")
    }
    assert rows == {
        "evaluation_coverage": ["100.00%", "1", "1"],
        "evaluation_coverage_by_channel.ivr": ["0.00%", "0", "1"],
        "evaluation_coverage_by_channel.sms": ["0.00%", "0", "1"],
        "evaluation_coverage_by_channel.seat": ["100.00%", "1", "1"],
    }


def test_a_seat_cannot_claim_an_ivr_or_sms_evaluation(app):
    from hotline_ops.errors import BadRequest

    ticket = _closed(app)
    sat = {"via": "sms", "attitude": 3, "efficiency": 3, "result": 3}
    with pytest.raises(BadRequest, match=r"satisfaction\.via: 'sms' evaluations come only"):
        walk(app, ticket.id, [("evaluate", {"satisfaction": sat})])
    assert _row(app, ticket.id).satisfaction is None


def test_it_closes_without_an_sms_when_the_link_would_not_fit(make):
    app = make()
    path = app.settings.path(app.settings.paths.tickets) / "satisfaction.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["sms"]["public_url"] = "https://example.gov.cn/" + "x" * 150
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    app._tickets = None  # reload the edited content
    ticket = _closed(app)
    with app.store.session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert audit.events_of(session, ticket.id)[-1].data["survey_sms"] == "too_long"
    assert _row(app, ticket.id).status == "closed"
