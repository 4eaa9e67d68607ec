"""Connect API exports: sessions as streamed CSV and JSON (2 000 rows, consumed chunk by chunk), invoices and the
reports as CSV, the list filters, errors as JSON whatever the Accept header, and tenant isolation of every export."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse

from accounts.models import Organization
from accounts.services.api_keys import api_key_create
from billing.models import Invoice, InvoiceSeries, SessionCost
from charging.models import ChargingSession
from tests.accounts.conftest import Tenant
from tests.accounts.factories import OperatorFactory
from tests.api.test_auth_and_stations import Site, _own_cache, assert_error, client_for  # noqa: F401 - a fixture

D = Decimal
START = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def brf_a(db):
    return Tenant("BRF A")


@pytest.fixture
def site_a(brf_a):
    return Site(brf_a.org)


@pytest.fixture
def site_b(db):
    return Site(Tenant("BRF B").org)


def sessions(site, count, **values):
    rows = [ChargingSession(charge_point=site.charge_point, evse=site.evse, organization=site.org,
                            started_at=START + timedelta(minutes=number),
                            stopped_at=START + timedelta(minutes=number + 1),
                            meter_start_wh=0, meter_stop_wh=number, energy_wh=number, transaction_id=str(number),
                            status=ChargingSession.Status.COMPLETED, stop_reason="EVDisconnected", **values)
            for number in range(count)]
    return ChargingSession.objects.bulk_create(rows)


def streamed(response) -> str:
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    chunks = list(response.streaming_content)
    return b"".join(chunks).decode()


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(streamed(response))))


def test_sessions_csv_streams_every_row_with_a_header(site_a):
    made = sessions(site_a, 2000)
    priced = made[7]
    SessionCost.objects.create(session=priced, currency="SEK", energy_wh=7, total_incl_vat=D("23.75"),
                               total_vat=D("4.75"), total_excl_vat=D("19.00"), priced_at=START + timedelta(days=1))
    response = client_for(site_a.raw_key).get("/api/v1/exports/sessions.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="sessions.csv"'
    chunks = list(response.streaming_content)
    assert len(chunks) > 1  # written in pieces, not as one document
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 2000
    assert [int(row["id"]) for row in rows] == sorted(session.pk for session in made)
    row = rows[7]
    assert row["transaction_id"] == "7"
    assert row["charge_point_identity"] == site_a.charge_point.identity
    assert row["started_at"] == "2026-02-01T06:07:00+00:00"
    assert (row["energy_wh"], row["stop_reason"], row["status"]) == ("7", "EVDisconnected", "completed")
    assert (row["cost_currency"], row["cost_amount"], row["cost_vat_amount"]) == ("SEK", "23.75", "4.75")
    assert (rows[8]["cost_currency"], rows[8]["cost_amount"], rows[8]["stopped_at"]) == (
        "", "", "2026-02-01T06:09:00+00:00")


def test_sessions_json_is_one_array_with_typed_values(site_a):
    sessions(site_a, 3)
    active = ChargingSession.objects.create(charge_point=site_a.charge_point, evse=site_a.evse, organization=site_a.org,
                                            started_at=START + timedelta(days=1), meter_start_wh=100,
                                            transaction_id="live")
    response = client_for(site_a.raw_key).get("/api/v1/exports/sessions.json", {"status": "active"})
    assert response["Content-Type"] == "application/json"
    body = json.loads(streamed(response))
    assert body == [{"id": active.pk, "transaction_id": "live", "organization": site_a.org.pk,
                     "charge_point": site_a.charge_point.pk, "charge_point_identity": site_a.charge_point.identity,
                     "evse": site_a.evse.pk, "evse_number": 1, "status": "active",
                     "started_at": "2026-02-02T06:00:00+00:00", "stopped_at": None, "energy_wh": 0,
                     "stop_reason": "", "id_token_uid": "", "user": None, "auth_source": "charger",
                     "roaming_party": "", "cost_currency": None, "cost_amount": None, "cost_vat_amount": None}]
    assert json.loads(streamed(client_for(site_a.raw_key).get("/api/v1/exports/sessions.json",
                                                               {"status": "failed"}))) == []


def test_session_exports_take_the_list_filters_and_refuse_bad_ones_in_json(site_a):
    sessions(site_a, 10)
    client = client_for(site_a.raw_key)
    rows = csv_rows(client.get("/api/v1/exports/sessions.csv", {"started_from": "2026-02-01T07:05:00+01:00"}))
    assert [row["transaction_id"] for row in rows] == ["5", "6", "7", "8", "9"]
    response = client.get("/api/v1/exports/sessions.csv", {"started_from": "soon"}, HTTP_ACCEPT="text/csv")
    assert_error(response, 400, "invalid")
    assert "started_from" in response.json()["fields"]


def test_session_exports_never_include_another_organizations_rows(site_a, site_b):
    own = sessions(site_a, 2)
    sessions(site_b, 3)
    client = client_for(site_a.raw_key)
    assert {int(row["id"]) for row in csv_rows(client.get("/api/v1/exports/sessions.csv"))} == {s.pk for s in own}
    assert csv_rows(client.get("/api/v1/exports/sessions.csv", {"charge_point": site_b.charge_point.pk})) == []
    assert {row["id"] for row in json.loads(streamed(client.get("/api/v1/exports/sessions.json")))} == {
        s.pk for s in own}


def _invoice(tenant, number, total):
    operator = Organization.objects.filter(kind=Organization.Kind.OPERATOR).first() or OperatorFactory()
    series, _created = InvoiceSeries.objects.get_or_create(seller=operator, defaults={"prefix": "1"})
    return Invoice.objects.create(series=series, number=number, buyer=tenant.residents[0], organization=tenant.org,
                                  period_start=date(2026, 1, 1), period_end=date(2026, 1, 31),
                                  issue_date=date(2026, 2, 5), due_date=date(2026, 3, 7), total=D(total),
                                  vat=D(total) / 5, taxable=D(total) - D(total) / 5, status=Invoice.Status.ISSUED)


def test_invoices_csv_needs_the_billing_scope_and_shows_only_the_callers_invoices(site_a, brf_a):
    brf_b = Tenant("BRF B2")
    own = _invoice(brf_a, 17, "125.00")
    _invoice(brf_b, 18, "999.00")
    assert_error(client_for(site_a.raw_key).get("/api/v1/exports/invoices.csv"), 403, "permission_denied")
    key = api_key_create(organization=site_a.org, name="bookkeeping", scopes=["read", "billing"], acting_user=None,
                         reason="test").raw_key
    response = client_for(key).get("/api/v1/exports/invoices.csv")
    assert response["Content-Disposition"] == 'attachment; filename="invoices.csv"'
    [row] = csv_rows(response)
    assert (row["id"], row["number"], row["buyer"], row["status"]) == (
        str(own.pk), "10017", str(brf_a.residents[0].pk), "issued")
    assert (row["issue_date"], row["due_date"], row["total"], row["vat"], row["taxable"]) == (
        "2026-02-05", "2026-03-07", "125.00", "25.00", "100.00")
    assert csv_rows(client_for(key).get("/api/v1/exports/invoices.csv", {"status": "paid"})) == []
    assert_error(client_for(key).get("/api/v1/exports/invoices.csv", {"status": "bogus"}), 400, "invalid")


def test_report_exports_are_csv_of_the_callers_rows(brf_a, site_a, site_b):
    sessions(site_a, 4, user=brf_a.residents[0])
    sessions(site_b, 2)
    client = client_for(site_a.raw_key)
    energy = csv_rows(client.get("/api/v1/exports/reports/energy.csv", {"from": "2026-02", "group_by": "station"}))
    assert [(row["key"], row["energy_wh"], row["sessions"], row["currency"]) for row in energy] == [
        (str(site_a.charge_point.pk), "6", "4", "")]
    utilization = csv_rows(client.get("/api/v1/exports/reports/utilization.csv", {"from": "2026-02"}))
    assert [(row["identity"], row["month"], row["sessions"]) for row in utilization] == [
        (site_a.charge_point.identity, "2026-02", "4")]
    benefit = csv_rows(client.get("/api/v1/exports/reports/benefit-tax.csv", {"year": 2026, "month": 2}))
    assert [(row["user"], row["energy_wh"]) for row in benefit] == [(str(brf_a.residents[0].pk), "6")]
    assert_error(client.get("/api/v1/exports/reports/energy.csv", {"from": "2026-99"}), 400, "invalid")


def test_the_schema_documents_the_exports_and_reports(db):
    paths = client_for(None).get("/api/v1/schema/?format=json").json()["paths"]
    csv_export = paths["/api/v1/exports/sessions.csv"]["get"]
    assert "text/csv" in csv_export["responses"]["200"]["content"]
    assert {p["name"] for p in csv_export["parameters"]} >= {"started_from", "status", "id_token"}
    for path in ("/api/v1/exports/sessions.json", "/api/v1/exports/invoices.csv",
                 "/api/v1/exports/reports/energy.csv", "/api/v1/exports/reports/utilization.csv",
                 "/api/v1/exports/reports/benefit-tax.csv", "/api/v1/reports/energy/",
                 "/api/v1/reports/utilization/", "/api/v1/reports/benefit-tax/"):
        assert "get" in paths[path]
    assert {p["name"] for p in paths["/api/v1/reports/energy/"]["get"]["parameters"]} >= {"from", "to", "group_by"}


def test_under_asgi_the_export_is_fed_through_an_async_iterator():
    import asyncio

    from django.core.handlers.asgi import ASGIRequest

    from csms.api.streaming import csv_chunks, streaming_response

    scope = {"type": "http", "method": "GET", "path": "/api/v1/exports/sessions.csv", "query_string": b"",
             "headers": [], "server": ("testserver", 80)}
    request = ASGIRequest(scope, io.BytesIO())
    response = streaming_response(request, csv_chunks(["a", "b"], ([n, D("1.50")] for n in range(3))),
                                  filename="x.csv", content_type="text/csv; charset=utf-8")
    assert response.is_async

    async def consume():
        return b"".join([chunk async for chunk in response])

    assert asyncio.run(consume()).decode().splitlines() == ["a,b", "0,1.50", "1,1.50", "2,1.50"]
