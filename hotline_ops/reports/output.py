"""HTML, PDF (WeasyPrint) and XLSX (openpyxl) from one context.

The PDF embeds Noto Sans CJK (Debian fonts-noto-cjk; WeasyPrint subsets it with
libharfbuzz-subset0). The HTML carries its CSS and charts inline, so each file stands alone.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline_ops.reports.env import environment, fmt, labels

if TYPE_CHECKING:
    from openpyxl import Workbook

# matplotlib (charts), WeasyPrint and openpyxl are imported by the function that renders
# with them: importing this module (every `report` command) costs none of them.

FORMATS = ("pdf", "xlsx", "html")
XLSX_FORMATS = {
    "pct": "0.00%",
    "ms": "0.0",
    "min": "0.0",
    "num": "0.0",
    "num2": "0.00",
    "sec": "0.00",
    "int": "0",
}
HEADER_COLOR = "DDE5F0"


def template_name(kind: str) -> str:
    return f"{kind}.html.j2"


def html(ctx: dict[str, Any], folder: Path) -> str:
    lang = ctx["lang"]
    words = labels(folder, lang)
    images = _chart_images(ctx.get("charts", {}), words)
    css = (folder / "styles" / "report.css").read_text(encoding="utf-8")
    template = environment(folder).get_template(template_name(ctx["kind"]))
    return template.render(ctx=ctx, L=words, images=images, css=css, lang=lang)


def _chart_images(specs: dict[str, Any], words: dict[str, str]) -> dict[str, str]:
    if not specs:
        return {}
    from hotline_ops.reports import charts  # matplotlib: ~0.8 s to import

    return {
        key: charts.data_uri(spec, words.get(spec["title"], spec["title"]))
        for key, spec in specs.items()
    }


def pdf(page: str, folder: Path) -> bytes:
    from weasyprint import HTML  # imported here: loading pango costs ~0.5 s

    return HTML(string=page, base_url=str(folder)).write_pdf()


def xlsx(ctx: dict[str, Any], folder: Path) -> bytes:
    """A sheet per table, bold frozen header row, real numbers with number formats."""
    from openpyxl import Workbook

    words = labels(folder, ctx["lang"])
    book = Workbook()
    book.remove(book.active)
    _cover_sheet(book, ctx, words)
    for key, table in ctx["tables"].items():
        _sheet(book, key, table, words, ctx["lang"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cover_sheet(book: Workbook, ctx: dict, words: dict) -> None:
    sheet = book.create_sheet(words["sheet_cover"])
    for row in (
        [words["site"], ctx["site"]],
        [
            words["report"],
            ctx["title"] if ctx["lang"] == "zh-CN" else words[f"title_{ctx['kind']}"],
        ],
        [words["period"], ctx["period"]["label"]],
        [words["generated_at"], ctx["generated_at"]],
    ):
        sheet.append(row)
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 48


def _sheet(book: Workbook, key: str, table: dict, words: dict, lang: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    # Excel refuses []:*?/\\ in sheet names and more than 31 characters.
    title = re.sub(r"[\[\]:*?/\\]", "-", words.get(table["title"], key))[:31]
    sheet = book.create_sheet(_unique(book, title))
    columns = table["columns"]
    sheet.append([words.get(col, col) for col, _ in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_COLOR)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in table["rows"]:
        sheet.append([_cell(row.get(col), kind, lang) for col, kind in columns])
    for i, (_col, kind) in enumerate(columns, start=1):
        letter = get_column_letter(i)
        sheet.column_dimensions[letter].width = 14 if kind != "text" else 24
        number = XLSX_FORMATS.get(kind)
        if number:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = number
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions


def _cell(value: Any, kind: str, lang: str) -> Any:
    if value is None:
        return fmt(None, kind, lang)
    if kind in XLSX_FORMATS:
        return value
    return fmt(value, kind, lang)


def _unique(book: Workbook, title: str) -> str:
    name, n = title, 2
    while name in book.sheetnames:
        name = f"{title[:28]}_{n}"
        n += 1
    return name
