"""A fake Swish Commerce server on loopback with mutual TLS, and a throw-away PKI for it.

``generate_pki(directory)`` writes a CA, a server certificate for 127.0.0.1/localhost and a client certificate
signed by that CA (plus a client certificate from an unrelated CA, which the server must refuse).
``FakeSwishServer(pki=..., payee_alias=...)`` is a context manager serving, over TLS that requires a client
certificate from the CA:

    PUT /swish-cpcapi/api/v2/paymentrequests/{instructionUUID}  201 + Location (+ PaymentRequestToken without
                                                                 payerAlias), or 422 with Swish error codes
    GET /swish-cpcapi/api/v1/paymentrequests/{id}               200 JSON, 404 unknown

Validation mirrors Swish's documented errors: RP03 (callback URL missing or not https), ACMT03 (payer not
enrolled), PA02 (amount), AM03 (currency), RP01 (payee alias missing), ACMT07 (wrong payee), RP02 (message),
FF08 (payment reference) and RP04 (instruction UUID reused). ``fail_next`` makes the next PUT answer 422 with the
given errors (what Swish does for checks the fake cannot model). ``settle(request_id, status)`` plays the payer's
answer and returns the callback body Swish would POST.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PREFIX = "/swish-cpcapi"


@dataclass(frozen=True)
class Pki:
    ca_file: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    rogue_client_cert: str
    rogue_client_key: str


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(subject, key, issuer, issuer_key, *, ca=False, server=False):
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, cert, key) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def generate_pki(directory: Path) -> Pki:
    ca_key, rogue_ca_key = _key(), _key()
    ca = _cert("Test Swish Root CA", ca_key, "Test Swish Root CA", ca_key, ca=True)
    ca_file, _ = _write(directory, "ca", ca, ca_key)
    server_key, client_key, rogue_key = _key(), _key(), _key()
    server = _write(directory, "server", _cert("127.0.0.1", server_key, "Test Swish Root CA", ca_key, server=True),
                    server_key)
    client = _write(directory, "client", _cert("1231181189", client_key, "Test Swish Root CA", ca_key), client_key)
    rogue = _write(directory, "rogue", _cert("1231181189", rogue_key, "Rogue CA", rogue_ca_key), rogue_key)
    return Pki(ca_file, *server, *client, *rogue)


def swish_error(code: str, message: str) -> dict:
    return {"errorCode": code, "errorMessage": message, "additionalInformation": None}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass

    def _send(self, status: int, body: object = None, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):  # noqa: N802 (http.server's naming)
        match = re.fullmatch(PREFIX + r"/api/v2/paymentrequests/([0-9A-F]{32})", self.path)
        if not match:
            return self._send(404)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            return self._send(400)
        fake = self.server.fake
        errors, fake.fail_next = fake.fail_next or fake.validate(body), None
        if errors:
            return self._send(422, errors)
        request_id = match.group(1)
        with fake.lock:
            if request_id in fake.requests:
                return self._send(422, [swish_error("RP04", "Duplicate instruction UUID")])
            fake.requests[request_id] = {
                "id": request_id, "payeePaymentReference": body.get("payeePaymentReference"),
                "paymentReference": None, "callbackUrl": body["callbackUrl"], "payerAlias": body.get("payerAlias"),
                "payeeAlias": body["payeeAlias"], "amount": body["amount"], "currency": body["currency"],
                "message": body.get("message", ""), "status": "CREATED",
                "dateCreated": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "datePaid": None, "errorCode": None, "errorMessage": None,
            }
            fake.received.append(body)
        headers = {"Location": f"https://127.0.0.1:{fake.port}{PREFIX}/api/v1/paymentrequests/{request_id}"}
        if "payerAlias" not in body:
            headers["PaymentRequestToken"] = uuid.uuid4().hex
        self._send(201, headers=headers)

    def do_GET(self):  # noqa: N802
        match = re.fullmatch(PREFIX + r"/api/v1/paymentrequests/([0-9A-Za-z]+)", self.path)
        fake = self.server.fake
        with fake.lock:
            request = fake.requests.get(match.group(1)) if match else None
        if request is None:
            return self._send(404)
        # Swish sends the amount as a JSON number.
        self._send(200, {**request, "amount": float(request["amount"])})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSwishServer

    def handle_error(self, request, client_address):
        # A refused client certificate ends the handshake with an exception; it is expected, not noise.
        self.fake.handshake_failures += 1


class FakeSwishServer:
    """Serve the fake Swish API on 127.0.0.1 (a random port) for the duration of a ``with`` block."""

    def __init__(self, *, pki: Pki, payee_alias: str = "1231181189",
                 enrolled_payers: frozenset[str] = frozenset({"46701234567"})) -> None:
        self.pki = pki
        self.payee_alias = payee_alias
        self.enrolled_payers = enrolled_payers
        self.requests: dict[str, dict] = {}
        self.received: list[dict] = []
        self.handshake_failures = 0
        self.fail_next: list[dict] | None = None
        self.lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        context.load_verify_locations(pki.ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # The handshake runs in the handler thread (on first read), so a refused client never blocks accept().
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self.base_url = f"https://127.0.0.1:{self.port}{PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSwishServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def validate(self, body: dict) -> list[dict]:
        errors = []
        callback = body.get("callbackUrl") or ""
        if not callback.startswith("https://"):
            errors.append(swish_error("RP03", "Callback URL is missing or does not use HTTPS"))
        if not body.get("payeeAlias"):
            errors.append(swish_error("RP01", "Missing Merchant Swish Number"))
        elif body["payeeAlias"] != self.payee_alias:
            errors.append(swish_error("ACMT07", "Payee not Enrolled"))
        if not re.fullmatch(r"[0-9]{1,12}\.[0-9]{2}", str(body.get("amount", ""))):
            errors.append(swish_error("PA02", "Amount value is missing or not a valid number"))
        if body.get("currency") != "SEK":
            errors.append(swish_error("AM03", "Invalid or missing Currency"))
        if len(body.get("message", "")) > 50:
            errors.append(swish_error("RP02", "Wrong formatted message"))
        reference = body.get("payeePaymentReference")
        if reference is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,35}", reference):
            errors.append(swish_error("FF08", "Payment Reference is invalid"))
        payer = body.get("payerAlias")
        if payer is not None and payer not in self.enrolled_payers:
            errors.append(swish_error("ACMT03", "Payer not Enrolled"))
        return errors

    def settle(self, request_id: str, status: str, *, error_code: str | None = None,
               error_message: str | None = None) -> bytes:
        """The payer answers: update the request and return the callback body Swish would POST."""
        with self.lock:
            request = self.requests[request_id]
            request["status"] = status
            if status == "PAID":
                request["paymentReference"] = uuid.uuid4().hex.upper()
                request["datePaid"] = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z")
            request["errorCode"], request["errorMessage"] = error_code, error_message
            body = {**request, "amount": float(request["amount"])}
        return json.dumps(body).encode()
