"""Escalation steps page people: the roster's on-call person and named roles, each on their
first channel with their address and the rest as failover; quiet hours defer level 2/3 but
never level 1; a roster gap falls back to the step's channels; an acknowledgement by signed
link or API stops the escalation. Time is pinned: T0 is Sat 28 Nov 2026 10:00 in Wuzhou,
when the holiday layer has li-na on call."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hotline_ops.app import build_app
from hotline_ops.notify import fake
from hotline_ops.services import ack, incidents, outbox, timers
from hotline_ops.settings import load_settings
from hotline_ops.store.models import Deadline, IncidentEvent, OutboxMessage
from tests.alerts.helpers import BEARER, SECRETS, TOKENS, Client
from tests.conftest import T0
from tests.support.content import write_content
from tests.support.roster import CHANNELS, write_roster

ESCALATION = """\
chains:
  default:
    steps:
      - {wait: 0m, roster: ops-primary}
      - {wait: 10m, people: [after-sales-manager]}
      - {wait: 20m, roster: ops-secondary, channels: [ops]}
routes:
  - {chain: default}
"""
ACK_SECRET = "ack-5e0c1b7d"


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def app(tmp_path, clock, store_url):
    root = write_content(tmp_path / "site", channels=CHANNELS, settings={"api": {"tokens": TOKENS}})
    write_roster(root)
    (root.parent / "incidents" / "escalation.yaml").write_text(ESCALATION, encoding="utf-8")
    env = {"HOTLINE_OPS_DATABASE_URL": store_url, "HOTLINE_OPS_SECRET_ACK": ACK_SECRET, **SECRETS}
    built = build_app(load_settings(root, env=env), clock=clock)
    built.store.upgrade()
    yield built
    built.close()


def open_incident(app, level: int = 2) -> int:
    incident, _ = incidents.create(app, title="梧州12345 电信中继中断", actor="t", level=level)
    return incident.id


def pages(app) -> list[tuple]:
    with app.store.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.person.is_not(None))
            .order_by(OutboxMessage.id)
        ).all()
        return [
            (r.channel, r.person, r.recipient["phone"], r.failover, r.next_attempt_at) for r in rows
        ]


def test_it_pages_the_person_on_call_on_their_first_channel_with_failover(app):
    open_incident(app)
    timers.fire_due(app)
    assert pages(app) == [("pager", "li-na", "13800001002", ["backup"], T0)]


def test_it_delivers_the_page_with_the_recipient_set(app):
    open_incident(app)
    timers.fire_due(app)
    outbox.deliver_due(app)
    [message] = [m for m in fake.SENT["pager"]]
    assert (message.recipient.name, message.recipient.phone) == ("李娜", "13800001002")


def test_it_defers_a_level_2_page_to_the_end_of_quiet_hours(app):
    app.clock.set(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))  # 23:00 in Wuzhou
    open_incident(app, level=2)
    timers.fire_due(app)
    app.clock.advance(timedelta(minutes=10))
    timers.fire_due(app)
    assert pages(app)[-1][1:] == (
        "zhao-min",
        "13800001007",
        ["backup"],
        datetime(2026, 11, 28, 23, 30, tzinfo=UTC),
    )


def test_it_never_applies_quiet_hours_to_level_1(app):
    app.clock.set(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))
    open_incident(app, level=1)
    timers.fire_due(app)
    app.clock.advance(timedelta(minutes=10))
    timers.fire_due(app)
    assert pages(app)[-1][1] == "zhao-min"
    assert pages(app)[-1][4] == datetime(2026, 11, 28, 15, 10, tzinfo=UTC)


def test_it_falls_back_to_the_steps_channels_in_a_roster_gap(app):
    incident_id = open_incident(app)
    for _step in range(3):  # ops-secondary covers workdays only: Saturday is a gap
        timers.fire_due(app)
        app.clock.advance(timedelta(minutes=10))
    with app.store.session() as session:
        fallback = session.scalars(
            select(OutboxMessage.dedup_key).where(
                OutboxMessage.channel == "ops", OutboxMessage.dedup_key.like("%escalation:2%")
            )
        ).all()
        gap = session.scalars(
            select(IncidentEvent.reason).where(
                IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "escalation.gap"
            )
        ).all()
    assert (fallback, gap) == (
        [f"incident:{incident_id}:escalation:2:0:ops"],
        ["值班表无人值守，改用备用渠道通知"],
    )


def _ack_token(app) -> str:
    with app.store.session() as session:
        text = session.scalars(
            select(OutboxMessage.text).where(OutboxMessage.person == "li-na")
        ).one()
    return re.search(r"/api/ack/(\S+)", text).group(1)


def test_it_puts_a_signed_ack_link_in_the_page(app):
    incident_id = open_incident(app)
    timers.fire_due(app)
    claim = ack.verify(ACK_SECRET, _ack_token(app), T0)
    assert (claim.incident_id, claim.person, claim.expires_at) == (
        incident_id,
        "li-na",
        T0 + timedelta(hours=24),
    )


def test_it_acknowledges_by_the_signed_link_and_stops_escalating(app):
    incident_id = open_incident(app)
    timers.fire_due(app)
    response = Client(app, {}).post(f"/api/ack/{_ack_token(app)}")
    with app.store.session() as session:
        inc = incidents.get(session, incident_id=incident_id)
        pending = session.scalars(
            select(Deadline).where(
                Deadline.purpose == "escalation",
                Deadline.fired_at.is_(None),
                Deadline.cancelled_at.is_(None),
            )
        ).all()
        actor = session.scalars(
            select(IncidentEvent.actor).where(IncidentEvent.kind == "acknowledged")
        ).all()
    assert (response.status_code, inc.status, pending) == (200, "acknowledged", [])
    assert actor == ["li-na"]


def test_it_only_shows_a_confirmation_on_get_so_link_previews_do_not_acknowledge(app):
    incident_id = open_incident(app)
    timers.fire_due(app)
    response = Client(app, {}).get(f"/api/ack/{_ack_token(app)}")
    with app.store.session() as session:
        status = incidents.get(session, incident_id=incident_id).status
    assert (response.status_code, "确认接手" in response.text, status) == (200, True, "open")


def test_it_refuses_a_forged_ack_link(app):
    open_incident(app)
    timers.fire_due(app)
    token = _ack_token(app)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = Client(app, {}).post(f"/api/ack/{forged}")
    assert (response.status_code, "bad signature" in response.text) == (403, True)


def test_it_refuses_an_expired_ack_link(app):
    open_incident(app)
    timers.fire_due(app)
    token = _ack_token(app)
    app.clock.advance(timedelta(hours=24))
    response = Client(app, {}).post(f"/api/ack/{token}")
    assert (response.status_code, "expired" in response.text) == (403, True)


def test_it_acknowledges_by_api_with_an_operator_token(app):
    incident_id = open_incident(app)
    response = Client(app, BEARER["operator"]).post(
        f"/api/incidents/{incident_id}/ack", json={"reason": "已接手"}
    )
    assert (response.status_code, response.json()["status"]) == (200, "acknowledged")


def test_it_refuses_api_acknowledgement_to_a_viewer(app):
    incident_id = open_incident(app)
    response = Client(app, BEARER["viewer"]).post(f"/api/incidents/{incident_id}/ack")
    assert response.status_code == 403
