"""The pure rules (matchers, fingerprints, grouping, inhibition) and the files that
configure them (incidents/alerts.yaml, the api section of hotline-ops.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_ops.content import load_alerting
from hotline_ops.core import alerts as core
from hotline_ops.core import matchers
from hotline_ops.core.alerts import AlertPolicy, Firing, GroupRule, InhibitRule, SourcePolicy
from hotline_ops.core.matchers import Matcher
from hotline_ops.errors import ConfigError
from hotline_ops.services import auth
from hotline_ops.settings import load_settings
from tests.conftest import ROOT
from tests.support.content import write_content


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ("trunk=ct-1", {"trunk": "ct-1"}, True),
        ('trunk="ct-1"', {"trunk": "ct-1"}, True),
        ("trunk=ct-1", {"trunk": "ct-10"}, False),
        ("trunk!=ct-1", {"trunk": "ct-2"}, True),
        ("trunk!=ct-1", {}, True),
        ("alertname=~Trunk.*", {"alertname": "TrunkDown"}, True),
        # Anchored at both ends, as in Alertmanager: a substring is not a match.
        ("alertname=~Down", {"alertname": "TrunkDown"}, False),
        ("alertname=~Trunk|Span", {"alertname": "SpanDown"}, False),
        ("alertname=~Trunk|SpanDown", {"alertname": "SpanDown"}, True),
        ("alertname!~Trunk.*", {"alertname": "SpanDown"}, True),
        # A missing label matches as the empty string.
        ('trunk=""', {}, True),
        ("trunk=~.*", {}, True),
        ('summary="a \\"quoted\\" value"', {"summary": 'a "quoted" value'}, True),
    ],
)
def test_it_matches_labels_as_alertmanager_does(text, labels, hit):
    assert matchers.parse(text).matches(labels) is hit


def test_it_round_trips_matchers_through_alertmanagers_json():
    m = matchers.parse('gateway!~"mg-(1|2)"')
    assert m.to_dict() == {
        "name": "gateway",
        "value": "mg-(1|2)",
        "isRegex": True,
        "isEqual": False,
    }
    assert (matchers.from_dict(m.to_dict()), str(m)) == (m, 'gateway!~"mg-(1|2)"')


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("trunk", "'trunk' is not name=value, name!=value, name=~regex or name!~regex"),
        ("1trunk=x", "'1trunk=x' is not name=value, name!=value, name=~regex or name!~regex"),
        ("a=~(", "'a=~(': a: bad regex '(': missing ), unterminated subpattern at position 0"),
        # A regex cannot break out of the anchoring group.
        ("a=~x)|(y", "'a=~x)|(y': a: bad regex 'x)|(y': unbalanced parenthesis at position 1"),
    ],
)
def test_it_refuses_a_bad_matcher_naming_it(text, error):
    with pytest.raises(ValueError) as err:
        matchers.parse(text)
    assert str(err.value) == error


def test_it_refuses_a_silence_that_would_match_everything():
    with pytest.raises(ValueError, match="at least one matcher must not match the empty string"):
        matchers.check_silence_matchers([matchers.parse("job=~.*"), matchers.parse("x!=y")])
    matchers.check_silence_matchers([matchers.parse("job=~.+")])


def test_it_computes_prometheus_label_fingerprints():
    # FNV-1a 64 offset basis: Prometheus' fingerprint of the empty label set.
    assert core.fingerprint({}) == "cbf29ce484222325"
    assert core.fingerprint({"alertname": "TrunkDown", "trunk": "ct-1"}) == "bf51de6da9ac0397"
    # Order of the mapping does not matter; names and values are not interchangeable.
    assert core.fingerprint({"trunk": "ct-1", "alertname": "TrunkDown"}) == "bf51de6da9ac0397"
    assert core.fingerprint({"a": "bc"}) != core.fingerprint({"ab": "c"})


def test_it_groups_by_the_first_rule_that_applies():
    policy = AlertPolicy(
        grouping=(
            GroupRule(("trunk",), (matchers.parse("alertname=NumberDown"),)),
            GroupRule(("gateway", "span")),
        )
    )
    assert core.group_of(policy, {"alertname": "NumberDown", "trunk": "ct-1"}, "f1") == (
        "trunk=ct-1",
        {"trunk": "ct-1"},
    )
    # The first rule lacks its label here; the second applies.
    labels = {"alertname": "NumberDown", "gateway": "mg-1", "span": "2"}
    assert core.group_of(policy, labels, "f2") == (
        "gateway=mg-1,span=2",
        {"gateway": "mg-1", "span": "2"},
    )
    assert core.group_of(policy, {"alertname": "X"}, "f3") == ("f3", {})


def test_it_hashes_a_group_key_too_long_for_the_column():
    key = core.dedup_key("number=" + "1" * 400)
    assert (key[:13], len(key)) == ("alert:sha256:", 77)


def test_it_titles_an_incident_from_summary_or_labels():
    assert core.title({"alertname": "A"}, {"summary": " Trunk down "}, {}) == "Trunk down"
    assert core.title({"alertname": "A", "b": "2", "a": "1"}, {}, {}) == "A a=1 b=2"
    assert core.title({"alertname": "A", "b": "2"}, {}, {"trunk": "ct-1"}) == "A trunk=ct-1"


def test_it_inhibits_only_with_equal_labels_and_never_by_itself():
    rule = InhibitRule(
        (matchers.parse("severity=critical"),), (matchers.parse("severity=~.+"),), ("site",)
    )
    policy = AlertPolicy(inhibit_rules=(rule,))
    crit = Firing("c1", {"severity": "critical", "site": "wz"})
    # The critical alert matches both sides: it does not inhibit itself.
    assert core.inhibited_by(policy, "c1", crit.labels, [crit]) is None
    warn = {"severity": "warning", "site": "wz"}
    assert core.inhibited_by(policy, "w1", warn, [crit]) == "c1"
    assert core.inhibited_by(policy, "w2", {**warn, "site": "nn"}, [crit]) is None


def test_it_loads_the_example_alerts_file():
    policy = load_alerting(ROOT / "incidents" / "alerts.yaml")
    assert policy.sources == {
        "alertmanager": SourcePolicy(True, None),
        "api": SourcePolicy(True, 300.0),
    }
    assert [(g.group_by, [str(m) for m in g.matchers]) for g in policy.grouping] == [
        (("trunk",), ['alertname=~"TrunkDown|NumberDown"']),
        (("gateway",), ['alertname=~"GatewayDown|SpanDown"']),
    ]
    assert [
        ([str(m) for m in r.source], [str(m) for m in r.target], r.equal)
        for r in policy.inhibit_rules
    ] == [
        (['alertname="TrunkDown"'], ['alertname="NumberDown"'], ("trunk",)),
        (['alertname="GatewayDown"'], ['alertname="SpanDown"'], ("gateway",)),
    ]


def test_it_defaults_without_an_alerts_file(tmp_path):
    assert load_alerting(tmp_path / "missing.yaml") == AlertPolicy()


def test_it_keeps_a_sources_default_timeout_unless_given(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "sources:\n  api: {auto_resolve: false}\n  alertmanager:\n    resolve_timeout: 1h\n"
    )
    assert load_alerting(path).sources == {
        "alertmanager": SourcePolicy(True, 3600.0),
        "api": SourcePolicy(False, 300.0),
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "grouping:\n  - group_by: [trunk]\n    matchers: ['trunk~ct']\n",
            "alerts.yaml:3: grouping.0.matchers: 'trunk~ct' is not name=value, name!=value, "
            "name=~regex or name!~regex",
        ),
        (
            "inhibit_rules:\n  - source_matchers: ['a=b']\n    target_matchers: []\n",
            "alerts.yaml:3: inhibit_rules.0.target_matchers: List should have at least 1 item "
            "after validation, not 0",
        ),
        (
            "sources:\n  prometheus: {auto_resolve: false}\n",
            "alerts.yaml:2: sources.prometheus.[key]: Input should be 'alertmanager' or 'api'",
        ),
        (
            "sources:\n  api:\n    resolve_timeout: soon\n",
            "alerts.yaml:3: sources.api.resolve_timeout: not a duration: 'soon' "
            "(use e.g. 30s, 5m, 2h, 1h30m)",
        ),
    ],
)
def test_it_names_file_line_and_field_of_a_bad_alerts_file(tmp_path, text, error):
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_alerting(path)
    assert str(err.value) == f"{tmp_path}/{error}"


def test_it_reads_api_tokens_from_settings_and_secrets(tmp_path):
    tokens = [{"name": "am", "role": "ingest", "secret": "am_token"}]
    root = write_content(tmp_path, settings={"api": {"tokens": tokens, "public_metrics": False}})
    settings = load_settings(root, env={"HOTLINE_OPS_SECRET_AM_TOKEN_FILE": _file(tmp_path)})
    loaded = auth.load_tokens(settings)
    assert (settings.api.public_metrics, loaded.tokens) == (
        False,
        (auth.Token("am", "ingest", b"from-a-file"),),
    )
    assert "from-a-file" not in repr(loaded)


def _file(folder: Path) -> str:
    path = folder / "am_token"
    path.write_text("from-a-file\n")
    return str(path)


@pytest.mark.parametrize(
    ("tokens", "error"),
    [
        (
            [{"name": "a", "role": "root", "secret": "s"}],
            "hotline-ops.yaml:13: api.tokens.0.role: Input should be 'viewer', 'ingest', "
            "'operator' or 'admin'",
        ),
        (
            [{"name": "a", "role": "viewer", "secret": "s"}] * 2,
            "hotline-ops.yaml:11: api.tokens: token name 'a' is used twice",
        ),
    ],
)
def test_it_refuses_bad_api_tokens_with_file_and_line(tmp_path, tokens, error):
    root = write_content(tmp_path, settings={"api": {"tokens": tokens}})
    with pytest.raises(ConfigError) as err:
        load_settings(root, env={})
    assert str(err.value) == f"{tmp_path}/{error}"


def test_it_refuses_two_tokens_with_the_same_value(tmp_path):
    tokens = [
        {"name": "a", "role": "viewer", "secret": "one"},
        {"name": "b", "role": "admin", "secret": "two"},
    ]
    root = write_content(tmp_path, settings={"api": {"tokens": tokens}})
    env = {"HOTLINE_OPS_SECRET_ONE": "same", "HOTLINE_OPS_SECRET_TWO": "same"}
    with pytest.raises(ConfigError) as err:
        auth.load_tokens(load_settings(root, env=env))
    assert str(err.value) == "api.tokens.1.secret: the same value as another token"


def test_it_checks_the_token_in_constant_time_against_every_token():
    tokens = auth.Tokens((auth.Token("a", "viewer", b"aaa"), auth.Token("b", "admin", b"bbb")))
    assert tokens.identify("bbb").name == "b"
    assert tokens.identify("bb") is None
    assert tokens.identify("ünicode") is None
    with pytest.raises(auth.Denied) as err:
        auth.authorize(tokens, "bearer aaa", auth.SILENCE)
    assert (err.value.status, err.value.message) == (403, "token 'a' (role viewer) may not silence")


def test_matcher_equality_ignores_the_compiled_pattern():
    assert Matcher("a", "b.*", True) == Matcher("a", "b.*", True)
