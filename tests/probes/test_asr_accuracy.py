"""AsrAccuracyProbe against a stand-in speech-to-text engine on 127.0.0.1.

The reference set in ``asr/reference`` has five recordings (fake audio bytes) of exactly 30
reference characters each after normalisation, 150 in all. The engine recognises a recording
by the SHA-256 of its bytes and answers with the transcript the test chose for it, so each
test knows exactly how many character edits the probe must find.
"""

from __future__ import annotations

import asyncio
import email.parser
import hashlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pydantic
import pytest

from hotline_ops.probes.asr_accuracy import AsrAccuracyProbe
from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.registry import probe_class

REFERENCE = Path(__file__).parent / "asr" / "reference"

# What the engine "heard": 3 edits in 150 reference characters, i.e. exactly 98 %.
HEARD = {
    # Traditional script, full-width digits, no punctuation: still exact.
    "call-01": "您好 這裡是梧州市１２３４５政務服務便民熱線 請問有什麼可以幫您",
    "call-02": "我家楼下的路登已经坏了三天了 晚上特别黑 老人孩子出门都很不方便",  # 灯→登: 1
    "call-03": "我想咨询下社保卡补办需要带什么材料 在哪个窗口办里 大概要多久",  # −一, 理→里: 2
    "call-04": "小区app上报修一直没人处理，物业电话也打不通，请你们帮忙催一下",  # APP→app: 0
    "call-05": "长洲区新兴二路的下水道堵了两天，污水流到马路上，味道非常大很难闻",
}
EXACT = {
    "call-01": "您好，這裡是梧州市12345政務服務便民熱線，請問有什麼可以幫您？",
    "call-02": "我家樓下的路燈已經壞了三天了，晚上特別黑，老人孩子出門都很不方便。",
    "call-03": "我想諮詢一下社保卡補辦需要帶什麼材料，在哪個窗口辦理，大概要多久？",
    "call-04": "小區ＡＰＰ上報修一直沒人處理，物業電話也打不通，請你們幫忙催一下。",
    "call-05": "長洲區新興二路的下水道堵了兩天，污水流到馬路上，味道非常大很難聞。",
}


@dataclass(frozen=True)
class Request:
    name: str  # the recording's stem, found by its bytes
    content_type: str
    field: str | None  # multipart field name; None for a raw body
    filename: str | None
    authorization: str | None


class Engine(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EngineHandler)
        self.names = {_digest(path.read_bytes()): path.stem for path in _recordings(REFERENCE)}
        self.replies: dict[str, tuple[int, bytes]] = {}
        self.requests: list[Request] = []
        self.delay_s = 0.0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a probe that timed out closes the connection before the late reply

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/asr"

    def answer(self, transcripts: dict[str, str], field: str = "text") -> None:
        for name, text in transcripts.items():
            self.replies[name] = (200, json.dumps({field: text, "code": 0}).encode())

    def sorted_requests(self) -> list[Request]:
        return sorted(self.requests, key=lambda request: request.name)


class _EngineHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Engine

    def do_POST(self) -> None:
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            time.sleep(self.server.delay_s)
            self._answer()
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        content_type = self.headers["Content-Type"]
        field = filename = None
        audio = body
        if content_type.startswith("multipart/form-data"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            [part] = email.parser.BytesParser().parsebytes(head + body).get_payload()
            field = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            content_type = part.get_content_type()
            audio = part.get_payload(decode=True)
        name = self.server.names.get(_digest(audio), "unknown")
        authorization = self.headers["Authorization"]
        self.server.requests.append(Request(name, content_type, field, filename, authorization))
        status, reply = self.server.replies.get(name, (404, b'{"error": "unknown audio"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _recordings(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix != ".txt")


@pytest.fixture
def engine() -> Iterator[Engine]:
    server = Engine()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _check(params: dict[str, Any], timeout: float = 5.0) -> ProbeResult:
    return asyncio.run(AsrAccuracyProbe(params).check(timeout))


def _params(engine: Engine, **extra: Any) -> dict[str, Any]:
    return {"endpoint": engine.url, "folder": str(REFERENCE), **extra}


def test_it_passes_with_3_edits_in_150_characters_at_exactly_98_percent(engine: Engine) -> None:
    engine.answer(HEARD)
    result = _check(_params(engine))
    assert (result.ok, result.classification) == (True, "ok")
    assert result.detail == "accuracy 98.00% >= 98.00% over 5 samples (worst: call-03 93.3%)"
    assert result.metrics == {
        "asr_accuracy": 0.98,
        "asr_samples": 5.0,
        "asr_edits": 3.0,
        "asr_ref_chars": 150.0,
        "asr_errors": 0.0,
    }
    assert result.latency_s is not None and 0 < result.latency_s < 5.0


def test_it_fails_with_4_edits_in_150_characters(engine: Engine) -> None:
    engine.answer({**HEARD, "call-05": HEARD["call-05"].replace("马路", "马陆")})
    result = _check(_params(engine))
    assert (result.ok, result.classification) == (False, "below_threshold")
    assert result.detail == "accuracy 97.33% < 98.00% over 5 samples (worst: call-03 93.3%)"
    assert (result.metrics["asr_accuracy"], result.metrics["asr_edits"]) == (146 / 150, 4.0)


def test_it_scores_traditional_full_width_punctuated_transcripts_as_exact(engine: Engine) -> None:
    engine.answer(EXACT)
    result = _check(_params(engine))
    assert (result.ok, result.metrics["asr_edits"], result.metrics["asr_accuracy"]) == (
        True,
        0.0,
        1.0,
    )
    assert result.detail == "accuracy 100.00% >= 98.00% over 5 samples (worst: call-01 100.0%)"


def test_it_applies_the_configured_threshold(engine: Engine) -> None:
    engine.answer(HEARD)
    result = _check(_params(engine, threshold=0.99))
    assert (result.ok, result.detail) == (
        False,
        "accuracy 98.00% < 99.00% over 5 samples (worst: call-03 93.3%)",
    )


def test_it_posts_each_recording_as_multipart_field_audio(engine: Engine) -> None:
    engine.answer(HEARD)
    _check(_params(engine))
    assert engine.sorted_requests() == [
        Request("call-01", "audio/wav", "audio", "call-01.wav", None),
        Request("call-02", "audio/wav", "audio", "call-02.wav", None),
        Request("call-03", "audio/mpeg", "audio", "call-03.mp3", None),
        Request("call-04", "audio/amr", "audio", "call-04.amr", None),
        Request("call-05", "audio/pcm", "audio", "call-05.pcm", None),
    ]


def test_it_uses_the_configured_multipart_field(engine: Engine) -> None:
    engine.answer(HEARD)
    _check(_params(engine, file_field="file"))
    assert {request.field for request in engine.requests} == {"file"}


def test_it_posts_raw_audio_with_the_content_type_of_its_extension(engine: Engine) -> None:
    engine.answer(HEARD)
    result = _check(_params(engine, api_format="raw"))
    assert (result.ok, result.metrics["asr_edits"]) == (True, 3.0)
    assert engine.sorted_requests() == [
        Request("call-01", "audio/wav", None, None, None),
        Request("call-02", "audio/wav", None, None, None),
        Request("call-03", "audio/mpeg", None, None, None),
        Request("call-04", "audio/amr", None, None, None),
        Request("call-05", "audio/pcm", None, None, None),
    ]


def test_it_lets_a_configured_content_type_win_for_raw_audio(engine: Engine) -> None:
    engine.answer(HEARD)
    headers = {"content-type": "audio/L16;rate=8000"}
    _check(_params(engine, api_format="raw", headers=headers))
    assert {request.content_type for request in engine.requests} == {"audio/L16;rate=8000"}


def test_it_reads_the_transcript_at_a_dotted_text_field(engine: Engine) -> None:
    for name, text in HEARD.items():
        reply = {"code": 0, "result": {"sentences": [{"text": text, "confidence": 0.9}]}}
        engine.replies[name] = (200, json.dumps(reply).encode())
    result = _check(_params(engine, text_field="result.sentences.0.text"))
    assert (result.ok, result.metrics["asr_edits"], result.metrics["asr_errors"]) == (
        True,
        3.0,
        0.0,
    )


def test_it_scores_a_failed_request_zero_and_names_it(engine: Engine) -> None:
    engine.answer(HEARD)
    engine.replies["call-04"] = (500, b'{"error": "engine busy"}')
    result = _check(_params(engine))
    assert (result.ok, result.classification) == (False, "below_threshold")
    assert result.detail == (
        "accuracy 78.00% < 98.00% over 5 samples (worst: call-04 0.0%); 1 failed: call-04 HTTP 500"
    )
    assert result.metrics == {
        "asr_accuracy": 117 / 150,
        "asr_samples": 5.0,
        "asr_edits": 33.0,
        "asr_ref_chars": 150.0,
        "asr_errors": 1.0,
    }


def test_it_names_what_was_wrong_with_each_unusable_reply(engine: Engine) -> None:
    engine.answer(HEARD)
    engine.replies["call-01"] = (200, b"<html>login</html>")
    engine.replies["call-02"] = (200, json.dumps({"result": HEARD["call-02"]}).encode())
    engine.replies["call-03"] = (200, b'{"text": 42}')
    engine.replies["call-04"] = (503, b"")
    result = _check(_params(engine))
    assert result.detail == (
        "accuracy 20.00% < 98.00% over 5 samples (worst: call-01 0.0%); 4 failed:"
        " call-01 reply is not JSON, call-02 reply has no 'text',"
        " call-03 reply 'text' is not a string and 1 more"
    )
    assert result.metrics["asr_errors"] == 4.0


def test_it_names_the_dotted_text_field_that_is_missing(engine: Engine) -> None:
    engine.answer(HEARD)
    result = _check(_params(engine, text_field="result.text"))
    assert result.detail.endswith(
        "; 5 failed: call-01 reply has no 'result.text', call-02 reply has no 'result.text',"
        " call-03 reply has no 'result.text' and 2 more"
    )


def test_it_reports_a_refused_connection_for_every_sample() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    result = _check({"endpoint": f"http://127.0.0.1:{port}/asr", "folder": str(REFERENCE)})
    assert (result.ok, result.metrics["asr_accuracy"], result.metrics["asr_errors"]) == (
        False,
        0.0,
        5.0,
    )
    assert result.detail == (
        "accuracy 0.00% < 98.00% over 5 samples (worst: call-01 0.0%); 5 failed:"
        " call-01 connect refused, call-02 connect refused, call-03 connect refused and 2 more"
    )


def test_it_sends_the_bearer_token_from_token_env_and_never_shows_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASR_TOKEN", "s3cret-token")
    engine.answer(HEARD)
    probe = AsrAccuracyProbe(_params(engine, token_env="ASR_TOKEN"))
    result = asyncio.run(probe.check(5.0))
    assert {request.authorization for request in engine.requests} == {"Bearer s3cret-token"}
    assert "s3cret" not in f"{probe.params!r} {result.detail}"


def test_it_fails_without_requests_when_the_token_variable_is_unset(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASR_TOKEN", raising=False)
    result = _check(_params(engine, token_env="ASR_TOKEN"))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "environment variable ASR_TOKEN (token_env) is not set",
        "config",
    )
    assert engine.requests == []


def test_it_reports_a_missing_reference_folder(engine: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = _check({"endpoint": engine.url, "folder": str(missing)})
    assert (result.ok, result.latency_s, result.detail, result.classification) == (
        False,
        None,
        f"reference folder '{missing}' has no recordings",
        "no_reference",
    )


def test_it_reports_a_folder_with_only_texts_as_having_no_recordings(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "call-01.txt").write_text("您好", encoding="utf-8")
    (tmp_path / "notes.md").write_text("reference set, 2026", encoding="utf-8")
    result = _check({"endpoint": engine.url, "folder": str(tmp_path)})
    assert result.detail == f"reference folder '{tmp_path}' has no recordings"


def test_it_rejects_a_recording_without_reference_text(engine: Engine, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(REFERENCE, tmp_path / "reference"))
    (folder / "call-03.txt").unlink()
    engine.answer(HEARD)
    result = _check({"endpoint": engine.url, "folder": str(folder)})
    assert (result.ok, result.detail, result.classification) == (
        False,
        "recording call-03.mp3 has no call-03.txt",
        "no_reference",
    )
    assert engine.requests == []


def test_it_rejects_a_reference_text_that_is_not_utf8(engine: Engine, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(REFERENCE, tmp_path / "reference"))
    (folder / "call-02.txt").write_text("路灯坏了", encoding="gbk")
    result = _check({"endpoint": engine.url, "folder": str(folder)})
    assert result.detail == (
        "cannot read call-02.txt: 'utf-8' codec can't decode byte 0xb5 in position 2:"
        " invalid start byte"
    )


def test_it_rejects_a_reference_text_without_words(engine: Engine, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(REFERENCE, tmp_path / "reference"))
    (folder / "call-02.txt").write_text("（）。。。 \n", encoding="utf-8")
    result = _check({"endpoint": engine.url, "folder": str(folder)})
    assert (result.detail, engine.requests) == ("reference call-02.txt has no text", [])


def test_it_rejects_two_recordings_sharing_one_reference(engine: Engine, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(REFERENCE, tmp_path / "reference"))
    shutil.copy(folder / "call-01.wav", folder / "call-01.mp3")
    result = _check({"endpoint": engine.url, "folder": str(folder)})
    assert result.detail == "recordings call-01.mp3 and call-01.wav share one name"


def test_it_keeps_at_most_concurrency_requests_in_flight(engine: Engine) -> None:
    engine.answer(HEARD)
    engine.delay_s = 0.1
    result = _check(_params(engine, concurrency=2))
    assert (result.ok, len(engine.requests), engine.max_in_flight) == (True, 5, 2)


def test_it_times_out_as_a_whole(engine: Engine) -> None:
    engine.answer(HEARD)
    engine.delay_s = 1.0
    started = time.monotonic()
    result = _check(_params(engine), timeout=0.3)
    elapsed = time.monotonic() - started
    assert (result.ok, result.latency_s, result.detail) == (False, None, "timeout after 0.3s")
    assert 0.3 <= elapsed < 0.8


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"endpoint": "ftp://asr/", "folder": "r"}, "url scheme must be http or https"),
        ({"endpoint": "http://asr/", "folder": "r", "api_format": "wav"}, "api_format"),
        ({"endpoint": "http://asr/", "folder": "r", "threshold": 98}, "less than or equal to 1"),
        ({"endpoint": "http://asr/", "folder": "r", "token_env": "$T"}, "token_env must name"),
        ({"endpoint": "http://asr/", "folder": "r", "text_field": "a..b"}, "has an empty part"),
        ({"endpoint": "http://asr/", "folder": "r", "concurrency": 0}, "greater than or equal"),
        ({"endpoint": "http://asr/", "folder": "r", "headers": {"X": "a\nb"}}, "line break"),
        ({"endpoint": "http://asr/", "folder": "r", "treshold": 0.9}, "Extra inputs"),
        ({"endpoint": "http://asr/", "folder": 7}, "folder\n  Input should be a valid string"),
        ({"endpoint": "http://asr/"}, "folder\n  Field required"),
    ],
)
def test_it_rejects_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        AsrAccuracyProbe(params)


def test_it_is_registered_as_asr_accuracy() -> None:
    assert probe_class("asr_accuracy") is AsrAccuracyProbe
