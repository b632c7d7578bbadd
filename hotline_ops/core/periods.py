"""Report periods, pure: what ``--period`` means for each report kind, cut in the site's zone.

A daily report covers one local day (``2027-03-15``), a monthly one a local month
(``2027-03``), a quarterly one a quarter (``2027-Q1``), the acceptance pack a contract year
(``2027``, CONTRACT.md C1) and an incident report one incident (``42``). The ticket KPI
export (P8.3, R3.2) covers a day, an ISO week (``2027-W11``, Monday to Sunday) or a month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KINDS = ("daily", "monthly", "quarterly", "incident", "acceptance", "ticket-kpi")
TICKET_KPI = "ticket-kpi"
_FORMS = {
    "daily": (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), "a day (YYYY-MM-DD)"),
    "monthly": (re.compile(r"(\d{4})-(\d{2})"), "a month (YYYY-MM)"),
    "quarterly": (re.compile(r"(\d{4})-?Q([1-4])", re.IGNORECASE), "a quarter (YYYY-Qn)"),
    "acceptance": (re.compile(r"(\d{4})"), "a year (YYYY)"),
    "incident": (re.compile(r"#?(\d{1,12})"), "an incident id"),
    TICKET_KPI: (
        re.compile(r"(\d{4})-(?:(\d{2})(?:-(\d{2}))?|W(\d{2}))", re.IGNORECASE),
        "a day (YYYY-MM-DD), an ISO week (YYYY-Www) or a month (YYYY-MM)",
    ),
}


class PeriodError(ValueError):
    """``--period`` does not fit the report kind; the message says what would."""


@dataclass(frozen=True)
class Period:
    kind: str
    key: str  # canonical text: 2027-03-15, 2027-03, 2027-Q1, 2027, 42
    start: datetime | None  # aware, site zone; None for an incident report
    end: datetime | None
    label: str  # zh-CN, for titles: 2027年3月

    @property
    def days(self) -> int:
        assert self.start is not None and self.end is not None
        return round((self.end - self.start).total_seconds() / 86400)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse(kind: str, text: str, tz: ZoneInfo) -> Period:
    if kind not in KINDS:
        raise PeriodError(f"unknown report kind '{kind}' (known: {', '.join(KINDS)})")
    pattern, form = _FORMS[kind]
    match = pattern.fullmatch(text.strip())
    if match is None:
        raise PeriodError(f"'{text}' is not {form} for a {kind} report")
    try:
        # An optional group that did not match (ticket-kpi forms) stays None.
        groups = tuple(None if g is None else int(g) for g in match.groups())
        return _BUILD[kind](groups, tz)
    except ValueError as exc:
        raise PeriodError(f"'{text}' is not {form} for a {kind} report: {exc}") from None


def _daily(g: tuple[int, ...], tz: ZoneInfo) -> Period:
    day = date(*g)
    return Period(
        "daily",
        day.isoformat(),
        _midnight(day, tz),
        _midnight(day + timedelta(days=1), tz),
        f"{day.year}年{day.month}月{day.day}日",
    )


def _monthly(g: tuple[int, ...], tz: ZoneInfo) -> Period:
    first = date(g[0], g[1], 1)
    return Period(
        "monthly",
        f"{first:%Y-%m}",
        _midnight(first, tz),
        _midnight(_month_start(g[0], g[1] + 1), tz),
        f"{first.year}年{first.month}月",
    )


def _quarterly(g: tuple[int, ...], tz: ZoneInfo) -> Period:
    year, quarter = g
    first = date(year, 3 * quarter - 2, 1)
    return Period(
        "quarterly",
        f"{year}-Q{quarter}",
        _midnight(first, tz),
        _midnight(_month_start(year, 3 * quarter + 1), tz),
        f"{year}年第{quarter}季度",
    )


def _annual(g: tuple[int, ...], tz: ZoneInfo) -> Period:
    year = g[0]
    if year < 1970:
        raise ValueError("year out of range")
    return Period(
        "acceptance",
        str(year),
        _midnight(date(year, 1, 1), tz),
        _midnight(date(year + 1, 1, 1), tz),
        f"{year}年度",
    )


def _incident(g: tuple[int, ...], tz: ZoneInfo) -> Period:
    return Period("incident", str(g[0]), None, None, f"第{g[0]}号故障")


def _ticket_kpi(g: tuple, tz: ZoneInfo) -> Period:
    """Groups: year, month, day, week (None where absent): a day, an ISO week or a month."""
    year, month, day, week = g
    if week is not None:
        first = date.fromisocalendar(year, week, 1)
        last = first + timedelta(days=6)
        key, label = f"{year}-W{week:02d}", f"{year}年第{week}周（{first:%m-%d}—{last:%m-%d}）"
        after = last + timedelta(days=1)
    elif day is not None:
        first = date(year, month, day)
        key, label = first.isoformat(), f"{first.year}年{first.month}月{first.day}日"
        after = first + timedelta(days=1)
    else:
        first = date(year, month, 1)
        key, label = f"{first:%Y-%m}", f"{first.year}年{first.month}月"
        after = _month_start(year, month + 1)
    return Period(TICKET_KPI, key, _midnight(first, tz), _midnight(after, tz), label)


_BUILD = {
    "daily": _daily,
    "monthly": _monthly,
    "quarterly": _quarterly,
    "acceptance": _annual,
    "incident": _incident,
    TICKET_KPI: _ticket_kpi,
}


def previous(period: Period, tz: ZoneInfo) -> Period:
    """The period just before (the default for scheduled reports and trend baselines)."""
    assert period.start is not None
    before = (period.start - timedelta(days=1)).astimezone(tz).date()
    if period.kind == "daily":
        return parse("daily", before.isoformat(), tz)
    if period.kind == "monthly":
        return parse("monthly", f"{before:%Y-%m}", tz)
    if period.kind == "quarterly":
        return parse("quarterly", f"{before.year}-Q{(before.month - 1) // 3 + 1}", tz)
    return parse("acceptance", str(before.year), tz)


def last_complete(kind: str, now: datetime, tz: ZoneInfo) -> Period:
    """The latest period of ``kind`` that has ended by ``now`` (what a schedule reports on)."""
    today = now.astimezone(tz).date()
    current = {
        "daily": lambda: parse("daily", today.isoformat(), tz),
        "monthly": lambda: parse("monthly", f"{today:%Y-%m}", tz),
        "quarterly": lambda: parse("quarterly", f"{today.year}-Q{(today.month - 1) // 3 + 1}", tz),
        "acceptance": lambda: parse("acceptance", str(today.year), tz),
    }[kind]()
    return previous(current, tz)
