"""Settings: the root file, HOTLINE_OPS_* overrides, secrets, masking, and one-line errors."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline_ops.app import SecretMaskFilter
from hotline_ops.errors import ConfigError
from hotline_ops.settings import Settings, load_settings
from tests.conftest import ROOT

REPO_CONFIG = ROOT / "hotline-ops.yaml"
PG_URL = "postgresql+psycopg://u:pw-5ecret@h/db"
TOKEN = "tok-9f3e1c"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline-ops.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None, env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env)
    return str(caught.value)


@pytest.fixture
def secret_settings() -> Settings:
    return load_settings(
        REPO_CONFIG,
        env={"HOTLINE_OPS_DATABASE_URL": PG_URL, "HOTLINE_OPS_SECRET_WEBHOOK_TOKEN": TOKEN},
    )


@pytest.fixture
def masked_log(secret_settings: Settings) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskFilter(secret_settings.secret_values()))
    logger = logging.getLogger("tests.config.masked")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, out
    logger.removeHandler(handler)
    logger.propagate = True


# --- the repo's own root file -------------------------------------------------------------


def test_it_reads_the_site_name_from_the_repo_config() -> None:
    assert load_settings(REPO_CONFIG, env={}).site.name == "梧州12345热线"


def test_it_reads_the_time_zone_from_the_repo_config() -> None:
    assert load_settings(REPO_CONFIG, env={}).timezone == "Asia/Shanghai"


def test_it_defaults_to_sqlite_under_the_roots_var_folder() -> None:
    settings = load_settings(REPO_CONFIG, env={})
    assert settings.db_url() == f"sqlite:///{ROOT / 'var' / 'hotline-ops.db'}"


def test_it_resolves_the_root_to_the_config_files_folder() -> None:
    assert load_settings(REPO_CONFIG, env={}).root == ROOT


def test_it_finds_the_config_through_hotline_ops_config() -> None:
    settings = load_settings(None, env={"HOTLINE_OPS_CONFIG": str(REPO_CONFIG)})
    assert settings.site.code == "wuzhou-12345"


# --- env overrides ------------------------------------------------------------------------


def test_it_takes_the_database_url_from_the_env() -> None:
    settings = load_settings(REPO_CONFIG, env={"HOTLINE_OPS_DATABASE_URL": PG_URL})
    assert settings.db_url() == PG_URL


def test_it_overrides_a_nested_field_with_a_double_underscore() -> None:
    settings = load_settings(REPO_CONFIG, env={"HOTLINE_OPS_SITE__NAME": "测试"})
    assert (settings.site.name, settings.site.code) == ("测试", "wuzhou-12345")


def test_it_converts_an_env_string_to_the_fields_float() -> None:
    settings = load_settings(REPO_CONFIG, env={"HOTLINE_OPS_DAEMON__TIMER_POLL_S": "0.25"})
    assert (type(settings.daemon.timer_poll_s), settings.daemon.timer_poll_s) == (float, 0.25)


def test_it_keeps_the_other_fields_of_an_overridden_section() -> None:
    settings = load_settings(REPO_CONFIG, env={"HOTLINE_OPS_DAEMON__TIMER_POLL_S": "0.25"})
    assert (settings.daemon.outbox_poll_s, settings.daemon.outbox_max_attempts) == (1.0, 12)


def test_it_reads_an_override_from_a_file_with_the_file_suffix(tmp_path: Path) -> None:
    (tmp_path / "db-url").write_text(PG_URL + "\n", encoding="utf-8")
    env = {"HOTLINE_OPS_DATABASE_URL_FILE": str(tmp_path / "db-url")}
    assert load_settings(REPO_CONFIG, env=env).db_url() == PG_URL


def test_it_names_an_unreadable_override_file() -> None:
    env = {"HOTLINE_OPS_DATABASE_URL_FILE": "/nonexistent/db-url"}
    assert config_error(REPO_CONFIG, env) == (
        "env HOTLINE_OPS_DATABASE_URL_FILE: cannot read /nonexistent/db-url: "
        "No such file or directory"
    )


def test_it_rejects_an_override_for_an_unknown_field() -> None:
    assert config_error(REPO_CONFIG, {"HOTLINE_OPS_BOGUS": "1"}) == (
        "env HOTLINE_OPS_BOGUS: bogus: Extra inputs are not permitted"
    )


# --- secrets ------------------------------------------------------------------------------


def test_it_reads_a_secret_from_the_env() -> None:
    settings = load_settings(REPO_CONFIG, env={"HOTLINE_OPS_SECRET_WEBHOOK_TOKEN": TOKEN})
    assert settings.secret("webhook_token") == TOKEN


def test_it_reads_a_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    env = {"HOTLINE_OPS_SECRET_WEBHOOK_TOKEN_FILE": str(tmp_path / "token")}
    assert load_settings(REPO_CONFIG, env=env).secret("webhook_token") == TOKEN


def test_it_prefers_the_secret_file_over_the_plain_variable(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN, encoding="utf-8")
    env = {
        "HOTLINE_OPS_SECRET_WEBHOOK_TOKEN": "plain",
        "HOTLINE_OPS_SECRET_WEBHOOK_TOKEN_FILE": str(tmp_path / "token"),
    }
    assert load_settings(REPO_CONFIG, env=env).secret("webhook_token") == TOKEN


def test_it_answers_none_for_an_undefined_secret() -> None:
    assert load_settings(REPO_CONFIG, env={}).secret("webhook_token") is None


def test_it_lists_every_secret_and_the_db_password_for_masking(secret_settings: Settings) -> None:
    assert sorted(secret_settings.secret_values()) == sorted([TOKEN, "pw-5ecret"])


def test_it_keeps_secrets_out_of_the_repr(secret_settings: Settings) -> None:
    text = repr(secret_settings)
    assert (TOKEN in text, "pw-5ecret" in text) == (False, False)


def test_it_keeps_secrets_out_of_the_str(secret_settings: Settings) -> None:
    text = str(secret_settings)
    assert (TOKEN in text, "pw-5ecret" in text) == (False, False)


def test_it_masks_a_secret_passed_as_a_log_argument(masked_log) -> None:
    logger, out = masked_log
    logger.info("posting with token %s", TOKEN)
    assert out.getvalue() == "INFO tests.config.masked: posting with token ***\n"


def test_it_masks_the_database_password_in_a_log_line(masked_log) -> None:
    logger, out = masked_log
    logger.warning("cannot reach %s", PG_URL)
    assert out.getvalue() == (
        "WARNING tests.config.masked: cannot reach postgresql+psycopg://u:***@h/db\n"
    )


def test_it_leaves_a_log_line_without_secrets_alone(masked_log) -> None:
    logger, out = masked_log
    logger.info("%d targets up", 3)
    assert out.getvalue() == "INFO tests.config.masked: 3 targets up\n"


# --- errors -------------------------------------------------------------------------------


def test_it_names_file_line_and_field_for_an_unknown_time_zone(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  name: x\ntimezone: Mars/Base\n")
    assert config_error(path, {}) == f"{path}:3: timezone: unknown time zone 'Mars/Base'"


def test_it_names_file_line_and_key_for_an_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  name: x\ntimezone: UTC\nbogus: 1\n")
    assert config_error(path, {}) == f"{path}:4: bogus: Extra inputs are not permitted"


def test_it_names_file_line_and_key_for_an_unknown_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  name: x\n  nmae: y\n")
    assert config_error(path, {}) == f"{path}:3: site.nmae: Extra inputs are not permitted"


def test_it_names_file_and_line_of_a_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  name: x\n bad: [\n")
    assert config_error(path, {}) == (
        f"{path}:3: YAML syntax: expected <block end>, but found '<block mapping start>'"
    )


def test_it_names_file_and_line_of_a_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  name: x\ntimezone: UTC\ntimezone: Asia/Shanghai\n")
    assert config_error(path, {}) == f"{path}:4: duplicate key 'timezone'"


def test_it_names_a_missing_required_section(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone: UTC\nlisten: 127.0.0.1:8345\n")
    assert config_error(path, {}) == f"{path}:1: site: Field required"


def test_it_rejects_a_root_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- site\n")
    assert config_error(path, {}) == f"{path}:1: the root file must be a mapping"


def test_it_names_the_env_variable_of_a_bad_value() -> None:
    env = {"HOTLINE_OPS_DAEMON__TIMER_POLL_S": "fast"}
    assert config_error(REPO_CONFIG, env) == (
        "env HOTLINE_OPS_DAEMON__TIMER_POLL_S: daemon.timer_poll_s: "
        "Input should be a valid number, unable to parse string as a number"
    )


def test_it_names_the_env_variable_of_an_out_of_range_value() -> None:
    env = {"HOTLINE_OPS_DAEMON__TIMER_POLL_S": "0"}
    assert config_error(REPO_CONFIG, env) == (
        "env HOTLINE_OPS_DAEMON__TIMER_POLL_S: daemon.timer_poll_s: Input should be greater than 0"
    )


def test_it_names_the_path_of_a_missing_root_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert config_error(path, {}) == f"{path}: cannot read: No such file or directory"


def test_it_blames_the_env_variable_that_set_the_bad_field() -> None:
    env = {"HOTLINE_OPS_DAEMON__OUTBOX_POLL_S": "bad", "HOTLINE_OPS_DAEMON__TIMER_POLL_S": "0.5"}
    assert config_error(REPO_CONFIG, env) == (
        "env HOTLINE_OPS_DAEMON__OUTBOX_POLL_S: daemon.outbox_poll_s: "
        "Input should be a valid number, unable to parse string as a number"
    )


def test_it_blames_the_yaml_line_when_env_set_a_sibling_field(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  name: x\ndaemon:\n  outbox_poll_s: -1\n")
    env = {"HOTLINE_OPS_DAEMON__TIMER_POLL_S": "0.5"}
    assert config_error(path, env) == (
        f"{path}:4: daemon.outbox_poll_s: Input should be greater than 0"
    )


def test_it_masks_a_secret_in_a_logged_traceback(masked_log) -> None:
    logger, out = masked_log
    try:
        raise RuntimeError(f"rejected token {TOKEN}")
    except RuntimeError:
        logger.exception("send failed")
    assert TOKEN not in out.getvalue()
    assert "RuntimeError: rejected token ***" in out.getvalue()
