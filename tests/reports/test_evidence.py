"""The evidence register (C1): documents behind ``record`` clauses, judged by the pack only
while their stored file still matches its sha256; bad arguments store nothing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hotline_ops.cli.main import cli
from hotline_ops.core import periods
from hotline_ops.reports import builders
from hotline_ops.services import evidence
from tests.reports.make_examples import NOW


def invoke(app, *args):
    return CliRunner().invoke(cli, list(args), obj=app)


def pack(app) -> dict:
    return builders.build(app, periods.parse("acceptance", "2027", app.settings.tz), NOW)


def clause(ctx: dict, clause_id: str) -> dict:
    return next(r for r in ctx["tables"]["clauses"]["rows"] if r["id"] == clause_id)


def add(app, tmp_path, clause_id, name, *extra, body=b"signed sheet"):
    doc = tmp_path / name
    doc.write_bytes(body)
    args = ["evidence", "add", clause_id, str(doc), "--title", name, "--actor", "wang", "--json"]
    result = invoke(app, *args, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_it_registers_a_copy_with_its_sha256_and_site_day(year_app, tmp_path):
    row = add(year_app, tmp_path, "M1.1", "变更记录.pdf", "--date", "2027-05-04", body=b"x" * 10)
    stored = year_app.settings.path(year_app.settings.data_dir) / row["path"]
    assert (row["id"], row["clause"], row["covers"], row["actor"], row["bytes"]) == (
        1,
        "M1.1",
        "2027-05-04",
        "wang",
        10,
    )
    assert (stored.read_bytes(), row["sha256"][:12]) == (
        b"x" * 10,
        "fc11d6f28e59",
    )


def test_a_document_moves_its_clause_from_no_evidence_to_met(year_app, tmp_path):
    before = pack(year_app)
    add(year_app, tmp_path, "M1.1", "change.pdf", "--date", "2027-05-04")
    after = pack(year_app)
    row = clause(after, "M1.1")
    assert (clause(before, "M1.1")["status"], row["status"], row["figure"]) == (
        "no_evidence",
        "met",
        "1 份书面记录",
    )
    assert (before["counts"]["met"] + 1, after["completion_pct"]) == (
        after["counts"]["met"],
        round(100 * after["counts"]["met"] / 54, 2),
    )


@pytest.mark.parametrize(
    ("hours", "status", "figure"),
    [((10, 6), "met", "16 / 16（2 份书面记录）"), ((10,), "missed", "10 / 16（1 份书面记录）")],
)
def test_training_hours_are_summed_against_the_clause_limit(
    year_app, tmp_path, hours, status, figure
):
    for i, h in enumerate(hours):
        add(
            year_app,
            tmp_path,
            "M2.4",
            f"t{i}.pdf",
            "--date",
            f"2027-0{i + 3}-01",
            "--quantity",
            str(h),
            body=f"sheet {i}".encode(),
        )
    row = clause(pack(year_app), "M2.4")
    assert (row["status"], row["figure"]) == (status, figure)


def test_a_document_of_another_year_does_not_count(year_app, tmp_path):
    add(year_app, tmp_path, "M1.1", "old.pdf", "--date", "2026-12-31")
    add(year_app, tmp_path, "M1.1", "next.pdf", "--date", "2028-01-01", body=b"other")
    assert clause(pack(year_app), "M1.1")["status"] == "no_evidence"


def test_a_modified_file_no_longer_counts_and_verify_fails(year_app, tmp_path):
    row = add(year_app, tmp_path, "M1.1", "change.pdf", "--date", "2027-05-04")
    stored = year_app.settings.path(year_app.settings.data_dir) / row["path"]
    stored.write_bytes(b"edited afterwards")
    judged = clause(pack(year_app), "M1.1")
    result = invoke(year_app, "evidence", "verify", "1")
    assert (judged["status"], "文件校验失败，不计入：#1" in judged["evidence"]) == (
        "no_evidence",
        True,
    )
    assert (result.exit_code, "evidence #1" in result.output, "registered" in result.output) == (
        1,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["M2.3b", "{doc}", "--title", "x"], "error: CLAUSE: 'M2.3b' does not take documents"),
        (["M9.9", "{doc}", "--title", "x"], "error: CLAUSE: 'M9.9' does not take documents"),
        (["M1.1", "{doc}", "--title", " "], "error: --title: must not be empty"),
        (["M2.4", "{doc}", "--title", "x", "--quantity", "0"], "error: --quantity: 0 must be"),
        (["M1.1", "{missing}", "--title", "x"], "error: FILE: "),
    ],
)
def test_bad_arguments_are_refused_naming_them_and_store_nothing(year_app, tmp_path, args, message):
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"content")
    filled = [a.format(doc=doc, missing=tmp_path / "nope.pdf") for a in args]
    result = invoke(year_app, "evidence", "add", *filled)
    folder = year_app.settings.path(year_app.settings.data_dir) / evidence.FOLDER
    assert (result.exit_code, result.output.startswith(message)) == (8, True), result.output
    assert (evidence.get_all(year_app), folder.exists()) == ([], False)


def test_a_file_name_cannot_escape_the_evidence_folder(year_app, tmp_path):
    row = add(year_app, tmp_path, "M1.1", "..%2F..%2Fpasswd", "--date", "2027-05-04")
    assert row["path"].startswith("evidence/M1.1/") and "/.." not in row["path"]


def test_list_filters_by_clause_and_year(year_app, tmp_path):
    add(year_app, tmp_path, "M1.1", "a.pdf", "--date", "2027-05-04", body=b"a")
    add(year_app, tmp_path, "M2.4", "b.pdf", "--date", "2027-06-01", body=b"b")
    add(year_app, tmp_path, "M2.4", "c.pdf", "--date", "2026-06-01", body=b"c")
    listed = json.loads(
        invoke(year_app, "evidence", "list", "--clause", "M2.4", "--year", "2027", "--json").output
    )
    assert [r["title"] for r in listed] == ["b.pdf"]


def test_registering_again_over_a_changed_stored_file_is_refused(year_app, tmp_path):
    row = add(year_app, tmp_path, "M1.1", "change.pdf", "--date", "2027-05-04")
    stored = year_app.settings.path(year_app.settings.data_dir) / row["path"]
    stored.write_bytes(b"edited afterwards")
    doc = tmp_path / "change.pdf"
    result = invoke(year_app, "evidence", "add", "M1.1", str(doc), "--title", "again")
    assert (result.exit_code, "exists with other content" in result.output) == (1, True)
    assert (len(evidence.get_all(year_app)), stored.read_bytes()) == (1, b"edited afterwards")
