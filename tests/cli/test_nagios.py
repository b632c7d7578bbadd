"""`probe run --nagios TARGET`: one plugin status line with perfdata, exit 0/1/2/3."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from hotline_ops.app import App
from hotline_ops.cli.main import cli
from hotline_ops.probes.base import ProbeResult
from hotline_ops.services.nagios import perfdata, status_line
from tests.support.content import write_content


def app_with(tmp_path: Path, make_app, targets: list[dict]) -> App:
    return make_app(write_content(tmp_path / "site", targets=targets))


def nagios(app: App, *names: str) -> Result:
    return CliRunner().invoke(cli, ["probe", "run", "--nagios", *names], obj=app)


def outcome(result: Result) -> tuple[int, str, str]:
    return result.exit_code, result.stdout, result.stderr


# --- through the CLI ----------------------------------------------------------------------


def test_it_exits_0_with_an_ok_line_and_the_latency_as_perfdata(tmp_path: Path, make_app) -> None:
    app = app_with(tmp_path, make_app, [{"name": "db", "kind": "fake"}])
    assert outcome(nagios(app, "db")) == (0, "OK - db: fake ok | time=0.001000s;;;0\n", "")


def test_it_reports_the_probes_own_latency_in_the_perfdata(tmp_path: Path, make_app) -> None:
    app = app_with(tmp_path, make_app, [{"name": "db", "kind": "fake", "latency_s": 0.0125}])
    assert outcome(nagios(app, "db")) == (0, "OK - db: fake ok | time=0.012500s;;;0\n", "")


def test_it_exits_2_with_a_critical_line_for_a_failing_check(tmp_path: Path, make_app) -> None:
    app = app_with(tmp_path, make_app, [{"name": "db", "kind": "fake", "results": [False]}])
    assert outcome(nagios(app, "db")) == (
        2,
        "CRITICAL - db: fake failure | time=0.001000s;;;0\n",
        "",
    )


def test_it_leaves_out_the_perfdata_of_a_check_that_timed_out(tmp_path: Path, make_app) -> None:
    slow = {"name": "db", "kind": "fake", "latency_s": 0.5, "timeout": 0.05}
    app = app_with(tmp_path, make_app, [slow])
    assert outcome(nagios(app, "db")) == (2, "CRITICAL - db: timeout after 0.05s\n", "")


def test_it_prints_the_probes_detail_in_the_status_line(tmp_path: Path, make_app) -> None:
    target = {"name": "web", "kind": "fake", "detail": "HTTP 200 in 1 ms"}
    app = app_with(tmp_path, make_app, [target])
    assert outcome(nagios(app, "web")) == (
        0,
        "OK - web: HTTP 200 in 1 ms | time=0.001000s;;;0\n",
        "",
    )


def test_it_exits_3_with_an_unknown_line_for_an_unknown_target(tmp_path: Path, make_app) -> None:
    app = app_with(tmp_path, make_app, [{"name": "db", "kind": "fake"}])
    assert outcome(nagios(app, "x")) == (
        3,
        "UNKNOWN - unknown target 'x' (see 'hotline-ops probe list')\n",
        "",
    )


def test_it_exits_3_when_given_two_targets(tmp_path: Path, make_app) -> None:
    targets = [{"name": "db", "kind": "fake"}, {"name": "web", "kind": "fake"}]
    app = app_with(tmp_path, make_app, targets)
    assert outcome(nagios(app, "db", "web")) == (
        3,
        "UNKNOWN - --nagios takes exactly one TARGET\n",
        "",
    )


def test_it_exits_3_when_given_no_target(tmp_path: Path, make_app) -> None:
    app = app_with(tmp_path, make_app, [{"name": "db", "kind": "fake"}])
    assert outcome(nagios(app)) == (3, "UNKNOWN - --nagios takes exactly one TARGET\n", "")


# --- the status line ----------------------------------------------------------------------

REFUSED = ProbeResult(
    ok=True,
    latency_s=0.012,
    detail="alive, refused probe: 404 Not Found",
    metrics={"sip_status": 404, "retransmits": 0},
    classification="refused",
)


def test_it_warns_about_a_target_that_is_alive_but_refuses_the_probe() -> None:
    assert status_line("trunk:x", REFUSED) == (
        "WARNING - trunk:x: alive, refused probe: 404 Not Found "
        "| time=0.012000s;;;0 retransmits=0 sip_status=404",
        1,
    )


def test_it_warns_about_a_result_classified_as_a_warning() -> None:
    result = ProbeResult(True, 0.5, "disk 91% full", classification="warning")
    assert status_line("gw", result) == ("WARNING - gw: disk 91% full | time=0.500000s;;;0", 1)


def test_it_is_critical_for_a_failed_check_whatever_its_classification() -> None:
    result = ProbeResult(False, None, "timeout after 4.0s", classification="refused")
    assert status_line("trunk:x", result) == ("CRITICAL - trunk:x: timeout after 4.0s", 2)


def test_it_is_ok_for_a_passing_check_with_another_classification() -> None:
    result = ProbeResult(True, 0.02, "200 OK", {"sip_status": 200}, "healthy")
    assert status_line("trunk:x", result) == (
        "OK - trunk:x: 200 OK | time=0.020000s;;;0 sip_status=200",
        0,
    )


def test_it_prints_no_perfdata_without_latency_or_metrics() -> None:
    assert status_line("db", ProbeResult(True, None, "fine")) == ("OK - db: fine", 0)


def test_it_replaces_characters_a_perfdata_label_cannot_hold() -> None:
    result = ProbeResult(True, None, "", {"cpu load %": 12.5, "q=depth": 3})
    assert perfdata(result) == "cpu_load__=12.5 q_depth=3"
