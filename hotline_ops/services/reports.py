"""Report use cases: build (context -> HTML/PDF/XLSX -> files -> register row), list, file
(mail to the purchaser, record filing and receipt), verify (checksums), and the schedule.

A build always makes a new version in a new folder and writes its files exclusively, so a
filed report is never overwritten (M2.2c); ``verify`` proves a file is unchanged since.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hotline_ops.core import periods
from hotline_ops.errors import BadRequest, HotlineOpsError, IllegalTransition, NotFound
from hotline_ops.reports import builders, mail, output, queries
from hotline_ops.reports.acceptance import reports_dir
from hotline_ops.reports.env import LANGS
from hotline_ops.services import inspection, probing, summaries
from hotline_ops.store.models import Incident
from hotline_ops.store.reports import ReportRecord

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
STEPS = ("context", "html", "pdf", "xlsx", "files")
REPORTED_LEVELS = (1, 2)  # an incident report for each level 1 and level 2 fault


def parse_formats(text: str) -> list[str]:
    chosen = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in output.FORMATS]
    if bad or not chosen:
        raise BadRequest(f"--format: '{text}' is not a list of {', '.join(output.FORMATS)}")
    return [f for f in output.FORMATS if f in chosen]  # pdf first: it is the primary file


def parse_period(app: Any, kind: str, text: str) -> periods.Period:
    try:
        return periods.parse(kind, text, app.settings.tz)
    except periods.PeriodError as exc:
        field = "KIND" if kind not in periods.KINDS else "--period"
        raise BadRequest(f"{field}: {exc}") from None


def build(
    app: Any,
    *,
    kind: str,
    period: str,
    formats: list[str] | None = None,
    lang: str = "zh-CN",
    trigger: str = "cli",
    progress: Progress | None = None,
) -> ReportRecord:
    if lang not in LANGS:
        raise BadRequest(f"--lang: '{lang}' is not one of {', '.join(LANGS)}")
    chosen = parse_period(app, kind, period)
    formats = formats or ["pdf", "xlsx", "html"]
    step = progress or (lambda _name: None)
    now = app.clock.now()
    started = time.perf_counter()  # P9.2 evidence: how long producing the report took
    if chosen.kind == "daily":
        _ensure_inspection(app, chosen)
    step("context")
    ctx = builders.build(app, chosen, now, lang)
    files = render(ctx, reports_dir(app), formats, step)
    step("files")
    return _register(app, chosen, lang, ctx["title"], files, now, started, trigger)


def render(ctx: dict, folder: Path, formats: list[str], step: Progress) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    step("html")
    page = output.html(ctx, folder)
    if "html" in formats:
        out["html"] = page.encode("utf-8")
    if "pdf" in formats:
        step("pdf")
        out["pdf"] = output.pdf(page, folder)
    if "xlsx" in formats:
        step("xlsx")
        out["xlsx"] = output.xlsx(ctx, folder)
    return out


def _ensure_inspection(app: Any, period: periods.Period) -> None:
    """The daily report renders the stored inspection; make it from stored data if missing."""
    with app.store.session() as session:
        if queries.latest_inspection(session, period.key) is not None:
            return
    day = period.start.date()
    asyncio.run(
        inspection.inspect_lines(
            app, probing.Recorder(app), day=day, trigger="report", probe_now=False
        )
    )


def _register(app, period, lang, title, files, now, started, trigger) -> ReportRecord:
    data_dir = app.settings.path(app.settings.data_dir)
    with app.store.session() as session:
        version = 1 + (
            session.scalar(
                select(func.max(ReportRecord.version)).where(
                    ReportRecord.kind == period.kind,
                    ReportRecord.period == period.key,
                    ReportRecord.lang == lang,
                )
            )
            or 0
        )
        folder = Path("reports") / period.kind / period.key / f"v{version}-{lang}"
        written = _write(data_dir / folder, _stem(app, period, version, lang), files)
        primary = written.get("pdf") or next(iter(written.values()))
        row = ReportRecord(
            kind=period.kind,
            period=period.key,
            lang=lang,
            version=version,
            title=title,
            folder=str(folder),
            files=written,
            sha256=primary["sha256"],
            generated_at=now,
            build_s=round(time.perf_counter() - started, 3),
            trigger=trigger,
        )
        session.add(row)
        session.flush()
        return row


def _stem(app: Any, period: periods.Period, version: int, lang: str) -> str:
    return f"{app.settings.site.code}-{period.kind}-{period.key}-v{version}-{lang}"


def _write(folder: Path, stem: str, files: dict[str, bytes]) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt, content in files.items():
        name = f"{stem}.{fmt}"
        with open(folder / name, "xb") as fh:  # exclusive: an existing file is never replaced
            fh.write(content)
        written[fmt] = {
            "name": name,
            "sha256": hashlib.sha256(content).hexdigest(),
            "bytes": len(content),
        }
    return written


def get(app: Any, *, report_id: int) -> ReportRecord:
    with app.store.session() as session:
        row = session.get(ReportRecord, report_id)
        if row is None:
            raise NotFound(f"report #{report_id} does not exist")
        return row


def get_all(app: Any, *, kind: str | None = None) -> list[ReportRecord]:
    with app.store.session() as session:
        return queries.register(session, (kind,) if kind else None)


def path_of(app: Any, row: ReportRecord, fmt: str) -> Path:
    return app.settings.path(app.settings.data_dir) / row.folder / row.files[fmt]["name"]


def check(app: Any, row: ReportRecord) -> list[dict]:
    """Each file of the report against its registered sha256."""
    out = []
    for fmt, info in row.files.items():
        path = path_of(app, row, fmt)
        actual = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        out.append(
            {
                "format": fmt,
                "path": str(path),
                "expected": info["sha256"],
                "actual": actual,
                "ok": actual == info["sha256"],
            }
        )
    return out


def verify(app: Any, *, report_id: int) -> list[dict]:
    """Raise (exit 1) when any file is missing or changed since it was registered."""
    results = check(app, get(app, report_id=report_id))
    bad = [r for r in results if not r["ok"]]
    if bad:
        what = ", ".join(
            f"{r['path']} {'missing' if r['actual'] is None else 'sha256 ' + r['actual'][:12]}"
            f" (registered {r['expected'][:12]})"
            for r in bad
        )
        raise HotlineOpsError(f"report #{report_id} does not match the register: {what}")
    return results


def file(
    app: Any, *, report_id: int, to: list[str] | None = None, receipt: str | None = None
) -> ReportRecord:
    """File with the purchaser: mail PDF + XLSX (or record a hand delivery's ``receipt``),
    then record filed-at, recipients and receipt. A report is filed once."""
    row = get(app, report_id=report_id)
    if row.filed_at is not None:
        raise IllegalTransition(
            f"report #{report_id} was filed at {row.filed_at.isoformat()}: build a new version"
        )
    verify(app, report_id=report_id)  # never send a file that no longer matches its checksum
    if receipt is None:
        rcpts, receipt = _mail(app, row, to)
    else:
        rcpts = list(to or [])
    now = app.clock.now()
    with app.store.session() as session:
        fresh = session.get(ReportRecord, report_id)
        fresh.filed_at, fresh.delivered_to, fresh.receipt = now, rcpts, receipt
        return fresh


def _mail(app: Any, row: ReportRecord, to: list[str] | None) -> tuple[list[str], str]:
    delivery = mail.load_delivery(reports_dir(app))
    main, cc = mail.recipients(delivery, to)
    attach = [path_of(app, row, f) for f in delivery.purchaser.attach if f in row.files]
    if not attach:
        raise BadRequest(f"report #{row.id} has none of {delivery.purchaser.attach} to attach")
    subject = f"【{app.settings.site.name}】{row.title}（{row.period}，第{row.version}版）备案"
    body = _body(app, row)
    msg = mail.message(delivery.smtp, main, cc, subject, body, attach)
    secret = mail.password(
        delivery.smtp, {k: v.get_secret_value() for k, v in app.settings.secrets.items()}
    )
    receipt = mail.send(delivery.smtp, secret, msg, main + cc)
    return main + cc, receipt


def _body(app: Any, row: ReportRecord) -> str:
    lines = [
        f"{app.settings.site.name}：",
        "",
        f"现报送{row.title}（{row.period}，第{row.version}版）备案。",
    ]
    lines += [f"{info['name']}  SHA-256 {info['sha256']}" for info in row.files.values()]
    lines += ["", "本邮件由 hotline-ops 发送。"]
    return "\n".join(lines)


def scheduled(app: Any, kind: str) -> list[ReportRecord]:
    """A scheduled build: the last complete period of ``kind`` (acceptance: a draft of the
    year just ended), all formats. The daily run also reports every level 1/2 incident
    resolved that day (M2.3) that has no report yet."""
    now = app.clock.now()
    summarise_finished_days(app)
    period = periods.last_complete(kind, now, app.settings.tz)
    built = [build(app, kind=kind, period=period.key, trigger="schedule")]
    if kind == "daily":
        for incident_id in incidents_to_report(app, period):
            built.append(build(app, kind="incident", period=str(incident_id), trigger="schedule"))
    return built


def summarise_finished_days(app: Any) -> None:
    """Summarise the days just finished first (services/summaries.py), so the build reads
    day rows; if that fails the build still reads the rollups, with the same figures."""
    try:
        summaries.pending(app)
    except Exception:
        log.exception("summarising the finished days failed; reports read the rollups")


def incidents_to_report(app: Any, day: periods.Period) -> list[int]:
    with app.store.session() as session:
        resolved = session.scalars(
            select(Incident.id)
            .where(Incident.level.in_(REPORTED_LEVELS), Incident.resolved_at >= day.start)
            .where(Incident.resolved_at < day.end)
            .order_by(Incident.id)
        ).all()
        done = set(
            session.scalars(select(ReportRecord.period).where(ReportRecord.kind == "incident"))
        )
    return [i for i in resolved if str(i) not in done]


def view(row: ReportRecord, tz: Any) -> dict:
    def local(at: datetime | None) -> str | None:
        return at.astimezone(tz).isoformat() if at else None

    return {
        "id": row.id,
        "kind": row.kind,
        "period": row.period,
        "lang": row.lang,
        "version": row.version,
        "title": row.title,
        "sha256": row.sha256,
        "generated_at": local(row.generated_at),
        "build_s": row.build_s,
        "filed_at": local(row.filed_at),
        "delivered_to": row.delivered_to,
        "receipt": row.receipt,
        "folder": row.folder,
        "files": row.files,
    }
