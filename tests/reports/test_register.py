"""The register (备案, M2.2c): versions never overwrite, verify detects a changed file,
filing mails PDF + XLSX over STARTTLS to a real SMTP server and records the receipt."""

from __future__ import annotations

import shutil

import pytest
import yaml
from click.testing import CliRunner

from hotline_ops.cli.main import cli
from hotline_ops.errors import HotlineOpsError, IllegalTransition
from hotline_ops.services import reports
from tests.reports import fixture
from tests.reports.make_examples import NOW
from tests.support.smtp import PASSWORD, USER, SmtpServer


def invoke(app, *args):
    return CliRunner().invoke(cli, list(args), obj=app)


def monthly(app, formats=("pdf", "xlsx")):
    return reports.build(app, kind="monthly", period="2027-03", formats=list(formats))


def test_it_makes_a_new_version_in_a_new_folder_on_rebuild(year_app):
    first, second = monthly(year_app), monthly(year_app)
    assert (first.version, second.version, first.folder != second.folder) == (1, 2, True)


def test_it_records_the_files_sha256_and_the_build_time(year_app):
    row = monthly(year_app)
    assert (sorted(row.files), row.sha256, row.generated_at) == (
        ["pdf", "xlsx"],
        row.files["pdf"]["sha256"],
        NOW,
    )


def test_it_verifies_an_unchanged_report(year_app):
    row = monthly(year_app)
    assert invoke(year_app, "report", "verify", str(row.id)).exit_code == 0


def test_it_detects_a_modified_file_and_exits_non_zero(year_app):
    row = monthly(year_app)
    path = reports.path_of(year_app, row, "xlsx")
    path.write_bytes(path.read_bytes() + b"\0")
    result = invoke(year_app, "report", "verify", str(row.id))
    assert (result.exit_code, "does not match the register" in result.output) == (1, True)


@pytest.fixture
def smtp(tmp_path):
    with SmtpServer(tmp_path) as server:
        yield server


@pytest.fixture
def mail_app(tmp_path, clock, smtp):
    """The fixture year with reports/ copied and a delivery.yaml pointing at the server."""
    folder = tmp_path / "reports"
    shutil.copytree(fixture.REPORTS, folder)
    delivery = {
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": USER,
            "password_secret": "smtp_password",
            "from": USER,
            "ca_file": str(smtp.cert),
        },
        "purchaser": {"to": ["archive@purchaser.test"], "cc": ["pm@purchaser.test"]},
    }
    (folder / "delivery.yaml").write_text(yaml.safe_dump(delivery), encoding="utf-8")
    from tests.reports.conftest import _year

    env = {"HOTLINE_OPS_SECRET_SMTP_PASSWORD": PASSWORD}
    app = _year(tmp_path, clock, None, env=env, paths={"reports": str(folder)})
    yield app
    app.close()


def test_it_mails_the_pdf_and_xlsx_to_the_purchaser_over_starttls(mail_app, smtp):
    row = reports.file(mail_app, report_id=monthly(mail_app).id)
    msg = smtp.inbox.messages[0]
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert (names, smtp.inbox.mails[0].rcpt_tos, row.delivered_to) == (
        [reports.path_of(mail_app, row, "pdf").name, reports.path_of(mail_app, row, "xlsx").name],
        ["archive@purchaser.test", "pm@purchaser.test"],
        ["archive@purchaser.test", "pm@purchaser.test"],
    )


def test_it_records_the_servers_answer_and_message_id_as_the_receipt(mail_app, smtp):
    row = reports.file(mail_app, report_id=monthly(mail_app).id)
    message_id = smtp.inbox.messages[0]["Message-ID"]
    assert (row.filed_at, row.receipt) == (NOW, f"250 Message accepted for delivery; {message_id}")


def test_it_files_a_report_only_once(mail_app):
    row = monthly(mail_app)
    reports.file(mail_app, report_id=row.id)
    with pytest.raises(IllegalTransition, match="was filed at"):
        reports.file(mail_app, report_id=row.id)


def test_it_refuses_to_file_a_report_whose_file_changed(mail_app, smtp):
    row = monthly(mail_app)
    path = reports.path_of(mail_app, row, "pdf")
    path.write_bytes(b"tampered")
    with pytest.raises(HotlineOpsError, match="does not match the register"):
        reports.file(mail_app, report_id=row.id)
    assert smtp.inbox.messages == []


def test_it_records_a_hand_delivery_without_mail(year_app):
    row = reports.file(year_app, report_id=monthly(year_app).id, receipt="纸质签收 张三")
    assert (row.filed_at, row.receipt) == (NOW, "纸质签收 张三")


def test_it_schedules_the_last_complete_month(year_app, clock):
    clock.set(fixture.local(2027, 4, 1, 9))
    assert [(r.kind, r.period, r.trigger) for r in reports.scheduled(year_app, "monthly")] == [
        ("monthly", "2027-03", "schedule")
    ]


def test_it_reports_each_level_1_and_2_incident_with_the_daily_run(year_app, clock):
    clock.set(fixture.local(2027, 3, 21, 8, 30))  # incident 3 (L1) was resolved on 20 March
    built = reports.scheduled(year_app, "daily")
    assert [(r.kind, r.period) for r in built] == [("daily", "2027-03-20"), ("incident", "3")]
