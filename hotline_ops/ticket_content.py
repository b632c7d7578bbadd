"""The ticket-service content folder ``tickets/``: dispatch catalogue, review chains, deadline
table and calendar overrides, validated with file:line errors before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from hotline_ops import yamlfile
from hotline_ops.core.durations import parse_duration
from hotline_ops.core.ticket_rules import TYPES
from hotline_ops.core.workdays import WorkCalendar
from hotline_ops.errors import ConfigError

Code = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
Seconds = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    region: str = Field(min_length=1)
    category: Code = Field(min_length=1)
    lead: str
    assist: list[str] = Field(default_factory=list)

    def matches(self, region: str, category: str) -> bool:
        region_ok = self.region in ("*", region)
        return region_ok and (self.category == "*" or category.startswith(self.category))


class Catalogue(_Strict):
    units: dict[str, str] = Field(min_length=1)
    categories: dict[Code, str] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_units(self) -> Catalogue:
        for i, rule in enumerate(self.rules):
            for unit in (rule.lead, *rule.assist):
                if unit not in self.units:
                    raise ValueError(f"rules.{i}: unknown unit '{unit}'")
        return self

    def route(self, region: str, category: str) -> Rule | None:
        return next((r for r in self.rules if r.matches(region, category)), None)


class Completeness(_Strict):
    min_reply_chars: int = Field(15, ge=0)
    required: list[str] = Field(default_factory=lambda: ["reply", "handler", "measures"])


# P5.1: at least 2 review levels per chain.
Chain = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=2)]


class Review(_Strict):
    chains: dict[Code, Chain]
    completeness: Completeness = Completeness()

    @field_validator("chains")
    @classmethod
    def _default_chain(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if "*" not in value:
            raise ValueError("a default chain '*' is required")
        return value

    def chain_for(self, category: str) -> list[str]:
        keys = [k for k in self.chains if k != "*" and category.startswith(k)]
        return list(self.chains[max(keys, key=len)] if keys else self.chains["*"])


class Deadlines(_Strict):
    working_days: dict[str, int]
    dispatch: Seconds = 1800
    urgent_first_response: Seconds = 300
    callback: Seconds = 86400
    urgent_callback: Seconds = 3600
    callback_redial: Seconds = 1800
    warn_before: Seconds = 3600
    warning_channel: str = "ops"

    @field_validator("working_days")
    @classmethod
    def _every_type(cls, value: dict[str, int]) -> dict[str, int]:
        missing = [t for t in TYPES if t not in value]
        if missing:
            raise ValueError(f"missing types: {', '.join(missing)}")
        if any(n < 1 for n in value.values()):
            raise ValueError("working days must be ≥ 1")
        return value


class Callback(_Strict):
    scripts: dict[str, Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    # P7.2: category code prefix -> script name (the longest matching prefix wins).
    categories: dict[Code, str] = Field(default_factory=dict)
    # P7.3: unanswered calls redialled until this many attempts, then a popup and an alert.
    max_attempts: int = Field(3, ge=1, le=10)

    @model_validator(mode="after")
    def _known_scripts(self) -> Callback:
        for code, name in self.categories.items():
            if name not in self.scripts:
                raise ValueError(f"categories.{code}: unknown script '{name}'")
        return self

    def script_for(self, category: str) -> str | None:
        keys = [k for k in self.categories if category.startswith(k)]
        return self.categories[max(keys, key=len)] if keys else None

    @field_validator("scripts")
    @classmethod
    def _default(cls, value: dict[str, str]) -> dict[str, str]:
        if "default" not in value:
            raise ValueError("a 'default' script is required")
        for name, text in value.items():
            try:
                text.format(number="", title="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"{name}: only {{number}} and {{title}} may be filled") from exc
        return value


class SurveyScale(_Strict):
    """P6.2 answers: 3 满意, 2 基本满意, 1 不满意 (labels configurable)."""

    labels: dict[int, str]

    @field_validator("labels")
    @classmethod
    def _three(cls, value: dict[int, str]) -> dict[int, str]:
        if sorted(value) != [1, 2, 3]:
            raise ValueError("labels for exactly the scores 1, 2 and 3 are required")
        return value


class Ivr(_Strict):
    """P6.1 IVR keypress: one key per item (the three dimensions, then the custom items)."""

    prompt: str = Field(min_length=1)
    keys: dict[Code, int]

    @field_validator("keys")
    @classmethod
    def _digits(cls, value: dict[str, int]) -> dict[str, int]:
        for key, score in value.items():
            if len(key) != 1 or key not in "0123456789*#":
                raise ValueError(f"{key}: a key is one of 0-9, * and #")
            if score not in (1, 2, 3):
                raise ValueError(f"{key}: score must be 1, 2 or 3")
        return value


class SmsSurvey(_Strict):
    """P6.1 SMS link: sent on closing through an outbox channel of kind sms."""

    channel: str | None = None  # None: no survey SMS (no SMS channel configured yet)
    secret: str = "survey"  # HOTLINE_OPS_SECRET_SURVEY signs the links (HMAC-SHA256)
    link_ttl: Seconds = 7 * 86400
    public_url: str | None = None  # how callers' phones reach the server
    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _fields(cls, value: str) -> str:
        try:
            value.format(number="", title="", url="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("only {number}, {title} and {url} may be filled") from exc
        if "{url}" not in value:
            raise ValueError("the text must carry the {url}")
        return value


Item = Annotated[str, Field(min_length=1, max_length=30)]


class SurveyConfig(_Strict):
    scale: SurveyScale
    dimensions: dict[str, Item]
    custom: dict[Item, Item] = Field(default_factory=dict, max_length=10)
    ivr: Ivr
    sms: SmsSurvey

    @field_validator("dimensions")
    @classmethod
    def _the_three(cls, value: dict[str, str]) -> dict[str, str]:
        if list(value) != ["attitude", "efficiency", "result"]:
            raise ValueError("exactly attitude, efficiency and result, in this order (P6.2)")
        return value

    def items(self) -> list[tuple[str, str]]:
        """Every rated item in order: the three dimensions, then the custom items."""
        return [*self.dimensions.items(), *self.custom.items()]


class YearOverride(_Strict):
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)


class CalendarFile(_Strict):
    years: dict[int, YearOverride] = Field(default_factory=dict)


@dataclass(frozen=True)
class TicketContent:
    catalogue: Catalogue
    review: Review
    deadlines: Deadlines
    calendar: WorkCalendar
    callback: Callback
    survey: SurveyConfig


def load_tickets(folder: Path, channels: set[str] | None = None) -> TicketContent:
    def doc(name: str) -> yamlfile.YamlDoc:
        return yamlfile.load(folder / name)

    catalogue = yamlfile.validate(Catalogue, doc("catalogue.yaml"))
    review = yamlfile.validate(Review, doc("review.yaml"))
    deadlines_doc = doc("deadlines.yaml")
    deadlines = yamlfile.validate(Deadlines, deadlines_doc)
    if channels is not None and deadlines.warning_channel not in channels:
        raise ConfigError(
            f"{deadlines_doc.where(('warning_channel',))}: warning_channel: unknown channel "
            f"'{deadlines.warning_channel}' (not in incidents/channels.yaml)"
        )
    cal_doc = doc("calendar.yaml")
    calendar = build_calendar(yamlfile.validate(CalendarFile, cal_doc), cal_doc)
    for key in review.chains:
        if key != "*" and key not in catalogue.categories:
            raise ConfigError(f"{folder / 'review.yaml'}: chains.{key}: unknown category")
    callback = yamlfile.validate(Callback, doc("callback.yaml"))
    for code in callback.categories:
        if code not in catalogue.categories:
            raise ConfigError(f"{folder / 'callback.yaml'}: categories.{code}: unknown category")
    survey_doc = doc("satisfaction.yaml")
    survey = yamlfile.validate(SurveyConfig, survey_doc)
    sms_channel = survey.sms.channel
    if channels is not None and sms_channel is not None and sms_channel not in channels:
        raise ConfigError(
            f"{survey_doc.where(('sms', 'channel'))}: sms.channel: unknown channel "
            f"'{sms_channel}' (not in incidents/channels.yaml)"
        )
    return TicketContent(catalogue, review, deadlines, calendar, callback, survey)


def library_years() -> range:
    """Years chinese-calendar has State Council data for (2004–2026 in 1.11)."""
    import chinese_calendar  # only when the ticket content is first used

    years = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in _workdays()})
    return range(years[0], years[-1] + 1)


def _workdays() -> dict[date, Any]:
    import chinese_calendar

    return chinese_calendar.workdays


def build_calendar(overrides: CalendarFile, doc: yamlfile.YamlDoc) -> WorkCalendar:
    """chinese-calendar's data, with the overrides file on top (it may add whole years)."""
    import chinese_calendar

    known = library_years()
    off = {d for d in chinese_calendar.holidays if d.weekday() < 5}
    on = {d for d in _workdays() if d.weekday() >= 5}
    for year, spec in overrides.years.items():
        for i, day in enumerate(spec.holidays + spec.workdays):
            if day.year != year:
                raise ConfigError(
                    f"{doc.where(('years', year))}: years.{year}.{i}: {day} is not in {year}"
                )
        off |= {d for d in spec.holidays if d.weekday() < 5}
        on |= {d for d in spec.workdays if d.weekday() >= 5}
        on -= set(spec.holidays)
        off -= set(spec.workdays)
    return WorkCalendar(
        frozenset(known) | frozenset(overrides.years), frozenset(off), frozenset(on)
    )
