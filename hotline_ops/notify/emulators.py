"""Local HTTP servers that speak the documented APIs of the SaaS channels.

WeCom and DingTalk group robots, a generic SMS gateway, Alibaba Cloud SendSms and a generic
voice-call API, with their error codes and rate-limit answers: the emulators check keys,
DingTalk and Alibaba signatures and timestamp freshness, length limits and enforce the
providers' rate limits themselves (WeCom 45009 and DingTalk 130101 at 20/min). They verify
signatures with their own code, written from the providers' documents, not with the
channels' functions, so a signing bug cannot agree with itself.

Used by the tests (as fixtures), benchmarks and demos::

    python -m hotline_ops.notify.emulators        # all five on 127.0.0.1:8351-8355
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from hotline_ops.clock import Clock, SystemClock
from hotline_ops.errors import ChannelError
from hotline_ops.notify.base import Message, Recipient
from hotline_ops.notify.registry import build_channel

MOBILE = re.compile(r"^1[3-9]\d{9}$")
Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class RateWindow:
    """At most ``count`` events per ``seconds`` per key (a sliding window, like the providers)."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self._events: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if len(events) >= self.count:
            return False
        events.append(now)
        return True

    def retry_after(self, key: str, now: float) -> float:
        events = self._events.get(key)
        return max(0.0, events[0] + self.seconds - now) if events else 0.0


@dataclass
class Emulator:
    """One provider on one loopback port. ``accepted`` holds what the provider delivered;
    ``requests`` every request, ``script`` canned answers served first; ``outage()`` makes
    it answer 503 for a while (the "channel down for 10 minutes" tests)."""

    host: str = "127.0.0.1"
    port: int = 0
    clock: Clock = field(default_factory=SystemClock)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    # Until this clock time (epoch seconds) every request gets 503: a provider outage.
    down_until: float | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the emulator first")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> Emulator:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def now(self) -> float:
        return self.clock.now().timestamp()

    def dispatch(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            if self.script:
                return self.script.pop(0)
            if self.down_until is not None and self.now() < self.down_until:
                return 503, {"error": "service unavailable"}, {}
            return self.handle(request)

    def outage(self, seconds: float) -> None:
        """Answer 503 to everything for ``seconds`` of the emulator's clock from now."""
        with self.lock:
            self.down_until = self.now() + seconds

    def handle(self, request: Request) -> Answer:
        raise NotImplementedError


def _handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the
        # client's delayed ACK (40 ms on Linux) and every call looks slow.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Request(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query, keep_blank_values=True)),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            try:
                status, body, headers = emulator.dispatch(request)
            except (ValueError, KeyError, TypeError) as exc:
                status, body, headers = 400, {"error": f"bad request: {exc}"}, {}
            payload = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_POST = _serve
        do_GET = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass  # tests and demos print what they need

    return Handler


# --- WeCom group robot ------------------------------------------------------------------


@dataclass
class WeComRobotEmulator(Emulator):
    """``POST /cgi-bin/webhook/send?key=KEY``; 20 messages per minute per robot."""

    keys: set[str] = field(default_factory=set)
    limit: tuple[int, float] = (20, 60.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = RateWindow(*self.limit)

    def handle(self, request: Request) -> Answer:
        if request.path != "/cgi-bin/webhook/send":
            return 404, {"errcode": 404, "errmsg": "not found"}, {}
        key = request.query.get("key", "")
        if key not in self.keys:
            return 200, _err(93000, "invalid webhook url, hint: [key invalid]"), {}
        try:
            payload = request.json()
        except ValueError:
            return 200, _err(40058, "invalid json"), {}
        problem = _wecom_problem(payload)
        if problem:
            return 200, _err(40058, problem), {}
        if not self.window.allow(key, self.now()):
            return 200, _err(45009, "api freq out of limit"), {}
        self.accepted.append({"key": key, **payload})
        return 200, {"errcode": 0, "errmsg": "ok"}, {}


def _wecom_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "invalid json"
    msgtype = payload.get("msgtype")
    limits = {"markdown": 4096, "text": 2048}
    if msgtype not in limits:
        return f"invalid msgtype '{msgtype}'"
    content = (payload.get(msgtype) or {}).get("content")
    if not isinstance(content, str) or not content:
        return f"{msgtype}.content is missing"
    if len(content.encode()) > limits[msgtype]:
        return f"{msgtype}.content exceed max length {limits[msgtype]}"
    return None


def _err(code: int, message: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": message}


# --- DingTalk custom robot --------------------------------------------------------------


@dataclass
class DingTalkRobotEmulator(Emulator):
    """``POST /robot/send?access_token=T[&timestamp=MS&sign=S]``.

    ``tokens`` maps an access token to its signing secret (None: robot without 加签).
    Over 20 messages a minute, DingTalk answers 130101 and throttles the robot 10 minutes."""

    tokens: dict[str, str | None] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    limit: tuple[int, float] = (20, 60.0)
    throttle_s: float = 600.0
    max_skew_s: float = 3600.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = RateWindow(*self.limit)
        self.throttled_until: dict[str, float] = {}

    def handle(self, request: Request) -> Answer:
        if request.path != "/robot/send":
            return 404, _err(404, "请求的URI地址不存在"), {}
        token = request.query.get("access_token", "")
        if token not in self.tokens:
            return 200, _err(300001, "token is not exist"), {}
        secret = self.tokens[token]
        if secret is not None:
            problem = self._signature_problem(request.query, secret)
            if problem:
                return 200, _err(310000, problem), {}
        payload = request.json()
        text = _dingtalk_text(payload)
        if text is None:
            return 200, _err(40035, "缺少参数 json"), {}
        if self.keywords and not any(k in text for k in self.keywords):
            return 200, _err(310000, "keywords not in content"), {}
        return self._rate_limited(token) or self._accept(token, payload)

    def _signature_problem(self, query: dict[str, str], secret: str) -> str | None:
        raw = query.get("timestamp", "")
        if not raw.isdigit():
            return "invalid timestamp"
        if abs(int(raw) / 1000 - self.now()) > self.max_skew_s:
            return f"invalid timestamp {raw}"
        # The document's recipe: HMAC-SHA256 over "timestamp\nsecret", base64; the query
        # parser has already undone the URL encoding.
        expected = base64.b64encode(
            hmac.new(secret.encode("utf-8"), f"{raw}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(query.get("sign", ""), expected):
            return "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"
        return None

    def _rate_limited(self, token: str) -> Answer | None:
        now = self.now()
        if now < self.throttled_until.get(token, 0.0):
            return 200, _err(130101, "send too fast, exceed 20 times per minute"), {}
        if not self.window.allow(token, now):
            self.throttled_until[token] = now + self.throttle_s
            return 200, _err(130101, "send too fast, exceed 20 times per minute"), {}
        return None

    def _accept(self, token: str, payload: dict[str, Any]) -> Answer:
        self.accepted.append({"token": token, **payload})
        return 200, {"errcode": 0, "errmsg": "ok"}, {}


def _dingtalk_text(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    msgtype = payload.get("msgtype")
    if msgtype == "text":
        text = (payload.get("text") or {}).get("content")
    elif msgtype == "markdown":
        md = payload.get("markdown") or {}
        text = md.get("text") if md.get("title") else None
    else:
        return None
    if not isinstance(text, str) or not text or len(text.encode()) > 20000:
        return None
    return text


# --- generic SMS gateway and voice-call API ----------------------------------------------


@dataclass
class GatewayEmulator(Emulator):
    """The generic JSON gateway contract (docs/channels.md) for SMS (``field="content"``) and
    voice (``field="tts"``): bearer token, mainland mobile numbers, a length limit, a
    per-number rate limit answered with HTTP 429, code 1002 and Retry-After."""

    path: str = "/sms/send"
    field_name: str = "content"
    token: str | None = None
    max_chars: int = 201
    per_number: tuple[int, float] = (5, 60.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = RateWindow(*self.per_number)

    def handle(self, request: Request) -> Answer:
        if request.path != self.path:
            return 404, {"code": 404, "message": "not found"}, {}
        bearer = request.headers.get("authorization")
        if self.token is not None and bearer != f"Bearer {self.token}":
            return 401, {"code": 401, "message": "invalid token"}, {}
        body = request.json()
        phone = str(body.get("phone", ""))
        text = body.get(self.field_name)
        if not MOBILE.match(phone):
            return 400, {"code": 1001, "message": f"invalid phone number {phone}"}, {}
        if not isinstance(text, str) or not text or len(text) > self.max_chars:
            return 400, {"code": 1003, "message": f"{self.field_name} empty or too long"}, {}
        now = self.now()
        if not self.window.allow(phone, now):
            wait = round(self.window.retry_after(phone, now), 3)
            answer = {"code": 1002, "message": "rate limited", "retry_after": wait}
            return 429, answer, {"Retry-After": str(max(1, round(wait)))}
        self.accepted.append({"idempotency_key": request.headers.get("idempotency-key"), **body})
        return 200, {"code": 0, "message": "ok", "id": uuid.uuid4().hex}, {}


def sms_gateway(**kwargs: Any) -> GatewayEmulator:
    return GatewayEmulator(path="/sms/send", field_name="content", max_chars=201, **kwargs)


def voice_gateway(**kwargs: Any) -> GatewayEmulator:
    return GatewayEmulator(path="/voice/call", field_name="tts", max_chars=200, **kwargs)


# --- Alibaba Cloud SendSms (RPC style, signature v1) -------------------------------------


def _aliyun_encode(value: str) -> str:
    # The recipe from Alibaba's signature document: URL-encode as UTF-8, then fix the three
    # characters Java's URLEncoder gets wrong.
    return quote(value, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


ALIYUN_REQUIRED = (
    "AccessKeyId", "Action", "PhoneNumbers", "SignName", "SignatureMethod", "SignatureNonce",
    "SignatureVersion", "TemplateCode", "Timestamp", "Version", "Signature",
)


@dataclass
class AliyunSmsEmulator(Emulator):
    """``POST /`` with a form body: checks the key, signature, timestamp (15 min), nonce,
    SignName, TemplateCode and its variables, the number and a per-number flow control."""

    access_keys: dict[str, str] = field(default_factory=dict)
    sign_names: set[str] = field(default_factory=set)
    templates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    per_number: tuple[int, float] = (1, 60.0)
    param_max_chars: int = 35

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window = RateWindow(*self.per_number)
        self.nonces: set[str] = set()

    def handle(self, request: Request) -> Answer:
        params = request.form() if request.method == "POST" else dict(request.query)
        checks: list[Callable[[dict[str, str], str], Answer | None]] = [
            self._check_auth, self._check_business
        ]
        for check in checks:
            answer = check(params, request.method)
            if answer is not None:
                return answer
        return self._accept(params)

    def _check_auth(self, params: dict[str, str], method: str) -> Answer | None:
        missing = [k for k in ALIYUN_REQUIRED if not params.get(k)]
        if missing:
            return _ali(400, f"Missing{missing[0]}", f"{missing[0]} is mandatory for this action.")
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            return _ali(400, "InvalidAction.NotFound", "Specified api is not found.")
        secret = self.access_keys.get(params["AccessKeyId"])
        if secret is None:
            return _ali(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params["Signature"] != self._signature(params, method, secret):
            return _ali(400, "SignatureDoesNotMatch", "Specified signature is not matched.")
        return self._check_replay(params)

    def _signature(self, params: dict[str, str], method: str, secret: str) -> str:
        pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
        canonical = "&".join(f"{_aliyun_encode(k)}={_aliyun_encode(v)}" for k, v in pairs)
        to_sign = f"{method}&%2F&{_aliyun_encode(canonical)}"
        digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def _check_replay(self, params: dict[str, str]) -> Answer | None:
        try:
            at = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return _ali(400, "InvalidTimeStamp.Format", "Specified time stamp is invalid.")
        if abs(at.timestamp() - self.now()) > 900:
            return _ali(400, "InvalidTimeStamp.Expired", "Specified time stamp or date is expired.")
        if params["SignatureNonce"] in self.nonces:
            return _ali(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(params["SignatureNonce"])
        return None

    def _check_business(self, params: dict[str, str], method: str) -> Answer | None:
        phone = params["PhoneNumbers"]
        if not MOBILE.match(phone):
            return _ali(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params["SignName"] not in self.sign_names:
            return _ali(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        variables = self.templates.get(params["TemplateCode"])
        if variables is None:
            return _ali(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return _ali(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        return self._check_variables(variables, values) or self._check_flow(phone)

    def _check_variables(self, variables: tuple[str, ...], values: Any) -> Answer | None:
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return _ali(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        missing = [v for v in variables if v not in values]
        if missing:
            return _ali(200, "isv.TEMPLATE_MISSING_PARAMETERS", f"模板缺少变量 {missing[0]}")
        if any(len(v) > self.param_max_chars for v in values.values()):
            return _ali(200, "isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        return None

    def _check_flow(self, phone: str) -> Answer | None:
        if not self.window.allow(phone, self.now()):
            return _ali(200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        return None

    def _accept(self, params: dict[str, str]) -> Answer:
        self.accepted.append(
            {
                "phone": params["PhoneNumbers"],
                "sign_name": params["SignName"],
                "template_code": params["TemplateCode"],
                "params": json.loads(params.get("TemplateParam") or "{}"),
                "out_id": params.get("OutId", ""),
            }
        )
        answer = {"Code": "OK", "Message": "OK", "BizId": uuid.uuid4().hex[:20]}
        return 200, {**answer, "RequestId": str(uuid.uuid4())}, {}


def _ali(status: int, code: str, message: str) -> Answer:
    return status, {"Code": code, "Message": message, "RequestId": str(uuid.uuid4())}, {}


# --- demo: all five on fixed ports -------------------------------------------------------

DEMO_SECRETS = {
    "wecom_robot_key": "demo-wecom-key",
    "dingtalk_token": "demo-dingtalk-token",
    "dingtalk_secret": "SECdemo-dingtalk-secret",
    "sms_gateway_token": "demo-sms-token",
    "aliyun_ak_id": "LTAIdemoAccessKey",
    "aliyun_ak_secret": "demo-aliyun-secret",
    "voice_gateway_token": "demo-voice-token",
}
DEMO_SIGN_NAME = "梧州热线运维"
DEMO_TEMPLATE = "SMS_465000001"


def demo_emulators(
    host: str = "127.0.0.1", base_port: int | None = 8350
) -> dict[str, Emulator]:
    """The five emulators on base_port+1 … +5 (None: any free ports), configured for the
    examples in incidents/channels.yaml."""
    s = DEMO_SECRETS
    if base_port is None:
        return {name: _ephemeral(e) for name, e in demo_emulators(host, 0).items()}
    return {
        "wecom": WeComRobotEmulator(host, base_port + 1, keys={s["wecom_robot_key"]}),
        "dingtalk": DingTalkRobotEmulator(
            host, base_port + 2, tokens={s["dingtalk_token"]: s["dingtalk_secret"]}
        ),
        "sms": sms_gateway(host=host, port=base_port + 3, token=s["sms_gateway_token"]),
        "aliyun": AliyunSmsEmulator(
            host,
            base_port + 4,
            access_keys={s["aliyun_ak_id"]: s["aliyun_ak_secret"]},
            sign_names={DEMO_SIGN_NAME},
            templates={DEMO_TEMPLATE: ("level", "title", "id")},
        ),
        "voice": voice_gateway(host=host, port=base_port + 5, token=s["voice_gateway_token"]),
    }


def demo_channel_params(urls: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """(kind, params) of a channel for each demo emulator, given the emulators' base URLs;
    the same settings as the examples in incidents/channels.yaml."""
    return {
        "wecom": ("wecom", {"url": f"{urls['wecom']}/cgi-bin/webhook/send",
                            "key_secret": "wecom_robot_key"}),
        "dingtalk": ("dingtalk", {"url": f"{urls['dingtalk']}/robot/send",
                                  "token_secret": "dingtalk_token",
                                  "sign_secret": "dingtalk_secret"}),
        "sms": ("sms", {"provider": {"type": "http", "url": f"{urls['sms']}/sms/send",
                                     "token_secret": "sms_gateway_token",
                                     "sign_name": DEMO_SIGN_NAME}}),
        "aliyun": ("sms", {"provider": {"type": "aliyun", "endpoint": f"{urls['aliyun']}/",
                                        "access_key_id_secret": "aliyun_ak_id",
                                        "access_key_secret_secret": "aliyun_ak_secret",
                                        "sign_name": DEMO_SIGN_NAME,
                                        "template_code": DEMO_TEMPLATE}}),
        "voice": ("voice", {"provider": {"type": "http", "url": f"{urls['voice']}/voice/call",
                                         "token_secret": "voice_gateway_token"}}),
    }


def demo_message() -> Message:
    subject = "【梧州12345·一级故障】12345 呼入中继中断（演示）"
    text = f"{subject}\n事件编号：#1\n故障等级：一级（重大故障）\n发生时间：演示"
    data = {"event": "opened", "incident_id": 1, "level": 1, "title": "12345 呼入中继中断（演示）"}
    return Message("demo:1", subject, text, data, Recipient("值班工程师", phone="13877400001"))


def send_demo(emulators: dict[str, Emulator]) -> None:
    """One demo incident through a channel to each emulator (what `--once` shows)."""
    urls = {name: emulator.url for name, emulator in emulators.items()}
    for name, (kind, params) in demo_channel_params(urls).items():
        with build_channel(f"demo-{name}", kind, params, DEMO_SECRETS) as channel:
            try:
                channel.send(demo_message())
            except ChannelError as exc:
                print(f"[{name}] failed: {exc}", flush=True)


def _ephemeral(emulator: Emulator) -> Emulator:
    emulator.port = 0
    return emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the channel API emulators for a demo.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8350)
    parser.add_argument(
        "--once", action="store_true",
        help="send one demo incident through each channel, print what arrived, exit",
    )
    args = parser.parse_args(argv)
    emulators = demo_emulators(args.host, None if args.once else args.base_port)
    for name, emulator in emulators.items():
        emulator.start()
        print(f"{name:9} {emulator.url}", flush=True)
    if not args.once:
        for secret, value in DEMO_SECRETS.items():
            print(f"export HOTLINE_OPS_SECRET_{secret.upper()}={value}", flush=True)
    stop = threading.Event()
    try:
        if args.once:
            send_demo(emulators)
            _print_new(emulators, dict.fromkeys(emulators, 0))
            return
        _report_until(stop, emulators)
    except KeyboardInterrupt:
        pass
    finally:
        for emulator in emulators.values():
            emulator.stop()


def _report_until(stop: threading.Event, emulators: dict[str, Emulator]) -> None:
    seen = dict.fromkeys(emulators, 0)
    while not stop.wait(0.5):
        _print_new(emulators, seen)


def _print_new(emulators: dict[str, Emulator], seen: dict[str, int]) -> None:
    for name, emulator in emulators.items():
        with emulator.lock:
            new = emulator.accepted[seen[name] :]
            seen[name] = len(emulator.accepted)
        for item in new:
            print(f"[{name}] {json.dumps(item, ensure_ascii=False)}", flush=True)


if __name__ == "__main__":
    main()
