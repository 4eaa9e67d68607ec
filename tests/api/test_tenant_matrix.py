"""The tenant isolation matrix of the Connect API, generic over its OpenAPI schema: every GET, POST, PUT, PATCH and
DELETE operation the schema documents is a test of its own, so an endpoint added later is covered without listing it.

Organizations A and B have complete data (tests/api/dataset.py); B's rows carry the marker "ORG-B-". Callers of A (an
API key with every scope, and a board viewer signed in with a session) must see none of B's ids in any list and none
of B's marker in the raw bytes of any answer (JSON, CSV, PDF); B's ids in a path answer 404 in the error shape; unsafe
requests on B's ids answer 404 (or 405) and write nothing.
"""

import itertools
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.apps import apps
from django.http import JsonResponse
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from charging.models import Location
from csms.api.views.stations import LocationViewSet
from tests.api.conftest import load_schema
from tests.api.test_auth_and_stations import client_for

METHODS = ("get", "post", "put", "patch", "delete")
UNSAFE = ("post", "put", "patch", "delete")
#: Object ids of B tried per path parameter (nested paths multiply them).
IDS_PER_PARAMETER = 5
_PARAMETER = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def path_parameters(self) -> list[str]:
        return _PARAMETER.findall(self.path)

    def parameter(self, name: str, where: str = "path") -> dict:
        for parameter in self.spec.get("parameters", []):
            if parameter.get("name") == name and parameter.get("in") == where:
                return parameter
        return {}

    def response_types(self) -> list[str]:
        """The media types of the documented success answers (e.g. application/json, text/csv, application/pdf)."""
        types = []
        for status, response in self.spec.get("responses", {}).items():
            if str(status).startswith("2"):
                types.extend(response.get("content", {}))
        return list(dict.fromkeys(types)) or ["application/json"]


def operations(schema: dict) -> list[Operation]:
    return [Operation(method, path, spec) for path, item in sorted(schema["paths"].items())
            for method, spec in item.items() if method in METHODS]


def _schema_at_collection() -> dict:
    # Collected before any test runs (and before the test environment allows the test client's host); the schema
    # view needs no database.
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        return load_schema(Client())


SCHEMA = _schema_at_collection()
OPERATIONS = operations(SCHEMA)
BY_LABEL = {operation.label: operation for operation in OPERATIONS}
LISTS = [op for op in OPERATIONS if op.method == "get" and not op.path_parameters]
DETAILS = [op for op in OPERATIONS if op.method == "get" and op.path_parameters]
WRITES_ON_OBJECTS = [op for op in OPERATIONS if op.method in UNSAFE and op.path_parameters]


# --- reading answers --------------------------------------------------------------------------------------------
def content_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def readable_texts(response, content: bytes) -> list[str]:
    """What a person could read in ``content``: the bytes as text, plus a PDF's extracted text (its streams are
    compressed, so a marker in a PDF does not show in its raw bytes)."""
    texts = [content.decode("utf-8", errors="replace")]
    if response.get("Content-Type", "").startswith("application/pdf") or content.startswith(b"%PDF"):
        texts.append(subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=content, capture_output=True,
                                    check=True).stdout.decode())
    return texts


def marker_leaks(response, content: bytes, marker: str) -> bool:
    return any(marker in text or marker.lower() in text for text in readable_texts(response, content))


def rows_of(response, content: bytes) -> list[dict]:
    """The objects of a JSON list answer (paginated or a bare list); [] for anything else."""
    if not response.get("Content-Type", "").startswith("application/json") or response.status_code != 200:
        return []
    try:
        body = json.loads(content)
    except ValueError:
        return []
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        body = body["results"]
    return [row for row in body if isinstance(row, dict)] if isinstance(body, list) else []


def ids_of(rows: list[dict]) -> set:
    return {row["id"] for row in rows if "id" in row}


def is_error_shape(response, content: bytes, code: str | None = None) -> bool:
    try:
        body = json.loads(content)
    except ValueError:
        return False
    return (isinstance(body, dict) and set(body) == {"code", "message", "fields"} and bool(body["message"])
            and (code is None or body["code"] == code))


# --- requests ---------------------------------------------------------------------------------------------------
def example_value(schema: dict):
    """A plausible value for a required query parameter, from what the schema says about it."""
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind, fmt = schema.get("type"), schema.get("format")
    if fmt == "date":
        return "2026-03-01"
    if fmt == "date-time":
        return "2026-03-01T00:00:00+00:00"
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return "true"
    return "x"


def object_ids(dataset) -> dict[str, object]:
    """Query parameters that name one of ``dataset``'s objects, by the names the API's filters use."""
    return {"organization": dataset.org.pk, "charge_point": dataset.charge_point.pk, "location": dataset.location.pk,
            "evse": dataset.evses[0].pk, "user": dataset.residents[0].pk, "buyer": dataset.residents[0].pk,
            "member": dataset.residents[0].pk, "id_token": dataset.tokens[0].pk, "group": dataset.group.pk,
            "user_group": dataset.group.pk, "tariff": dataset.tariff.pk, "invoice": dataset.invoice.pk,
            "session": dataset.completed_session.pk, "uid": dataset.tokens[0].uid}


def period_value(name: str, schema: dict):
    """The data set's invoiced month (March 2026) in the form the parameter takes; None if it is no period."""
    if name in ("year",):
        return 2026
    if name == "month":
        return 3
    end = name.endswith(("_to", "_end")) or name == "to"
    if not (end or name.endswith(("_from", "_start")) or name == "from"):
        return None
    if schema.get("format") == "date":
        return "2026-03-31" if end else "2026-03-01"
    if schema.get("format") == "date-time":
        return "2026-04-01T00:00:00+00:00" if end else "2026-03-01T00:00:00+00:00"
    return "2026-03"


def query_variants(operation: Operation, dataset, *, with_ids: bool = True) -> list[dict]:
    """The queries to try: only the required parameters; with ``dataset``'s invoiced month where the operation
    takes a period (so reports and exports have its rows to show); then also with its ids in every filter."""
    ids = object_ids(dataset)
    required, periods, filters = {}, {}, {}
    for parameter in operation.spec.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        name, schema = parameter["name"], parameter.get("schema", {})
        if name in ids:
            filters[name] = ids[name]
        elif period_value(name, schema) is not None:
            periods[name] = period_value(name, schema)
        if parameter.get("required"):
            required[name] = filters.get(name, periods.get(name, example_value(schema)))
    variants = [required, {**required, **periods}]
    if with_ids:
        variants.append({**required, **periods, **filters})
    return [dict(items) for items in dict.fromkeys(tuple(variant.items()) for variant in variants)]


def request_body(operation: Operation) -> dict:
    """The first documented example of the request body (every write has one), else an empty object."""
    content = operation.spec.get("requestBody", {}).get("content", {})
    for media in content.values():
        if "example" in media:
            return media["example"]
        for example in media.get("examples", {}).values():
            if "value" in example:
                return example["value"]
    return {}


def call(client, method: str, path: str, *, query: dict | None = None, accept: str | None = None, body=None):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    if method == "get":
        return client.get(path, query or {}, **headers)
    return getattr(client, method)(path, body if body is not None else {}, format="json", **headers)


def _row_value(row: dict, parameter: str):
    for key in (parameter, parameter.removesuffix("_id"), parameter.removesuffix("_pk")):
        if key in row and not isinstance(row[key], dict | list):
            return row[key]
    return row.get("id")


def _is_object_parameter(operation: Operation, name: str) -> bool:
    """Path parameters that name an object (ids, uids), as opposed to a choice such as a report's kind."""
    return "enum" not in operation.parameter(name).get("schema", {})


def parameter_sets(operation: Operation, client_b, unlisted: dict | None = None) -> Iterator[dict]:
    """Values of ``operation``'s path parameters that B may use: each object parameter from B's list at the path
    before it (``/sessions/{id}/samples/`` takes its id from ``/sessions/``), or where there is no such list from
    ``unlisted`` (ids by that path), each choice from its enum."""

    def resolve(path_so_far: str, names: list[str], chosen: dict) -> Iterator[dict]:
        if not names:
            yield chosen
            return
        name, rest = names[0], names[1:]
        if not _is_object_parameter(operation, name):
            values = operation.parameter(name)["schema"]["enum"]
        else:
            prefix = path_so_far.split("{" + name + "}")[0]
            concrete = prefix.format(**{k: quote(str(v), safe="") for k, v in chosen.items()})
            response = client_b.get(concrete)
            values = [_row_value(row, name) for row in rows_of(response, content_of(response))]
            if not values and unlisted:
                values = list(unlisted.get(concrete, []))
        for value in values[:IDS_PER_PARAMETER]:
            yield from resolve(path_so_far, rest, {**chosen, name: value})

    yield from resolve(operation.path, operation.path_parameters, {})


def concrete_path(operation: Operation, values: dict) -> str:
    return operation.path.format(**{name: quote(str(value), safe="") for name, value in values.items()})


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()
            if model._meta.managed and not model._meta.proxy}


# --- the checks (functions, so a test can prove they catch a leak) ----------------------------------------------
def check_list(operation: Operation, client_a, client_b, dataset_b) -> list[str]:
    """Problems with A's answers to a list (or any parameterless GET): B's ids or B's marker in them. Tried with
    B's ids and month in the query too, where the operation takes them."""
    problems = []
    marker_b = dataset_b.marker
    for query, accept in itertools.product(query_variants(operation, dataset_b), operation.response_types()):
        response_b = call(client_b, "get", operation.path, query=query, accept=accept)
        ids_b = ids_of(rows_of(response_b, content_of(response_b)))
        response_a = call(client_a, "get", operation.path, query=query, accept=accept)
        content_a = content_of(response_a)
        if response_a.status_code >= 500:
            problems.append(f"{operation.label} {query} ({accept}): A got {response_a.status_code}")
        leaked = ids_b & ids_of(rows_of(response_a, content_a))
        if leaked:
            problems.append(f"{operation.label} {query} ({accept}): A sees B's ids {sorted(leaked)}")
        if marker_leaks(response_a, content_a, marker_b):
            problems.append(f"{operation.label} {query} ({accept}): B's marker {marker_b!r} in A's answer")
    return problems


def check_detail(operation: Operation, client_a, client_b, dataset_b) -> list[str]:
    """Problems with A's answers for B's objects: anything but a 404 in the error shape, or B's marker."""
    problems = []
    marker_b = dataset_b.marker
    tried = 0
    for values in parameter_sets(operation, client_b, dataset_b.extra):
        if not any(_is_object_parameter(operation, name) for name in values):
            problems.extend(check_list(Operation(operation.method, concrete_path(operation, values), operation.spec),
                                       client_a, client_b, dataset_b))
            continue
        tried += 1
        path = concrete_path(operation, values)
        response = call(client_a, "get", path, query=query_variants(operation, dataset_b)[-1])
        content = content_of(response)
        if response.status_code != 404 or not is_error_shape(response, content, "not_found"):
            problems.append(f"GET {path}: A got {response.status_code} {content[:200]!r}, not 404 not_found")
        elif marker_leaks(response, content, marker_b):
            problems.append(f"GET {path}: B's marker in A's 404")
    if not tried and any(_is_object_parameter(operation, name) for name in operation.path_parameters):
        problems.append(f"{operation.label}: B's lists gave no ids to try (extend tests/api/dataset.py or add the "
                        f"list endpoint)")
    return problems


def check_write(operation: Operation, client_a, client_b, dataset_b) -> list[str]:
    """Problems with A's unsafe requests on B's objects: an answer other than 404 (error shape) or 405, or any
    change in the number of rows of any model."""
    problems = []
    tried = 0
    body = request_body(operation)
    for values in parameter_sets(operation, client_b, dataset_b.extra):
        tried += 1
        path = concrete_path(operation, values)
        before = row_counts()
        response = call(client_a, operation.method, path, body=body)
        content = content_of(response)
        after = row_counts()
        if response.status_code == 404:
            if not is_error_shape(response, content, "not_found"):
                problems.append(f"{operation.method.upper()} {path}: 404 not in the error shape: {content[:200]!r}")
        elif response.status_code != 405:
            problems.append(f"{operation.method.upper()} {path}: A got {response.status_code} {content[:200]!r}, "
                            f"not 404/405")
        changed = {label: (before[label], after[label]) for label in before if before[label] != after[label]}
        if changed:
            problems.append(f"{operation.method.upper()} {path}: row counts changed {changed}")
    if not tried:
        problems.append(f"{operation.label}: B's lists gave no ids to try (extend tests/api/dataset.py)")
    return problems


# --- the matrix -------------------------------------------------------------------------------------------------
@pytest.fixture
def client_b(tenants, no_rate_limit):
    return client_for(tenants.b.raw_key)


@pytest.fixture(params=["api-key", "viewer-session"])
def client_a(request, tenants, no_rate_limit):
    if request.param == "api-key":
        return client_for(tenants.a.raw_key)
    client = APIClient()
    client.force_login(tenants.a.viewer)
    return client


def _labels(ops: list[Operation]) -> dict:
    return {"argvalues": ops, "ids": [op.label for op in ops]}


@pytest.mark.parametrize("operation", **_labels(LISTS))
def test_lists_show_a_none_of_bs_data(db, operation, tenants, client_a, client_b):
    assert check_list(operation, client_a, client_b, tenants.b) == []


@pytest.mark.parametrize("operation", **_labels(DETAILS))
def test_bs_objects_are_404_for_a(db, operation, tenants, client_a, client_b):
    assert check_detail(operation, client_a, client_b, tenants.b) == []


@pytest.mark.parametrize("operation", **_labels(WRITES_ON_OBJECTS))
def test_a_cannot_change_bs_objects(db, operation, tenants, client_a, client_b):
    assert check_write(operation, client_a, client_b, tenants.b) == []


@pytest.mark.parametrize("operation", **_labels([op for op in LISTS if "application/json" in op.response_types()]))
def test_b_sees_its_own_rows_so_the_matrix_means_something(db, operation, tenants, client_b):
    """Each JSON list shows B some of its own data (ids or its marker); otherwise the matrix above could pass for an
    endpoint the data set does not fill, and tests/api/dataset.py needs the missing rows."""
    answers = []
    for query in query_variants(operation, tenants.b, with_ids=False):
        response = call(client_b, "get", operation.path, query=query, accept="application/json")
        content = content_of(response)
        assert response.status_code == 200, content[:300]
        if ids_of(rows_of(response, content)) or marker_leaks(response, content, tenants.b.marker):
            return
        answers.append((query, content[:300]))
    pytest.fail(f"B sees none of its data: {answers}")


def test_the_matrix_covers_the_station_endpoints():
    assert {"GET /api/v1/locations/", "GET /api/v1/charge-points/", "GET /api/v1/evses/"} <= {
        op.label for op in LISTS}
    assert {"GET /api/v1/locations/{id}/", "GET /api/v1/charge-points/{id}/"} <= {op.label for op in DETAILS}


# --- the matrix catches a leak ----------------------------------------------------------------------------------
def _unscoped(monkeypatch) -> None:
    monkeypatch.setattr(LocationViewSet, "get_queryset", lambda self: Location.objects.order_by("pk"))


def test_the_list_check_reports_a_viewset_without_the_tenant_filter(db, tenants, client_b, monkeypatch):
    client_a = client_for(tenants.a.raw_key)
    locations = BY_LABEL["GET /api/v1/locations/"]
    assert check_list(locations, client_a, client_b, tenants.b) == []
    _unscoped(monkeypatch)
    problems = check_list(locations, client_a, client_b, tenants.b)
    # B's own answer shows A's row too now, so the overlap names both; what matters is that B's row is reported.
    assert any("A sees B's ids" in problem and str(tenants.b.location.pk) in problem for problem in problems), problems
    assert any("marker" in problem for problem in problems), problems


def test_the_detail_check_reports_a_viewset_without_the_tenant_filter(db, tenants, client_b, monkeypatch):
    client_a = client_for(tenants.a.raw_key)
    location = BY_LABEL["GET /api/v1/locations/{id}/"]
    assert check_detail(location, client_a, client_b, tenants.b) == []
    _unscoped(monkeypatch)
    problems = check_detail(location, client_a, client_b, tenants.b)
    assert any(problem.startswith(f"GET /api/v1/locations/{tenants.b.location.pk}/: A got 200 ")
               for problem in problems), problems


def test_the_write_check_reports_a_changed_row_count(db, tenants, client_b, monkeypatch):
    """A stand-in write endpoint that answers 404 but has written a row is caught by the row counts."""
    operation = Operation("delete", "/api/v1/locations/{id}/", {})

    class Writing:
        def delete(self, path, data, format, **headers):
            Location.objects.create(organization=tenants.a.org, name="written anyway")
            return client_for(tenants.a.raw_key).get("/api/v1/locations/0/")

    problems = check_write(operation, Writing(), client_b, tenants.b)
    assert problems
    assert all("row counts changed {'charging.Location': (2, 3)}" in problem for problem in problems)


def test_parameter_sets_take_nested_ids_from_the_list_before_them():
    lists = {"/api/v1/things/": [{"id": 7}, {"id": 8}], "/api/v1/things/7/parts/": [{"id": 70}, {"id": 71}],
             "/api/v1/things/8/parts/": [{"id": 80}]}

    class Lists:
        def get(self, path, *args, **kwargs):
            return JsonResponse({"count": len(lists[path]), "results": lists[path]})

    operation = Operation("get", "/api/v1/things/{id}/parts/{part_id}/", {})
    assert list(parameter_sets(operation, Lists())) == [{"id": 7, "part_id": 70}, {"id": 7, "part_id": 71},
                                                        {"id": 8, "part_id": 80}]
