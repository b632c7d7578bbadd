"""Random transition sequences never reach an illegal state and keep the audit trail
complete (P3.2, R3.1): the acceptance property of issue 6/7."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline_ops.core import ticket_rules as rules
from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.store.tickets import Ticket
from hotline_ops.tickets import audit, service
from hotline_ops.tickets.schemas import ActionIn
from tests.tickets.helpers import REPLY, body, ticket_site

PUBLIC = sorted(set(rules.ACTIONS) - rules.INTERNAL)
UNITS = ["wz-env", "wz-housing", "wanxiu-gov"]
SATISFACTION = {"via": "seat", "attitude": 3, "efficiency": 2, "result": 3}


def _body(unit: str, into: int) -> ActionIn:
    """Every field any action needs, so refusals come from the state machine."""
    return ActionIn(
        reason="测试", lead_unit=unit, days=3, into=into, satisfaction=SATISFACTION, **REPLY
    )


@given(st.lists(st.sampled_from(PUBLIC), max_size=60))
def test_it_never_leaves_the_state_set_in_the_pure_machine(actions):
    state, flow = rules.RECEIVED, rules.Flow(review_levels=2)
    for action in actions:
        try:
            new = rules.next_state(state, action, flow)
        except IllegalTransition:
            assert action not in rules.allowed(state, flow)
            continue
        flow = _next_flow(flow, state, action)
        state = new
        assert state in rules.STATES


def _next_flow(flow: rules.Flow, state: str, action: str) -> rules.Flow:
    passed = {"approve": flow.review_passed + 1, "reject": 0, "submit": 0}
    pending = {"extend_request": True, "extend_approve": False, "extend_reject": False}
    return rules.Flow(
        flow.review_levels,
        passed.get(action, flow.review_passed),
        pending.get(action, flow.extension_pending),
    )


@pytest.fixture
def app(tmp_path, make_app):
    return make_app(ticket_site(tmp_path / "site"))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(st.tuples(st.sampled_from(PUBLIC), st.sampled_from(UNITS)), max_size=40))
def test_it_keeps_state_legal_and_the_audit_trail_complete_over_random_steps(app, steps):
    main = service.create(app, body=body(caller_number="13977400009"), actor="seat")
    ticket = service.create(app, body=body(), actor="seat")
    applied = 0
    for action, unit in steps:
        before = _snapshot(app, ticket.id)
        try:
            service.act(
                app, ticket_id=ticket.id, action=action, actor="u", body=_body(unit, main.id)
            )
        except (IllegalTransition, BadRequest):
            assert _snapshot(app, ticket.id) == before  # refused: nothing stored
            continue
        applied += 1
        status, events = _snapshot(app, ticket.id)
        assert status in rules.STATES
        assert events == before[1] + 1
    _assert_trail(app, ticket.id, applied)


def _snapshot(app, ticket_id: int) -> tuple[str, int]:
    with app.store.session() as session:
        row = session.get(Ticket, ticket_id)
        return row.status, len(audit.events_of(session, ticket_id))


def _assert_trail(app, ticket_id: int, applied: int) -> None:
    """One event per applied step after the intake, each starting where the last ended,
    each allowed by the machine, the hash chain intact."""
    with app.store.session() as session:
        ticket = session.get(Ticket, ticket_id)
        events = audit.events_of(session, ticket_id)
        assert len(events) == applied + 1
        for prev, event in itertools.pairwise(events):
            assert event.from_state == prev.to_state
            assert event.from_state in rules.ACTIONS[event.action].sources
        assert events[-1].to_state == ticket.status
        assert audit.verify(session, ticket) is None
