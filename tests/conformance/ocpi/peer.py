"""A small, independent OCPI 2.2.1 eMSP for the conformance tests: a real HTTP server on loopback (stdlib
http.server in a thread) with its own token store, written from the specification and sharing no code with the
roaming app (it must not import roaming.*), plus a tiny client for calling the CPO under test.

What it does:
- versions, version details and credentials (GET/POST/PUT/DELETE) — it can be registered with, and it can
  register itself with a CPO (``register_with``, ``update_with``, ``unregister_from``);
- receiver endpoints for locations, sessions, CDRs and tariffs that record every PUT/PATCH/POST they get;
- a tokens sender answering real-time authorization (``POST tokens/{uid}/authorize``) from ``tokens``;
- a commands receiver recording CommandResults POSTed to ``response_url``s it hands out.

Tokens: ``token_a`` is what it issues for a CPO to register with it; ``token_for_cpo`` is what the CPO calls it
with once registered; ``token_to_cpo`` is what it calls the CPO with. It checks ``Authorization: Token <base64>``
and answers 401 with an envelope otherwise, as the spec requires.
"""

import base64
import binascii
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "2.2.1"
RECEIVER_MODULES = ("locations", "sessions", "cdrs", "tariffs")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(data=None, status_code: int = 1000, message: str = "") -> dict:
    body = {"data": data, "status_code": status_code, "timestamp": _now()}
    if message:
        body["status_message"] = message
    return body


@dataclass
class Received:
    """One request a receiver endpoint got."""

    method: str
    module: str
    path: str  # below the module URL, e.g. "SE/CSM/LOC1/1"
    body: Any
    headers: dict[str, str]


@dataclass
class Answer:
    """What the peer's client got back."""

    http_status: int
    body: Any
    headers: dict[str, str]

    @property
    def status_code(self) -> int | None:
        return self.body.get("status_code") if isinstance(self.body, dict) else None

    @property
    def data(self):
        return self.body.get("data") if isinstance(self.body, dict) else None


def call(method: str, url: str, *, token: str | None, body: Any = None, headers: dict | None = None,
         encode: bool = True, timeout: float = 10) -> Answer:
    """One HTTP request (the peer's own client). ``token`` None sends no Authorization header."""
    sent = {"Accept": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = "Token " + (base64.b64encode(token.encode()).decode() if encode else token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback test server
            status, raw, answer_headers = answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        status, raw, answer_headers = exc.code, exc.read(), dict(exc.headers or {})
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, parsed, answer_headers)


@dataclass
class EmspPeer:
    """The eMSP's state. Start it with ``start()`` (or as a context manager); ``base_url`` is then set."""

    country_code: str = "NL"
    party_id: str = "EXA"
    name: str = "Example eMSP"
    versions: tuple[str, ...] = (VERSION,)
    #: Modules listed in the version details besides credentials (identifier → role).
    modules: dict[str, str] = field(default_factory=lambda: {
        **dict.fromkeys(RECEIVER_MODULES, "RECEIVER"), "tokens": "SENDER", "commands": "SENDER"})
    base_url: str = ""
    token_a: str | None = None
    token_for_cpo: str | None = None
    token_to_cpo: str | None = None
    cpo_versions_url: str | None = None
    cpo_credentials: dict | None = None
    cpo_endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    #: uid → (allowed, Token object) for real-time authorization.
    tokens: dict[str, tuple[str, dict]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    command_results: list[Received] = field(default_factory=list)
    #: Every real-time authorization request (POST tokens/{uid}/authorize) with its LocationReferences body.
    authorize_requests: list[Received] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: Set by the handler: how the CPO's last call fetching our endpoints went (for registration errors).
    last_error: str = ""

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> "EmspPeer":
        peer = self

        class Handler(_Handler):
            state = peer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/ocpi"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "EmspPeer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/versions"

    def issue_token_a(self) -> str:
        self.token_a = secrets.token_urlsafe(24)
        return self.token_a

    def credentials(self, token: str) -> dict:
        return {"token": token, "url": self.versions_url, "roles": [{
            "role": "EMSP", "party_id": self.party_id, "country_code": self.country_code,
            "business_details": {"name": self.name}}]}

    def response_url(self, command: str) -> str:
        return f"{self.base_url}/emsp/{VERSION}/commands/{command}/{uuid.uuid4()}"

    # --- the peer as the Sender of credentials: it registers with the CPO ---------------------------------------
    def fetch_cpo_endpoints(self, versions_url: str, token: str) -> dict[str, dict[str, str]]:
        versions = call("GET", versions_url, token=token)
        if versions.status_code != 1000:
            raise PeerError(f"versions: {versions.http_status} {versions.body}")
        url = next((v["url"] for v in versions.data if v["version"] == VERSION), None)
        if url is None:
            raise PeerError(f"no {VERSION} in {versions.data}")
        details = call("GET", url, token=token)
        if details.status_code != 1000:
            raise PeerError(f"details: {details.http_status} {details.body}")
        endpoints: dict[str, dict[str, str]] = {}
        for endpoint in details.data["endpoints"]:
            endpoints.setdefault(endpoint["identifier"], {})[endpoint["role"]] = endpoint["url"]
        return endpoints

    def _credentials_url(self) -> str:
        return next(iter(self.cpo_endpoints["credentials"].values()))

    def register_with(self, versions_url: str, token_a: str) -> Answer:
        """Token A → B → C from the eMSP's side: read the CPO's endpoints with token A, POST our credentials with
        a new token B, then call the CPO with the token C it answers."""
        self.cpo_endpoints = self.fetch_cpo_endpoints(versions_url, token_a)
        with self._lock:
            self.token_for_cpo = secrets.token_urlsafe(24)
        answer = call("POST", self._credentials_url(), token=token_a, body=self.credentials(self.token_for_cpo))
        if answer.status_code == 1000:
            self.cpo_credentials = answer.data
            self.token_to_cpo = answer.data["token"]
            self.cpo_versions_url = answer.data["url"]
        return answer

    def update_with(self) -> Answer:
        with self._lock:
            self.token_for_cpo = secrets.token_urlsafe(24)
        answer = call("PUT", self._credentials_url(), token=self.token_to_cpo,
                      body=self.credentials(self.token_for_cpo))
        if answer.status_code == 1000:
            self.cpo_credentials = answer.data
            self.token_to_cpo = answer.data["token"]
        return answer

    def unregister_from(self) -> Answer:
        answer = call("DELETE", self._credentials_url(), token=self.token_to_cpo)
        if answer.status_code == 1000:
            with self._lock:
                self.token_for_cpo = None
        return answer

    # --- token checks ---------------------------------------------------------------------------------------
    def token_kind(self, header: str | None) -> str | None:
        """"A" or "C" for a known token in an ``Authorization: Token <base64>`` header, else None."""
        match = re.fullmatch(r"Token (\S+)", header or "")
        if not match:
            return None
        try:
            token = base64.b64decode(match.group(1), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self._lock:
            if self.token_for_cpo and secrets.compare_digest(token, self.token_for_cpo):
                return "C"
            if self.token_a and secrets.compare_digest(token, self.token_a):
                return "A"
        return None


class PeerError(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    state: EmspPeer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass

    def _reply(self, http_status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(http_status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Request-ID", self.headers.get("X-Request-ID") or str(uuid.uuid4()))
        self.send_header("X-Correlation-ID", self.headers.get("X-Correlation-ID") or str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        peer = self.state
        path = self.path.split("?", 1)[0].rstrip("/")
        peer.requests.append((method, path, dict(self.headers)))
        try:
            body = self._body()
        except ValueError:
            self._reply(400, _envelope(None, 2000, "Invalid JSON"))
            return
        kind = peer.token_kind(self.headers.get("Authorization"))
        if kind is None:
            self._reply(401, _envelope(None, 2000, "Unknown or missing credentials token"))
            return
        configuration = path in ("/ocpi/versions", f"/ocpi/{VERSION}", f"/ocpi/{VERSION}/credentials")
        if kind == "A" and not configuration:
            self._reply(401, _envelope(None, 2000, "Token A is only valid for versions and credentials"))
            return
        if path == "/ocpi/versions" and method == "GET":
            self._reply(200, _envelope([{"version": v, "url": f"{peer.base_url}/{v}"} for v in peer.versions]))
        elif path == f"/ocpi/{VERSION}" and method == "GET":
            endpoints = [{"identifier": "credentials", "role": "SENDER",
                          "url": f"{peer.base_url}/{VERSION}/credentials"}]
            endpoints += [{"identifier": m, "role": role, "url": f"{peer.base_url}/emsp/{VERSION}/{m}"}
                          for m, role in peer.modules.items()]
            self._reply(200, _envelope({"version": VERSION, "endpoints": endpoints}))
        elif path == f"/ocpi/{VERSION}/credentials":
            self._credentials(method, kind, body)
        elif m := re.fullmatch(rf"/ocpi/emsp/{VERSION}/(\w+)(?:/(.*))?", path):
            self._module(method, m.group(1), m.group(2) or "", body)
        else:
            self._reply(404, _envelope(None, 2000, "Unknown endpoint"))

    def _credentials(self, method: str, kind: str, body) -> None:
        peer = self.state
        registered = peer.cpo_credentials is not None
        if method == "GET":
            self._reply(200, _envelope(peer.credentials(peer.token_for_cpo or peer.token_a)))
            return
        if method == "DELETE":
            if not registered or kind != "C":
                self._reply(405, _envelope(None, 2000, "Not registered"))
                return
            with peer._lock:
                peer.cpo_credentials, peer.token_for_cpo, peer.token_to_cpo = None, None, None
            self._reply(200, _envelope(None))
            return
        if method not in ("POST", "PUT"):
            self._reply(405, _envelope(None, 2000, "Method not allowed"))
            return
        if (method == "POST") == registered:
            self._reply(405, _envelope(None, 2000, "Already registered" if registered else "Not registered"))
            return
        if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body.get("roles"):
            self._reply(200, _envelope(None, 2001, "Invalid credentials"))
            return
        try:
            # The CPO's token B (from the body) reads its versions and details, as the Receiver must.
            endpoints = peer.fetch_cpo_endpoints(body["url"], body["token"])
        except (PeerError, OSError, KeyError, TypeError) as exc:
            peer.last_error = str(exc)
            self._reply(200, _envelope(None, 3001, f"Could not read your endpoints: {exc}"))
            return
        with peer._lock:
            peer.cpo_endpoints = endpoints
            peer.cpo_credentials = body
            peer.cpo_versions_url = body["url"]
            peer.token_to_cpo = body["token"]
            peer.token_for_cpo = secrets.token_urlsafe(24)
            peer.token_a = None
            answer = peer.credentials(peer.token_for_cpo)
        self._reply(200, _envelope(answer))

    def _module(self, method: str, module: str, rest: str, body) -> None:
        peer = self.state
        headers = dict(self.headers)
        if module == "tokens" and method == "POST" and rest.endswith("/authorize"):
            uid = rest.split("/")[0]
            peer.authorize_requests.append(Received(method, module, rest, body, headers))
            if uid not in peer.tokens:
                self._reply(404, _envelope(None, 2004, "Unknown token"))
                return
            allowed, token = peer.tokens[uid]
            info = {"allowed": allowed, "token": token}
            if isinstance(body, dict) and body.get("evse_uids"):
                info["location"] = body
            self._reply(200, _envelope(info))
        elif module == "commands" and method == "POST":
            peer.command_results.append(Received(method, module, rest, body, headers))
            self._reply(200, _envelope(None))
        elif module in RECEIVER_MODULES and method in ("PUT", "PATCH", "POST"):
            peer.received.append(Received(method, module, rest, body, headers))
            self._reply(201 if method == "POST" else 200, _envelope(None))
        else:
            self._reply(405, _envelope(None, 2000, "Method not allowed"))
