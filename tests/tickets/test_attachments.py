"""Attachments at the service: the real 200 MB limit, traversal, executables (P2.1)."""

from __future__ import annotations

import pytest

from hotline_ops.core import files
from hotline_ops.errors import BadRequest
from hotline_ops.tickets import attachments, service
from tests.tickets.helpers import body, ticket_site

MB = 1024 * 1024


@pytest.fixture
def app(tmp_path, make_app):
    return make_app(ticket_site(tmp_path / "site"))


def _left(app, ticket_id):
    folder = attachments.folder(app, ticket_id)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_it_refuses_one_byte_over_200_mb_and_leaves_nothing(app):
    ticket = service.create(app, body=body(), actor="seat")
    chunks = (b"\0" * MB for _ in range(200))
    with pytest.raises(attachments.TooLarge):
        attachments.add(
            app, ticket_id=ticket.id, name="big.bin", chunks=[*chunks, b"\0"], actor="seat"
        )
    assert _left(app, ticket.id) == []


def test_it_accepts_exactly_200_mb(app):
    ticket = service.create(app, body=body(), actor="seat")
    row = attachments.add(
        app,
        ticket_id=ticket.id,
        name="ok.bin",
        chunks=(b"\0" * MB for _ in range(200)),
        actor="seat",
    )
    assert row.size == 200 * MB


def test_it_refuses_a_parent_directory_name_and_leaves_nothing(app, tmp_path):
    ticket = service.create(app, body=body(), actor="seat")
    with pytest.raises(BadRequest, match="name: must be a plain file name"):
        attachments.add(
            app, ticket_id=ticket.id, name="../../escape.txt", chunks=[b"x"], actor="seat"
        )
    assert list(tmp_path.rglob("escape.txt")) == []


def test_it_refuses_an_executable_and_leaves_nothing(app):
    ticket = service.create(app, body=body(), actor="seat")
    with pytest.raises(BadRequest, match="executables are not accepted"):
        attachments.add(
            app, ticket_id=ticket.id, name="photo.jpg", chunks=[b"MZ\x90\x00rest"], actor="seat"
        )
    assert _left(app, ticket.id) == []


def test_it_sniffs_a_jpeg_whatever_its_name():
    assert files.sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"


def test_it_takes_utf8_text_cut_mid_character_as_text():
    assert files.sniff("投诉内容".encode()[:7]) == "text/plain"
