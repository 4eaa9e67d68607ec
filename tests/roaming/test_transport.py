"""OCPI transport rules: timestamps, credentials tokens in the Authorization header, the envelope on every answer,
request ids, token A only for configuration modules, routing headers, and the pagination helper."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.urls import resolve
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from roaming import transport as t
from roaming.models import OcpiParty, OcpiRequestLog, hash_token


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"


def party_with(*, token_a: str = "", token_c: str = "", status=OcpiParty.Status.REGISTERED, plain=False,
               **fields) -> OcpiParty:
    return OcpiParty.objects.create(
        name=fields.pop("name", "Partner"), country_code=fields.pop("country_code", "NL"),
        party_id=fields.pop("party_id", "EXA"), status=status, plain_token=plain,
        token_a_hash=hash_token(token_a) if token_a else "", token_c_hash=hash_token(token_c) if token_c else "",
        **fields)


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(token.encode()).decode()}


# --- pure helpers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), "2026-01-01T10:00:00Z"),
    (datetime(2026, 1, 1, 10, 0, 0, 123000, tzinfo=UTC), "2026-01-01T10:00:00.123Z"),
    (datetime(2026, 1, 1, 10, 0, 0, 500000, tzinfo=UTC), "2026-01-01T10:00:00.5Z"),
    (datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm")), "2026-07-01T10:00:00Z"),
])
def test_timestamps_are_rfc3339_utc_with_z(value, text):
    assert t.ocpi_timestamp(value) == text
    assert len(text) <= 25


@pytest.mark.parametrize(("text", "value"), [
    ("2015-06-29T20:39:09Z", datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)),
    ("2015-06-29T20:39:09", datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)),
    ("2016-12-29T17:45:09.2Z", datetime(2016, 12, 29, 17, 45, 9, 200000, tzinfo=UTC)),
    ("2018-01-01T01:08:01.123", datetime(2018, 1, 1, 1, 8, 1, 123000, tzinfo=UTC)),
    ("2018-01-01T01:08:01.1234567Z", datetime(2018, 1, 1, 1, 8, 1, 123456, tzinfo=UTC)),
    ("2018-01-01T02:08:01+01:00", datetime(2018, 1, 1, 1, 8, 1, tzinfo=UTC)),
])
def test_datetimes_are_read_as_utc(text, value):
    assert t.parse_ocpi_datetime(text) == value


@pytest.mark.parametrize("text", ["2018-01-01", "yesterday", "2018-01-01 01:08:01Z", "2018-13-01T00:00:00Z", ""])
def test_bad_datetimes_are_refused(text):
    with pytest.raises(ValueError, match="not an OCPI DateTime"):
        t.parse_ocpi_datetime(text)


def test_the_authorization_header_carries_the_token_in_base64_or_plain_for_2_2():
    assert t.authorization_header("abc-123") == "Token " + base64.b64encode(b"abc-123").decode()
    assert t.authorization_header("abc-123", plain=True) == "Token abc-123"


@pytest.mark.parametrize(("header", "candidates"), [
    ("Token YWJj", [("abc", False), ("YWJj", True)]),
    ("token YWJj", [("abc", False), ("YWJj", True)]),
    ("Token abc-123", [("abc-123", True)]),  # not Base64: only the plain reading
    ("Bearer YWJj", []),
    ("Token", []),
    ("", []),
    ("Token a b", []),
])
def test_token_candidates(header, candidates):
    assert t.token_candidates(header) == candidates


@pytest.mark.parametrize(("query", "expected"), [
    ({}, t.PageParams(0, 50, None, None)),
    ({"offset": "100", "limit": "10"}, t.PageParams(100, 10, None, None)),
    ({"limit": "2000"}, t.PageParams(0, 200, None, None)),  # capped by the server's maximum
    ({"offset": "", "limit": ""}, t.PageParams(0, 50, None, None)),
    ({"date_from": "2026-01-01T00:00:00Z", "date_to": "2026-02-01T00:00:00"},
     t.PageParams(0, 50, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))),
])
def test_page_parameters(query, expected):
    assert t.parse_page_params(query, default_limit=50, max_limit=200) == expected


@pytest.mark.parametrize("query", [{"offset": "-1"}, {"offset": "x"}, {"limit": "0"}, {"limit": "1.5"},
                                   {"date_from": "2026-01-01"}, {"date_to": "soon"}])
def test_bad_page_parameters_are_2001(query):
    with pytest.raises(t.OcpiError) as caught:
        t.parse_page_params(query, default_limit=50, max_limit=200)
    assert caught.value.status_code == t.INVALID_PARAMETERS


@pytest.mark.parametrize(("query", "params", "total", "link"), [
    # first page of three: next keeps the filters
    ([("date_from", "2016-01-01T00:00:00Z"), ("limit", "100")], t.PageParams(0, 100, None, None), 250,
     [("offset", "100"), ("limit", "100"), ("date_from", "2016-01-01T00:00:00Z")]),
    ([("offset", "100"), ("limit", "100")], t.PageParams(100, 100, None, None), 250,
     [("offset", "200"), ("limit", "100")]),
    # the last page has no next link
    ([("offset", "200")], t.PageParams(200, 100, None, None), 250, None),
    # exactly filled: no next page
    ([], t.PageParams(0, 100, None, None), 100, None),
    ([], t.PageParams(0, 100, None, None), 0, None),
    # the client asked for 2000, the server gives 100: the link says 100
    ([("limit", "2000"), ("country_code", "NL")], t.PageParams(0, 100, None, None), 101,
     [("offset", "100"), ("limit", "100"), ("country_code", "NL")]),
])
def test_page_headers(query, params, total, link):
    headers = t.page_headers(url="https://csms.test/ocpi/cpo/2.2.1/cdrs/", query=query, params=params, total=total)
    assert headers["X-Total-Count"] == str(total)
    assert headers["X-Limit"] == str(params.limit)
    if link is None:
        assert "Link" not in headers
    else:
        assert headers["Link"].startswith("<https://csms.test/ocpi/cpo/2.2.1/cdrs/?")
        assert headers["Link"].endswith('>; rel="next"')
        assert parse_qsl(urlsplit(headers["Link"][1:-len('>; rel="next"')]).query) == link


@pytest.mark.django_db
def test_paginate_filters_dates_inclusive_from_exclusive_to_and_counts():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for hour in range(10):
        OcpiRequestLog.objects.create(at=start + timedelta(hours=hour), direction="in", method="GET", url=f"/{hour}")
    query = "?date_from=2026-01-01T02:00:00Z&date_to=2026-01-01T08:00:00Z&limit=4&offset=0"
    request = Request(APIRequestFactory().get("/ocpi/cpo/2.2.1/logs/" + query))
    page = t.paginate(request, OcpiRequestLog.objects.order_by("at"), date_field="at", max_limit=4)
    assert [log.url for log in page.items] == ["/2", "/3", "/4", "/5"]
    assert page.headers["X-Total-Count"] == "6"  # hours 2..7: 08:00 is excluded
    assert page.headers["X-Limit"] == "4"
    next_url = page.headers["Link"][1:].split(">")[0]
    assert dict(parse_qsl(urlsplit(next_url).query)) == {
        "offset": "4", "limit": "4", "date_from": "2026-01-01T02:00:00Z", "date_to": "2026-01-01T08:00:00Z"}
    request = Request(APIRequestFactory().get("/ocpi/cpo/2.2.1/logs/" + query.replace("offset=0", "offset=4")))
    page = t.paginate(request, OcpiRequestLog.objects.order_by("at"), date_field="at", max_limit=4)
    assert [log.url for log in page.items] == ["/6", "/7"]
    assert "Link" not in page.headers


# --- over HTTP ----------------------------------------------------------------------------------------------------
def assert_envelope(response, http_status: int, status_code: int):
    assert response.status_code == http_status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert body["status_code"] == status_code
    assert set(body) >= {"data", "status_code", "timestamp"}
    assert t.parse_ocpi_datetime(body["timestamp"]) <= timezone.now()
    assert body["timestamp"].endswith("Z")
    return body


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Token "}, {"HTTP_AUTHORIZATION": "Basic eDp5"},
                                     auth("unknown-token"), {"HTTP_AUTHORIZATION": "Token not-base64!"}])
def test_a_missing_or_unknown_token_is_401_with_an_envelope(client, headers):
    party_with(token_c="known-token")
    response = client.get("/ocpi/versions", **headers)
    body = assert_envelope(response, 401, t.CLIENT_ERROR)
    assert body["status_message"]
    assert uuid.UUID(response["X-Request-ID"])
    assert uuid.UUID(response["X-Correlation-ID"])


@pytest.mark.django_db
def test_request_ids_are_echoed(client):
    party_with(token_c="known-token")
    response = client.get("/ocpi/versions", HTTP_X_REQUEST_ID="req-1", HTTP_X_CORRELATION_ID="corr-1",
                          **auth("known-token"))
    assert_envelope(response, 200, t.SUCCESS)
    assert (response["X-Request-ID"], response["X-Correlation-ID"]) == ("req-1", "corr-1")
    # on errors too
    response = client.get("/ocpi/versions", HTTP_X_REQUEST_ID="req-2", HTTP_X_CORRELATION_ID="corr-2")
    assert (response["X-Request-ID"], response["X-Correlation-ID"]) == ("req-2", "corr-2")


@pytest.mark.django_db
def test_versions_and_details(client):
    party_with(token_c="known-token")
    body = assert_envelope(client.get("/ocpi/versions", **auth("known-token")), 200, t.SUCCESS)
    assert body["data"] == [{"version": "2.2.1", "url": "https://csms.test/ocpi/2.2.1/"},
                            {"version": "2.2", "url": "https://csms.test/ocpi/2.2/"}]
    for version in ("2.2.1", "2.2"):
        body = assert_envelope(client.get(f"/ocpi/{version}/", **auth("known-token")), 200, t.SUCCESS)
        assert body["data"]["version"] == version
        credentials = [e for e in body["data"]["endpoints"] if e["identifier"] == "credentials"]
        assert {e["role"] for e in credentials} == {"SENDER", "RECEIVER"}
        assert {e["url"] for e in credentials} == {f"https://csms.test/ocpi/{version}/credentials"}
        # Every listed endpoint is one of our module views (not the catch-all); a Sender's list answers a GET.
        for endpoint in body["data"]["endpoints"]:
            path = urlsplit(endpoint["url"]).path
            assert resolve(path).url_name != "not_found", path
            if endpoint["role"] == "SENDER" and endpoint["identifier"] not in ("credentials", "sessions"):
                assert client.get(path, **auth("known-token")).status_code == 200, path


@pytest.mark.django_db
def test_unknown_paths_and_methods_get_envelopes(client):
    party_with(token_c="known-token")
    assert_envelope(client.get("/ocpi/2.1.1/", **auth("known-token")), 404, t.CLIENT_ERROR)
    assert_envelope(client.get("/ocpi/nothing/here", **auth("known-token")), 404, t.CLIENT_ERROR)
    assert_envelope(client.get("/ocpi/nothing/here"), 401, t.CLIENT_ERROR)
    assert_envelope(client.patch("/ocpi/2.2.1/credentials", **auth("known-token")), 405, t.CLIENT_ERROR)
    assert_envelope(client.post("/ocpi/versions", **auth("known-token")), 405, t.CLIENT_ERROR)
    response = client.put("/ocpi/2.2.1/credentials", data="{not json", content_type="application/json",
                           **auth("known-token"))
    assert_envelope(response, 400, t.CLIENT_ERROR)
    # whatever the client accepts, the answer is JSON
    assert_envelope(client.get("/ocpi/versions", HTTP_ACCEPT="text/html", **auth("known-token")), 200, t.SUCCESS)


@pytest.mark.django_db
def test_plain_tokens_only_for_parties_flagged_so(client):
    party_with(token_c="plain-one", party_id="P22", plain=True)
    party_with(token_c="strict-one", party_id="S21")
    assert_envelope(client.get("/ocpi/versions", HTTP_AUTHORIZATION="Token plain-one"), 200, t.SUCCESS)
    assert_envelope(client.get("/ocpi/versions", **auth("plain-one")), 200, t.SUCCESS)
    assert_envelope(client.get("/ocpi/versions", HTTP_AUTHORIZATION="Token strict-one"), 401, t.CLIENT_ERROR)
    assert_envelope(client.get("/ocpi/versions", **auth("strict-one")), 200, t.SUCCESS)


@pytest.mark.django_db
def test_an_unregistered_partys_token_is_refused(client):
    party = party_with(token_c="old-token")
    party.status = OcpiParty.Status.UNREGISTERED
    party.save()
    assert_envelope(client.get("/ocpi/versions", **auth("old-token")), 401, t.CLIENT_ERROR)


class _ModuleView(t.OcpiView):
    """A functional module as module engineers write one."""

    functional_module = True

    def get(self, request):
        return self.ok([])


def _call_module(**headers):
    request = APIRequestFactory().get("/ocpi/cpo/2.2.1/things", **headers)
    response = _ModuleView.as_view()(request)
    response.render()
    return response


@pytest.mark.django_db
def test_token_a_is_only_for_versions_and_credentials():
    party_with(token_a="registration-token", status=OcpiParty.Status.PLANNED, party_id="", country_code="")
    assert_envelope(_call_module(**auth("registration-token")), 401, t.CLIENT_ERROR)
    client_headers = auth("registration-token")
    from django.test import Client

    client = Client()
    assert_envelope(client.get("/ocpi/versions", **client_headers), 200, t.SUCCESS)
    assert_envelope(client.get("/ocpi/2.2.1/", **client_headers), 200, t.SUCCESS)
    assert_envelope(client.get("/ocpi/2.2.1/credentials", **client_headers), 200, t.SUCCESS)


@pytest.mark.django_db
def test_functional_modules_need_a_registered_partys_token_c_and_carry_routing_headers():
    party = party_with(token_c="known-token")
    response = _call_module(**auth("known-token"))
    assert_envelope(response, 200, t.SUCCESS)
    assert response["OCPI-from-country-code"] == "SE"
    assert response["OCPI-from-party-id"] == "CSM"
    assert (response["OCPI-to-country-code"], response["OCPI-to-party-id"]) == ("NL", "EXA")
    response = _call_module(HTTP_OCPI_FROM_COUNTRY_CODE="DE", HTTP_OCPI_FROM_PARTY_ID="HUB", **auth("known-token"))
    assert (response["OCPI-to-country-code"], response["OCPI-to-party-id"]) == ("DE", "HUB")
    assert_envelope(_call_module(), 401, t.CLIENT_ERROR)
    party.status = OcpiParty.Status.SUSPENDED
    party.save()
    assert_envelope(_call_module(**auth("known-token")), 401, t.CLIENT_ERROR)


@pytest.mark.django_db
def test_every_answer_is_logged(client):
    party = party_with(token_c="known-token")
    client.get("/ocpi/versions", HTTP_X_REQUEST_ID="r-1", HTTP_X_CORRELATION_ID="c-1", **auth("known-token"))
    client.get("/ocpi/versions", HTTP_X_REQUEST_ID="r-2")
    ok, refused = OcpiRequestLog.objects.order_by("pk")
    assert (ok.direction, ok.party, ok.method, ok.url, ok.http_status, ok.ocpi_status, ok.request_id,
            ok.correlation_id) == ("in", party, "GET", "/ocpi/versions", 200, 1000, "r-1", "c-1")
    assert (refused.party, refused.http_status, refused.ocpi_status, refused.request_id) == (None, 401, 2000, "r-2")
    assert refused.error
