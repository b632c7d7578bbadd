"""The ``runbook`` commands and ``incident show`` naming the runbook, through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from hotline_ops.cli.main import cli
from tests.runbooks.conftest import open_incident, runbook_text

TRUNK = [{"match": {"component": "trunk"}}]


def _run(app, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=app)


def _book(tmp_path: Path, **vars_) -> dict[str, str]:
    steps = [
        {"title": "确认影响", "text": "看 incident show"},
        {"playbook": "test", "vars": {"marker": str(tmp_path / "marker"), **vars_}},
    ]
    return {"trunk-down": runbook_text(steps, TRUNK, level=2)}


def test_it_lists_runbooks_as_json(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    result = _run(app, "runbook", "list", "--json")
    rows = json.loads(result.stdout)
    assert [(r["name"], r["level"], r["applies_to"]) for r in rows] == [
        ("trunk-down", 2, ["component=trunk"])
    ]


def test_it_shows_a_runbooks_steps_as_json(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    data = json.loads(_run(app, "runbook", "show", "trunk-down", "--json").stdout)
    assert [s.get("text") or s.get("playbook") for s in data["steps"]] == [
        "看 incident show",
        "test.yml",
    ]


def test_it_exits_3_for_an_unknown_runbook(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    result = _run(app, "runbook", "show", "nosuch")
    assert (result.exit_code, result.stderr) == (
        3,
        "error: runbook 'nosuch' does not exist (hotline-ops runbook list)\n",
    )


def test_it_runs_a_runbook_and_prints_its_steps(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    incident_id = open_incident(app, {"component": "trunk"})
    result = _run(app, "runbook", "run", "trunk-down", "--incident", str(incident_id))
    lines = result.stdout.splitlines()
    assert result.exit_code == 0, result.output
    assert lines[0] == " 1. 确认影响: 看 incident show"
    assert lines[1].startswith(" 2. [playbook test.yml]  run #1")
    assert "    changed     local            second" in lines


def test_it_exits_1_and_names_the_failed_task(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path, fail_third=True))
    result = _run(app, "runbook", "run", "trunk-down", "--json")
    [row] = json.loads(result.stdout)
    assert (result.exit_code, row["status"], row["failed_task"]) == (1, "failed", "third")


def test_it_overrides_a_var_from_the_command_line(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    other = tmp_path / "other"
    result = _run(app, "runbook", "run", "trunk-down", "--var", f"marker={other}", "--json")
    assert (result.exit_code, other.exists(), (tmp_path / "marker").exists()) == (0, True, False)


def test_it_refuses_a_bad_timeout(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    result = _run(app, "runbook", "run", "trunk-down", "--timeout", "soon")
    assert (result.exit_code, result.stderr) == (
        8,
        "error: --timeout: not a duration: 'soon' (use e.g. 30s, 5m, 2h, 1h30m)\n",
    )


def test_it_refuses_to_cancel_a_finished_run(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    _run(app, "runbook", "run", "trunk-down")
    result = _run(app, "runbook", "cancel", "1")
    assert (result.exit_code, result.stderr) == (4, "error: run #1 is successful, not running\n")


def test_it_lists_runs_of_an_incident(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    incident_id = open_incident(app, {"component": "trunk"})
    _run(app, "runbook", "run", "trunk-down", "--incident", str(incident_id), "--check")
    _run(app, "runbook", "run", "trunk-down")
    rows = json.loads(_run(app, "runbook", "runs", "--incident", str(incident_id), "--json").stdout)
    assert [(r["id"], r["check_mode"], r["status"]) for r in rows] == [(1, True, "successful")]


def test_it_names_the_runbook_in_incident_show(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    incident_id = open_incident(app, {"component": "trunk"})
    data = json.loads(_run(app, "incident", "show", str(incident_id), "--json").stdout)
    text = _run(app, "incident", "show", str(incident_id)).stdout
    assert data["runbooks"] == {"runbook": "trunk-down", "others": [], "error": None}
    assert "runbook: trunk-down  → hotline-ops runbook show trunk-down" in text


def test_it_names_no_runbook_for_an_incident_none_applies_to(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    incident_id = open_incident(app, {"component": "span"})
    data = json.loads(_run(app, "incident", "show", str(incident_id), "--json").stdout)
    assert data["runbooks"]["runbook"] is None


def test_it_keeps_incident_show_working_with_a_broken_runbook(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    incident_id = open_incident(app, {"component": "trunk"})
    broken = Path(app.settings.root) / "runbooks" / "broken.md"
    broken.write_text("---\ntitle: x\nsteps: []\n---\n", encoding="utf-8")
    result = _run(app, "incident", "show", str(incident_id), "--json")
    assert (result.exit_code, json.loads(result.stdout)["runbooks"]["error"]) == (
        0,
        f"{broken}:3: steps: List should have at least 1 item after validation, not 0",
    )


def test_it_reports_a_broken_runbook_in_one_line_and_loses_nothing(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    incident_id = open_incident(app, {"component": "trunk"})
    broken = Path(app.settings.root) / "runbooks" / "broken.md"
    broken.write_text("---\ntitle: x\nsteps:\n  - playbook: nosuch\n---\n", encoding="utf-8")
    result = _run(app, "runbook", "run", "trunk-down", "--incident", str(incident_id))
    shown = json.loads(_run(app, "incident", "show", str(incident_id), "--json").stdout)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {broken}:4: steps.0.playbook: no playbook 'nosuch'")
    assert len(result.stderr.splitlines()) == 1
    assert [e["kind"] for e in shown["timeline"]] == ["opened"]


def test_it_refuses_a_step_naming_an_unset_secret_before_writing(build, tmp_path: Path) -> None:
    steps = [{"playbook": "test", "vars": {"marker": "x", "pw": {"secret": "nosuch"}}}]
    app = build({"rb": runbook_text(steps)})
    incident_id = open_incident(app)
    result = _run(app, "runbook", "run", "rb", "--incident", str(incident_id))
    shown = json.loads(_run(app, "incident", "show", str(incident_id), "--json").stdout)
    runs = json.loads(_run(app, "runbook", "runs", "--json").stdout)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: step 1 vars.pw: secret 'nosuch' is not set\n",
    )
    assert ([e["kind"] for e in shown["timeline"]], runs) == (["opened"], [])


def test_it_names_the_runner_yaml_line_of_an_unset_key_secret(build, tmp_path: Path) -> None:
    app = build(_book(tmp_path))
    runner_yaml = Path(app.settings.root) / "playbooks" / "runner.yaml"
    runner_yaml.write_text("forks: 2\nssh_key: ansible_ssh_key\n")
    result = _run(app, "runbook", "run", "trunk-down")
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {runner_yaml}:2: ssh_key: secret 'ansible_ssh_key' is not set "
        "(HOTLINE_OPS_SECRET_ANSIBLE_SSH_KEY or …_FILE)\n",
    )
