"""The shipped Prometheus rules and Alertmanager config: valid for the real tools (promtool,
amtool from the Debian packages), the rules fire as intended (`promtool test rules`), and
hotline-ops' shipped levels.yaml gives each alert the level its `impact` label promises."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from hotline_ops.content import load_levels

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
LEVELS_YML = ROOT / "incidents" / "levels.yaml"
UNIT_TESTS = Path(__file__).resolve().parent / "rules_test.yml"
CJK = re.compile(r"[\u4e00-\u9fff]")
IMPACT_LEVEL = {"system": 1, "core": 2}


def tool(name: str) -> str:
    """A missing binary fails the test: the Debian packages are part of `make test`."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    assert path, f"{name} not found: install the Debian packages prometheus prometheus-alertmanager"
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd)


def shipped_rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules():
    out = run(tool("promtool"), "check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 11 rules found" in out.stdout


def test_promtool_accepts_the_example_prometheus_config():
    out = run(tool("promtool"), "check", "config", PROMETHEUS_YML.name, cwd=PROMETHEUS_YML.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def test_amtool_accepts_the_alertmanager_config():
    out = run(tool("amtool"), "check-config", str(ALERTMANAGER_YML))
    assert out.returncode == 0, out.stdout + out.stderr


def test_alertmanager_posts_everything_to_hotline_ops_with_a_bearer_file():
    doc = yaml.safe_load(ALERTMANAGER_YML.read_text(encoding="utf-8"))
    assert doc["route"]["receiver"] == "hotline-ops"
    assert "routes" not in doc["route"]
    (receiver,) = doc["receivers"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == "http://127.0.0.1:8345/api/alertmanager"
    assert hook["send_resolved"] is True
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    assert auth["credentials_file"].startswith("/")
    assert "credentials" not in auth  # never a token in the file itself


def test_every_rule_has_severity_impact_and_a_chinese_summary():
    for rule in shipped_rules():
        labels, notes = rule["labels"], rule["annotations"]
        assert labels["severity"] in {"critical", "warning"}, rule["alert"]
        assert labels["impact"] in {"system", "core", "degraded", "monitoring"}, rule["alert"]
        assert CJK.search(notes["summary"]), rule["alert"]
        # A `level` label on an alert overrides hotline-ops' rules: never ship one.
        assert "level" not in labels, rule["alert"]


def test_shipped_levels_classify_alerts_by_impact():
    policy = load_levels(LEVELS_YML, {"ops-webhook"})
    for rule in shipped_rules():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        wanted = IMPACT_LEVEL.get(labels["impact"], policy.default_level)
        assert policy.classify(labels).level == wanted, rule["alert"]


def test_rules_fire_as_intended():
    """tests/ecosystem/rules_test.yml: TrunkDown after its `for:`, and every other rule."""
    out = run(tool("promtool"), "test", "rules", str(UNIT_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout
