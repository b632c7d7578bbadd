"""Pure rules: which runbook applies to an incident; how an Ansible event reads."""

from __future__ import annotations

from hotline_ops.core.matchers import parse
from hotline_ops.core.runbooks import Runbook, Selector, Step, applicable, task_event


def _rb(name: str, *selectors: Selector, level: int | None = None) -> Runbook:
    return Runbook(name, name, level, selectors, (Step(1, text="x"),))


TRUNK = Selector(match={"component": ("trunk",)})
TRUNK_CT = Selector(match={"component": ("trunk",), "carrier": ("ct",)})
ALERT = Selector(matchers=(parse('alertname=~"Trunk.*"'),))


def test_it_applies_a_runbook_when_any_selector_holds() -> None:
    books = {"a": _rb("a", TRUNK, ALERT)}
    hits = [applicable(books, labels) for labels in ({"component": "trunk"},
            {"alertname": "TrunkDown"}, {"component": "span"})]  # fmt: skip
    assert [[rb.name for rb in h] for h in hits] == [["a"], ["a"], []]


def test_it_prefers_the_most_specific_selector() -> None:
    books = {"general": _rb("general", TRUNK), "ct": _rb("ct", TRUNK_CT)}
    found = applicable(books, {"component": "trunk", "carrier": "ct"})
    assert [rb.name for rb in found] == ["ct", "general"]


def test_it_prefers_the_runbook_written_for_the_incidents_level_on_a_tie() -> None:
    books = {"a": _rb("a", TRUNK, level=3), "b": _rb("b", TRUNK, level=1)}
    assert [rb.name for rb in applicable(books, {"component": "trunk"}, level=1)] == ["b", "a"]


def test_it_never_applies_a_runbook_without_selectors() -> None:
    assert applicable({"m": _rb("m")}, {"component": "trunk"}) == []


def _event(name: str, **data) -> dict:
    return {"event": name, "event_data": {"host": "app1", "task": "检查", **data}}


def test_it_reads_a_changed_result_as_changed() -> None:
    shown = task_event(_event("runner_on_ok", res={"changed": True}))
    assert (shown.kind, shown.host, shown.task) == ("task.changed", "app1", "检查")


def test_it_keeps_the_first_line_of_a_failure_message() -> None:
    shown = task_event(_event("runner_on_failed", res={"msg": "disk full\nmore detail"}))
    assert (shown.kind, shown.message, shown.fails_run) == ("task.failed", "disk full", True)


def test_it_does_not_fail_the_run_on_an_ignored_error() -> None:
    shown = task_event(_event("runner_on_failed", ignore_errors=True, res={"msg": "x"}))
    assert (shown.kind, shown.fails_run) == ("task.failed", False)


def test_it_skips_events_without_a_host() -> None:
    assert task_event({"event": "playbook_on_stats", "event_data": {}}) is None


def test_it_drops_our_variables_and_anything_holding_a_secret_from_the_child_env() -> None:
    from hotline_ops.runbooks.runner import clean_env

    env = {"HOTLINE_OPS_SECRET_X": "s3", "TOKEN_URL": "https://u:s3@h", "LANG": "C", "PATH": "/bin"}
    cleaned = clean_env(env, ["s3"])
    assert sorted(cleaned) == ["LANG", "PATH"]
    assert cleaned["PATH"].endswith(":/bin") and cleaned["PATH"].split(":")[0].endswith("bin")


def test_it_scrubs_every_file_under_the_artifacts(tmp_path) -> None:
    from hotline_ops.runbooks.runner import scrub_tree

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "event.json").write_text('{"msg": "pw=hunter2-long"}')
    (tmp_path / "stdout").write_text("nothing here")
    changed = scrub_tree(tmp_path, ["hunter2-long", "hunter2"])
    assert (changed, (tmp_path / "a" / "b" / "event.json").read_text()) == (1, '{"msg": "pw=***"}')
