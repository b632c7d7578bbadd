"""Speech-to-text accuracy probe (P1.2: accuracy ≥ 98 %).

Sends every recording of a reference set to the platform's speech-to-text HTTP API and
scores the transcripts against the reference texts by character error rate (see
``hotline_ops.core.asr``). The reference set is a folder with, for each recording
``NAME.wav`` (or .mp3, .amr, .pcm), a UTF-8 reference transcript ``NAME.txt``.

A request that fails scores its sample 0 %: an engine that cannot answer is not accurate.
httpx is fine here: the probe runs a handful of requests a few times a day, not a hot path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx
import zhconv
from pydantic import Field, field_validator

from hotline_ops.core.asr import corpus_accuracy, edit_distance, normalise
from hotline_ops.probes.api_client import (
    ApiParams,
    MissingToken,
    describe_http_error,
    dotted_path,
    request_headers,
    tls_context,
    value_at,
)
from hotline_ops.probes.base import Probe, ProbeResult, describe_error, run_within
from hotline_ops.probes.http import parse_target

AUDIO_TYPES: dict[str, str] = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".amr": "audio/amr",
    ".pcm": "audio/pcm",
}
_MAX_NAMED_FAILURES = 3


def to_simplified(text: str) -> str:
    """Traditional → simplified by character (zh-hans), not by region: regional wording
    (zh-cn turns 軟體 into 软件) would rewrite what the speaker said."""
    return str(zhconv.convert(text, "zh-hans"))


@dataclass(frozen=True)
class _Sample:
    name: str
    audio: Path
    reference: str  # normalised


@dataclass(frozen=True)
class _Score:
    name: str
    edits: int
    ref_chars: int
    error: str | None  # why the request failed; None when the engine answered

    @property
    def accuracy(self) -> float:
        return corpus_accuracy(self.edits, self.ref_chars)


class _Unusable(Exception):
    """The check cannot start (reference set or token missing); the message is the detail."""

    def __init__(self, message: str, classification: str = "no_reference") -> None:
        super().__init__(message)
        self.classification = classification


class AsrAccuracyProbe(Probe):
    """Corpus accuracy of the platform's speech-to-text over a reference set of recordings."""

    kind: ClassVar[str] = "asr_accuracy"
    params: AsrAccuracyProbe.Params

    class Params(ApiParams):
        endpoint: str
        folder: str
        threshold: float = Field(default=0.98, gt=0, le=1)
        api_format: Literal["multipart", "raw"] = "multipart"
        file_field: str = "audio"  # multipart only
        text_field: str = "text"  # dotted path into the JSON reply, e.g. "result.text"
        concurrency: int = Field(default=4, ge=1, le=64)

        @field_validator("endpoint")
        @classmethod
        def _endpoint_is_http(cls, url: str) -> str:
            parse_target(url)
            return url

        @field_validator("text_field")
        @classmethod
        def _text_field_has_no_empty_part(cls, path: str) -> str:
            return dotted_path("text_field", path)

    def __init__(
        self, params: dict[str, Any], *, to_simplified: Callable[[str], str] = to_simplified
    ) -> None:
        super().__init__(params)
        self._to_simplified = to_simplified

    async def check(self, timeout: float) -> ProbeResult:
        return await run_within(timeout, self._attempt(timeout))

    async def _attempt(self, timeout: float) -> ProbeResult:
        start = time.perf_counter()
        try:
            samples = self._load_samples()
            headers = request_headers(self.params)
        except _Unusable as exc:
            return ProbeResult(False, None, str(exc), classification=exc.classification)
        except MissingToken as exc:
            return ProbeResult(False, None, str(exc), classification="config")
        gate = asyncio.Semaphore(self.params.concurrency)
        # trust_env=False: a proxy from the environment must not sit between probe and engine.
        async with httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            verify=tls_context(),
            trust_env=False,
        ) as client:
            scores = await asyncio.gather(*(self._score(client, gate, s) for s in samples))
        return self._judge(scores, time.perf_counter() - start)

    def _load_samples(self) -> list[_Sample]:
        folder = Path(self.params.folder)
        recordings = sorted(folder.iterdir()) if folder.is_dir() else []
        recordings = [p for p in recordings if p.suffix.lower() in AUDIO_TYPES and p.is_file()]
        if not recordings:
            raise _Unusable(f"reference folder '{folder}' has no recordings")
        samples: dict[str, _Sample] = {}
        for audio in recordings:
            if audio.stem in samples:
                other = samples[audio.stem].audio.name
                raise _Unusable(f"recordings {other} and {audio.name} share one name")
            text = audio.with_suffix(".txt")
            try:
                reference = text.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                raise _Unusable(f"recording {audio.name} has no {text.name}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise _Unusable(f"cannot read {text.name}: {exc}") from exc
            normalised = normalise(reference, self._to_simplified)
            if not normalised:  # it would weigh nothing in the corpus score, even if failed
                raise _Unusable(f"reference {text.name} has no text")
            samples[audio.stem] = _Sample(audio.stem, audio, normalised)
        return list(samples.values())

    async def _score(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, sample: _Sample
    ) -> _Score:
        ref_chars = len(sample.reference)
        async with gate:
            try:
                transcript = await self._transcribe(client, sample.audio)
            except _SampleFailed as exc:
                return _Score(sample.name, ref_chars, ref_chars, str(exc))
        hypothesis = normalise(transcript, self._to_simplified)
        return _Score(sample.name, edit_distance(sample.reference, hypothesis), ref_chars, None)

    async def _transcribe(self, client: httpx.AsyncClient, audio: Path) -> str:
        try:
            data = audio.read_bytes()
        except OSError as exc:
            raise _SampleFailed(f"cannot read {audio.name}: {describe_error(exc)}") from exc
        content_type = AUDIO_TYPES[audio.suffix.lower()]
        try:
            if self.params.api_format == "multipart":
                files = {self.params.file_field: (audio.name, data, content_type)}
                reply = await client.post(self.params.endpoint, files=files)
            else:
                configured = {name.lower() for name in self.params.headers}
                headers = {} if "content-type" in configured else {"Content-Type": content_type}
                reply = await client.post(self.params.endpoint, content=data, headers=headers)
        except httpx.HTTPError as exc:
            raise _SampleFailed(describe_http_error(exc)) from exc
        if not reply.is_success:
            raise _SampleFailed(f"HTTP {reply.status_code}")
        return _text_at(reply, self.params.text_field)

    def _judge(self, scores: list[_Score], latency: float) -> ProbeResult:
        edits = sum(s.edits for s in scores)
        ref_chars = sum(s.ref_chars for s in scores)
        failed = [s for s in scores if s.error is not None]
        value = corpus_accuracy(edits, ref_chars)
        ok = value >= self.params.threshold
        worst = min(scores, key=lambda s: s.accuracy)  # first by name among equals
        detail = (
            f"accuracy {value:.2%} {'>=' if ok else '<'} {self.params.threshold:.2%}"
            f" over {len(scores)} sample{'' if len(scores) == 1 else 's'}"
            f" (worst: {worst.name} {worst.accuracy:.1%})"
        )
        if failed:
            named = ", ".join(f"{s.name} {s.error}" for s in failed[:_MAX_NAMED_FAILURES])
            more = len(failed) - _MAX_NAMED_FAILURES
            detail += f"; {len(failed)} failed: {named}" + (f" and {more} more" if more > 0 else "")
        metrics = {
            "asr_accuracy": value,
            "asr_samples": float(len(scores)),
            "asr_edits": float(edits),
            "asr_ref_chars": float(ref_chars),
            "asr_errors": float(len(failed)),
        }
        classification = "ok" if ok else "below_threshold"
        return ProbeResult(ok, latency, detail, metrics, classification)


class _SampleFailed(Exception):
    """One recording got no usable transcript; the message names why."""


def _text_at(reply: httpx.Response, path: str) -> str:
    try:
        node = value_at(reply.json(), path)
    except ValueError:
        raise _SampleFailed("reply is not JSON") from None
    except KeyError:
        raise _SampleFailed(f"reply has no '{path}'") from None
    if not isinstance(node, str):
        raise _SampleFailed(f"reply '{path}' is not a string")
    return node
