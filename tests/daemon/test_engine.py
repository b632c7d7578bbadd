"""The probe engine on the real clock: every target runs on its interval, checks in flight
are bounded, schedule lag is measured, stop() is prompt, a crashing probe is contained."""

from __future__ import annotations

import asyncio
import time

from hotline_ops.app import build_app
from hotline_ops.clock import SystemClock
from hotline_ops.engine import ProbeEngine
from hotline_ops.metrics import SCHEDULE_LAG
from hotline_ops.services import probing
from hotline_ops.settings import load_settings
from tests.support.content import write_content


def engine_app(tmp_path, targets):
    root = write_content(tmp_path / "site", targets=targets)
    app = build_app(load_settings(root, env={}), clock=SystemClock())
    app.store.upgrade()
    return app


def fakes(count: int, interval: str = "0.2s", **extra):
    base = {"kind": "fake", "interval": interval, "timeout": "0.15s", "latency_s": 0.0}
    return [{"name": f"t{i}", **base, **extra} for i in range(count)]


def run_for(engine: ProbeEngine, seconds: float) -> float:
    """Run the engine, stop it after ``seconds``; return how long stopping took."""

    async def main() -> float:
        task = asyncio.create_task(engine.run())
        await asyncio.sleep(seconds)
        started = time.monotonic()
        engine.stop()
        await task
        return time.monotonic() - started

    return asyncio.run(main())


def test_it_runs_each_target_about_once_per_interval(tmp_path):
    app = engine_app(tmp_path, fakes(20))
    engine = ProbeEngine(app, probing.Recorder(app), seed=1)
    run_for(engine, 2.1)
    # 20 targets × 2.1 s ÷ 0.2 s: first runs are spread over the first interval.
    assert 180 <= engine.completed <= 220
    app.close()


def test_it_stores_the_state_of_every_target(tmp_path):
    app = engine_app(tmp_path, fakes(5))
    run_for(ProbeEngine(app, probing.Recorder(app), seed=1), 0.6)
    with app.store.session() as session:
        states = probing.states(session)
    assert sorted((n, s.status) for n, s in states.items()) == [(f"t{i}", "up") for i in range(5)]
    app.close()


def test_it_stops_within_half_a_second(tmp_path):
    app = engine_app(tmp_path, fakes(5, interval="10s"))
    took = run_for(ProbeEngine(app, probing.Recorder(app), seed=1), 0.3)
    assert took < 0.5
    app.close()


def test_it_observes_schedule_lag_for_every_check(tmp_path):
    before = SCHEDULE_LAG.collect()[0].samples
    count_before = next(s.value for s in before if s.name.endswith("_count"))
    app = engine_app(tmp_path, fakes(10))
    engine = ProbeEngine(app, probing.Recorder(app), seed=1)
    run_for(engine, 1.0)
    after = SCHEDULE_LAG.collect()[0].samples
    count_after = next(s.value for s in after if s.name.endswith("_count"))
    assert count_after - count_before == engine.completed
    app.close()


def test_it_bounds_checks_in_flight(tmp_path):
    app = engine_app(tmp_path, fakes(10, interval="1s", timeout="0.9s", latency_s=0.5))
    engine = ProbeEngine(app, probing.Recorder(app), concurrency=2, seed=1)
    run_for(engine, 1.9)
    # Two at a time, 0.5 s each: at most 2 × 1.9 ÷ 0.5 = 7 checks can finish.
    assert engine.completed <= 8
    app.close()


def test_it_records_a_check_that_outlives_its_timeout_as_a_timeout(tmp_path):
    # The engine bounds tcp/http/fake attempts itself (one deadline sweep, no timer per
    # check): a 0.5 s check under a 0.1 s timeout must come back as exactly that failure.
    app = engine_app(tmp_path, fakes(1, interval="0.3s", timeout="0.1s", latency_s=0.5, attempts=1))
    engine = ProbeEngine(app, probing.Recorder(app), seed=1)
    run_for(engine, 0.7)
    with app.store.session() as session:
        state = probing.states(session)["t0"]
    assert (state.status, state.detail, state.latency_s) == ("down", "timeout after 0.1s", None)
    assert engine.completed >= 1
    app.close()


def test_it_records_a_probe_that_cannot_be_built_as_a_failed_check(tmp_path, monkeypatch):
    # A probe whose construction fails at run time (its params were valid when the content
    # loaded): the engine must record a failed check and keep probing the others.
    from hotline_ops.probes.fake import FakeProbe

    broken = {**fakes(1)[0], "name": "broken", "detail": "broken", "attempts": 1}
    app = engine_app(tmp_path, [*fakes(1), broken])
    real_init = FakeProbe.__init__

    def init(self, params):
        if params.get("detail") == "broken":
            raise RuntimeError("no such device")
        real_init(self, params)

    monkeypatch.setattr(FakeProbe, "__init__", init)
    engine = ProbeEngine(app, probing.Recorder(app), seed=1)
    run_for(engine, 0.5)
    with app.store.session() as session:
        states = probing.states(session)
    assert (states["broken"].status, states["broken"].detail) == (
        "down",
        "probe error: no such device",
    )
    assert states["t0"].status == "up"
    app.close()
