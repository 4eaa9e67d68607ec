"""schemathesis against the live Connect API: a real daphne server on the test database with one organization's
complete data (tests/api/dataset.py), its OpenAPI schema loaded from the server, and for every operation a few
generated requests with an operator API key (every scope) that must get no 5xx and an answer the schema documents
(status code, content type, body). Unsafe operations run too: they act on the test data.

It runs schemathesis' Python API in one test function that loops over the operations and collects what fails, rather
than schemathesis' pytest plugin, whose per-test database handling would fight pytest-django's. Bounded and
reproducible: a few examples per operation, derandomized (the same requests on every run), no shrinking.
"""

import dataclasses
import re
import time
from pathlib import Path

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from charging.models import ChargePoint
from tests.api.conftest import NO_RATE_LIMIT
from tests.api.dataset import Dataset, build, operator_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]

#: Requests per operation and pass: with ~90 operations the whole run stays well under 90 s on two cores.
MAX_EXAMPLES = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclasses.dataclass
class LiveApi:
    base_url: str
    raw_key: str
    dataset: Dataset
    log: Path

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.raw_key}"}

    def server_log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@pytest.fixture
def live_api(request, monkeypatch, transactional_db, tmp_path) -> LiveApi:
    """The server (its own: it writes audit rows) with the data committed, the rate limit out of the way and the
    station offline, so that generated commands answer at once instead of waiting for a charger."""
    monkeypatch.setenv("CSMS_API_RATE", NO_RATE_LIMIT)
    dataset = build("S")
    ChargePoint.objects.filter(organization=dataset.org).update(is_connected=False)
    raw_key = operator_key()
    server = request.getfixturevalue("own_csms_server")
    return LiveApi(base_url=server.replace("ws://", "http://"), raw_key=raw_key, dataset=dataset,
                   log=tmp_path / "server-data" / "server.log")


def _described(error: BaseException) -> str:
    text = str(error).strip()
    return "\n    ".join(text.splitlines()[:25]) or type(error).__name__


_PARAMETER = re.compile(r"\{([^}]+)\}")


def existing_path_parameters(path: str, live: LiveApi, session: requests.Session) -> dict | None:
    """Path parameters naming objects that exist (each the first id of the list before it, e.g. a session's id
    from /sessions/ for /sessions/{id}/meter-samples/), so generated requests reach past the 404; None if a list
    is missing or empty."""
    values = {}
    for name in _PARAMETER.findall(path):
        prefix = path.split("{" + name + "}")[0].format(**values)
        response = session.get(f"{live.base_url}{prefix}", headers=live.auth, timeout=30)
        try:
            body = response.json()
        except ValueError:
            return None
        rows = body.get("results") if isinstance(body, dict) else body
        if response.status_code != 200 or not isinstance(rows, list) or not rows or "id" not in rows[0]:
            return None
        values[name] = rows[0]["id"]
    return values


def run_operation(operation, live: LiveApi, session: requests.Session, path_parameters: dict | None = None
                  ) -> str | None:
    """Generate and send ``MAX_EXAMPLES`` cases for ``operation`` (with ``path_parameters`` fixed, if given); the
    first failure in words, or None."""
    sent = []

    @hypothesis.settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                         print_blob=False, report_multiple_bugs=False)
    @hypothesis.given(case=operation.as_strategy(path_parameters=path_parameters))
    def fuzz(case):
        sent.append(case)
        response = case.call(base_url=live.base_url, session=session, headers=live.auth, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=live.auth)

    try:
        fuzz()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - schemathesis raises a BaseExceptionGroup; all are collected
        case = sent[-1] if sent else None
        body = "" if case is None or isinstance(case.body, NotSet) else f" body={case.body!r}"
        request = f"{case.method} {case.formatted_path} query={case.query}{body}"[:600] if case is not None else ""
        return f"{operation.label}\n  request: {request}\n  {_described(error)}"
    return None


def test_every_operation_answers_as_documented_and_never_5xx(live_api):
    schema = schemathesis.openapi.from_url(f"{live_api.base_url}/api/v1/schema/?format=json")
    failures, tried = [], 0
    started = time.monotonic()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            tried += 1
            failure = run_operation(operation, live_api, session)
            if failure is None and _PARAMETER.search(operation.path):
                # Random ids mostly meet 404s; the same operation once more on an object that exists.
                existing = existing_path_parameters(operation.path, live_api, session)
                if existing is not None:
                    failure = run_operation(operation, live_api, session, existing)
            if failure:
                failures.append(failure)
    print(f"schemathesis: {tried} operations in {time.monotonic() - started:.1f} s, {len(failures)} failing")
    assert tried > 20  # the schema was read, and has the endpoints
    assert not failures, ("\n\n".join(failures) + "\n\nserver log:\n" + live_api.server_log_tail())


# --- hostile requests ------------------------------------------------------------------------------------------
#: Authorization headers a broken or hostile client sends. (A NUL byte is left out: the HTTP server itself refuses
#: such a header before the application sees it.)
MALFORMED_AUTHORIZATION = [
    b"Bearer", b"Bearer ", b"Bearer  two  keys", b"Basic dXNlcjpwYXNz", b"Bearer csms_", b"Bearer csms__",
    b"Bearer csms_deadbeef_" + b"x" * 5000, b"Bearer \xff\xfe-key", b"bearer csms_zz_zz", b"Token abc",
    "Bearer ключ".encode(), b"Bearer csms_%00_%00", b"Bearer csms_" + b"a" * 300 + b"_b",
]


def error_shape_problem(response: requests.Response, statuses: range) -> str | None:
    """Why ``response`` is not an error in ``statuses`` in the API's error shape, or None."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code not in statuses:
        return f"answered {response.status_code}: {response.text[:200]!r}"
    if not isinstance(body, dict) or set(body) != {"code", "message", "fields"} or not body["message"]:
        return f"answered {response.status_code} not in the error shape: {response.text[:200]!r}"
    return None


def test_malformed_requests_get_a_4xx_in_the_error_shape_never_a_5xx(live_api, settings):
    """Malformed Authorization headers, and bodies over DATA_UPLOAD_MAX_MEMORY_SIZE on creates, updates and commands
    (one server for all: starting one takes seconds)."""
    problems = []
    for header in MALFORMED_AUTHORIZATION:
        response = requests.get(f"{live_api.base_url}/api/v1/charge-points/", headers={"Authorization": header},
                                timeout=30)
        problem = error_shape_problem(response, range(400, 500))
        if problem:
            problems.append(f"Authorization: {header[:40]!r}: {problem}")

    charge_point = live_api.dataset.charge_point
    too_big = b'{"reason": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024) + b'"}'
    for method, path in [("post", "/api/v1/locations/"), ("patch", f"/api/v1/charge-points/{charge_point.pk}/"),
                         ("post", f"/api/v1/charge-points/{charge_point.pk}/commands/reset/"),
                         ("post", "/api/v1/id-tokens/")]:
        response = requests.request(method, f"{live_api.base_url}{path}", data=too_big, timeout=60,
                                    headers={**live_api.auth, "Content-Type": "application/json"})
        problem = error_shape_problem(response, range(400, 500))
        if problem:
            problems.append(f"{method.upper()} {path} with a {len(too_big)} byte body: {problem}")
    assert not problems, "\n".join(problems) + "\n\nserver log:\n" + live_api.server_log_tail(80)
