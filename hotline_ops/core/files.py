"""Attachment names and types (pure): no path traversal, type from the content itself."""

from __future__ import annotations

# First bytes → MIME type. The client's Content-Type and file extension are not trusted.
MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"PK\x03\x04", "application/zip"),  # also docx/xlsx
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # doc/xls
    (8, b"WAVE", "audio/wav"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"#!AMR", "audio/amr"),
    (4, b"ftyp", "video/mp4"),
)
REFUSED: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"#!", "a script"),
)


def sniff(head: bytes) -> str:
    """The MIME type of content starting with ``head``; ValueError for executables."""
    for offset, magic, mime in MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    for magic, what in REFUSED:
        if head.startswith(magic):
            raise ValueError(f"content is {what}; executables are not accepted")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed head is still text.
        if exc.start < len(head) - 3:
            return "application/octet-stream"
    return "text/plain"


def safe_name(name: str) -> str:
    """The name as given, or ValueError when it could point outside the ticket's folder."""
    if not name or len(name) > 200:
        raise ValueError("must be 1–200 characters")
    if any(c in name for c in "/\\\x00") or name in (".", "..") or name.startswith("."):
        raise ValueError("must be a plain file name (no '/', '\\', '..' or leading '.')")
    if any(ord(c) < 32 for c in name):
        raise ValueError("must not contain control characters")
    return name
