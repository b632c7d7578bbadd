"""Golden tests: every template renders from its example context (reports/examples/*.json)
in both languages; each PDF carries its Chinese headings and figures in embedded Noto CJK;
each XLSX has a sheet per table with frozen headers and number formats."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from openpyxl import load_workbook

from hotline_ops.reports import output
from tests.reports.fixture import REPORTS

KINDS = ["daily", "monthly", "quarterly", "incident", "acceptance"]
# A heading and figures each example must show (from the fixture year).
EXPECTED = {
    "daily": ["线路日常巡检报告", "中继与 E1 线路", "ct-1", "98.96%"],
    "monthly": ["月度系统巡检报告", "故障情况", "99.48%", "83.33%"],
    "quarterly": ["季度性能优化报告", "优化建议", "+50.0%", "约 10.0 天后写满"],
    "incident": ["故障报告", "合同计时", "E1 e1-1 帧失步", "未达标"],
    "acceptance": ["年度验收履约证据", "逐条履约情况", "11.11%", "M2.3b"],
}


def example(kind: str, lang: str = "zh-CN") -> dict:
    ctx = json.loads((REPORTS / "examples" / f"{kind}.json").read_text("utf-8"))
    return {**ctx, "lang": lang}


@pytest.mark.parametrize("kind", KINDS)
def test_it_renders_the_template_from_its_example_context(kind):
    page = output.html(example(kind), REPORTS)
    assert [text for text in EXPECTED[kind] if text not in page] == []


@pytest.mark.parametrize("kind", KINDS)
def test_it_renders_the_template_in_english_too(kind):
    page = output.html(example(kind, "en"), REPORTS)
    assert '<html lang="en">' in page and "Generated" in page


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("pdf")
    out = {}
    for kind in KINDS:
        path = folder / f"{kind}.pdf"
        path.write_bytes(output.pdf(output.html(example(kind), REPORTS), REPORTS))
        out[kind] = path
    return out


def run(*args) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("kind", KINDS)
def test_it_puts_the_chinese_headings_and_figures_in_the_pdf_text(pdfs, kind):
    text = run("pdftotext", "-layout", str(pdfs[kind]), "-")
    assert [t for t in EXPECTED[kind] if t not in text] == []


@pytest.mark.parametrize("kind", KINDS)
def test_it_embeds_the_cjk_font_in_the_pdf(pdfs, kind):
    fonts = [line.split() for line in run("pdffonts", str(pdfs[kind])).splitlines()[2:]]
    cjk = [f for f in fonts if "Noto-Sans-CJK-SC" in f[0]]
    assert cjk and all(f[-5] == "yes" for f in cjk)  # the "emb" column


def test_it_numbers_the_pages_under_the_cover(pdfs):
    text = run("pdftotext", "-f", "2", "-l", "2", str(pdfs["monthly"]), "-")
    assert "第2页/共4页" in text


def test_it_numbers_the_pages_in_english_in_an_english_report(tmp_path):
    path = tmp_path / "monthly.en.pdf"
    path.write_bytes(output.pdf(output.html(example("monthly", "en"), REPORTS), REPORTS))
    text = run("pdftotext", "-f", "2", "-l", "2", str(path), "-")
    assert ("Page 2 of" in text, "页" in text) == (True, False)


def test_it_makes_a_sheet_per_table_with_a_frozen_header_and_number_formats():
    ctx = example("monthly")
    book = load_workbook(io.BytesIO(output.xlsx(ctx, REPORTS)))
    sheet = book["线路可用率与容量"]
    assert (
        len(book.sheetnames),
        sheet.freeze_panes,
        sheet["F1"].value,
        sheet["F3"].number_format,
        sheet["F3"].value,
    ) == (1 + len(ctx["tables"]), "A2", "可用率", "0.00%", 1 - 93 / 8928)
