"""Spot prices in the database: storing the recorded sample files (upsert, DST days), reading them in a currency
with the source preference and EUR conversion, the fallback and gap records, and the daily fetch (task and
command) with the HTTP GET replaced by the fixture files — never the network."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from billing import pricing, spot, spot_fetch
from billing.models import SpotPrice, SpotPriceGap
from billing.selectors import fallback_spot_price
from billing.services.spot_prices import fetch_and_store, prices_for, store
from billing.spot import ElprisetJustNu, EntsoeDayAhead, local_day_bounds
from billing.tasks import fetch_spot_prices_task

pytestmark = pytest.mark.django_db

D = Decimal
FIXTURES = Path(__file__).parent / "fixtures"
FETCHED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fixture(name):
    return (FIXTURES / name).read_bytes()


def parsed(source, day):
    if source == "entsoe":
        resolution = "PT60M" if day == "2025-03-30" else "PT15M"
        return EntsoeDayAhead().parse(fixture(f"entsoe_SE3_{day}_{resolution}.xml"), area="SE3")
    return ElprisetJustNu().parse(fixture(f"elprisetjustnu_SE3_{day}.json"), area="SE3")


def stored_in_local_day(day, source):
    start, end = local_day_bounds(date.fromisoformat(day))
    return SpotPrice.objects.filter(area="SE3", source=source, start__gte=start, end__lte=end)


@pytest.fixture(autouse=True)
def _spot_settings(settings):
    settings.SPOT_PRICE_SOURCE = "elprisetjustnu"
    settings.SPOT_FALLBACK_PRICE = {"SEK": "1.10", "SE4:SEK": "1.60", "EUR": "0.10"}
    settings.SPOT_EXCHANGE_RATES = {}
    settings.ENTSOE_API_TOKEN = ""


# --- Storing --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("day", "count"), [
    pytest.param("2025-10-26", 100, id="autumn-dst-100-quarter-hours"),
    pytest.param("2026-03-29", 92, id="spring-dst-92-quarter-hours"),
    pytest.param("2025-03-30", 23, id="hourly-spring-dst-23-hours"),
])
@pytest.mark.parametrize("source", ["entsoe", "elprisetjustnu"])
def test_a_dst_day_keeps_its_interval_count_through_storage(source, day, count):
    result = store(prices=parsed(source, day), fetched_at=FETCHED)
    assert (result.created, result.updated, result.unchanged) == (count, 0, 0)
    rows = list(stored_in_local_day(day, source).order_by("start"))
    assert len(rows) == count
    assert all(before.end == after.start for before, after in zip(rows, rows[1:], strict=False))
    start, end = local_day_bounds(date.fromisoformat(day))
    assert (rows[0].start, rows[-1].end) == (start, end)


def test_prices_are_stored_per_kwh_in_the_source_currency():
    store(prices=parsed("entsoe", "2025-10-26"), fetched_at=FETCHED)
    store(prices=parsed("elprisetjustnu", "2025-10-26"), fetched_at=FETCHED)
    first = datetime(2025, 10, 25, 22, 0, tzinfo=UTC)
    entsoe = SpotPrice.objects.get(source="entsoe", start=first)
    elpris = SpotPrice.objects.get(source="elprisetjustnu", start=first)
    # 39.66 EUR/MWh; elprisetjustnu publishes 0.43417 SEK/kWh for the same quarter-hour.
    assert (entsoe.price, entsoe.currency) == (D("0.03966"), "EUR")
    assert (elpris.price, elpris.currency) == (D("0.43417"), "SEK")
    assert SpotPrice.objects.count() == 200


def test_storing_again_updates_only_changed_prices():
    prices = parsed("elprisetjustnu", "2026-03-29")
    store(prices=prices, fetched_at=FETCHED)
    again = store(prices=prices, fetched_at=FETCHED + timedelta(hours=1))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 92)
    corrected = [replace(prices[0], price=D("9.99999")), *prices[1:]]
    result = store(prices=corrected, fetched_at=FETCHED + timedelta(hours=2))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 91)
    row = SpotPrice.objects.get(start=prices[0].start, source="elprisetjustnu")
    assert (row.price, row.fetched_at) == (D("9.99999"), FETCHED + timedelta(hours=2))
    assert SpotPrice.objects.count() == 92


def test_a_naive_or_foreign_price_is_refused_without_a_partial_write():
    good = parsed("elprisetjustnu", "2026-03-29")
    bad = spot.SpotPrice("SE3", datetime(2026, 3, 30), datetime(2026, 3, 30, 1), D(1), "SEK", "kWh",  # noqa: DTZ001
                         "elprisetjustnu")
    with pytest.raises(ValueError, match="timezone-aware"):
        store(prices=[*good, bad], fetched_at=FETCHED)
    assert not SpotPrice.objects.exists()


# --- Reading ----------------------------------------------------------------------------------------------------
def test_the_domain_example_215_86_eur_per_mwh_at_11_50_is_2_48239_sek_per_kwh(settings):
    settings.SPOT_EXCHANGE_RATES = {"SEK": "11.50"}
    start = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    store(prices=[spot.SpotPrice("SE3", start, start + timedelta(hours=1), D("215.86"), "EUR", "MWh", "entsoe")],
          fetched_at=FETCHED)
    coverage = prices_for(area="SE3", start=start, end=start + timedelta(hours=1), currency="SEK", now=FETCHED)
    assert [interval.price for interval in coverage.intervals] == [D("2.48239")]
    assert coverage.gaps == ()
    assert not SpotPriceGap.objects.exists()


def test_a_day_reads_the_same_from_either_source_in_eur():
    day = "2025-10-26"
    start, end = local_day_bounds(date.fromisoformat(day))
    store(prices=parsed("entsoe", day), fetched_at=FETCHED)
    from_entsoe = prices_for(area="SE3", start=start, end=end, currency="EUR", now=FETCHED)
    SpotPrice.objects.all().delete()
    store(prices=ElprisetJustNu(currency="EUR").parse(fixture(f"elprisetjustnu_SE3_{day}.json"), area="SE3"),
          fetched_at=FETCHED)
    from_elpris = prices_for(area="SE3", start=start, end=end, currency="EUR", now=FETCHED)
    assert len(from_entsoe.intervals) == 100
    assert from_entsoe.intervals == from_elpris.intervals


def test_the_configured_source_wins_and_others_only_fill_its_gaps(settings):
    settings.SPOT_EXCHANGE_RATES = {"SEK": "11.00"}
    day = "2025-10-26"
    start, end = local_day_bounds(date.fromisoformat(day))
    elpris = parsed("elprisetjustnu", day)
    store(prices=parsed("entsoe", day), fetched_at=FETCHED)
    store(prices=elpris[:50], fetched_at=FETCHED)
    coverage = prices_for(area="SE3", start=start, end=end, currency="SEK", now=FETCHED)
    assert coverage.interval_sources == ("elprisetjustnu",) * 50 + ("entsoe",) * 50
    assert coverage.intervals[0].price == elpris[0].price
    assert coverage.intervals[50].price == (D("0.001") * D(str(parsed("entsoe", day)[50].price)) * 11).quantize(
        D("0.00001"))
    settings.SPOT_PRICE_SOURCE = "entsoe"
    assert prices_for(area="SE3", start=start, end=end, currency="SEK",
                      now=FETCHED).interval_sources == ("entsoe",) * 100


def test_a_gap_is_priced_at_the_fallback_recorded_and_merged():
    store(prices=parsed("elprisetjustnu", "2025-10-26"), fetched_at=FETCHED)
    start = datetime(2025, 10, 26, 22, 0, tzinfo=UTC)  # the last local hour of the day
    end = start + timedelta(hours=3)
    coverage = prices_for(area="SE3", start=start, end=end, currency="SEK", now=FETCHED)
    day_end = local_day_bounds(date(2025, 10, 26))[1]
    assert coverage.gaps == ((day_end, end),)
    series = coverage.series()
    assert series[-1] == (day_end, end, D("1.10000"))
    assert all(price for _start, _end, price in series)
    assert all(before[1] == after[0] for before, after in zip(series, series[1:], strict=False))
    gap = SpotPriceGap.objects.get()
    assert (gap.kind, gap.area, gap.start, gap.end, gap.fallback_price, gap.resolved_at) == (
        "pricing", "SE3", day_end, end, D("1.10000"), None)
    # Asking again for an overlapping span extends the same gap instead of adding rows.
    prices_for(area="SE3", start=start, end=end + timedelta(hours=2), currency="SEK", now=FETCHED + timedelta(1))
    gap.refresh_from_db()
    assert (SpotPriceGap.objects.count(), gap.end, gap.occurrences) == (1, end + timedelta(hours=2), 2)


def test_a_new_gap_is_mailed_to_the_operators_technical_contacts_once(settings, mailoutbox,
                                                                    django_capture_on_commit_callbacks):
    settings.ADMINS = [("", "drift@example.com")]
    start = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        prices_for(area="SE4", start=start, end=start + timedelta(hours=1), currency="SEK", now=FETCHED)
    with django_capture_on_commit_callbacks(execute=True):  # the same gap again: merged, not mailed again
        prices_for(area="SE4", start=start, end=start + timedelta(hours=2), currency="SEK", now=FETCHED)
    assert [message.to for message in mailoutbox] == [["drift@example.com"]]
    assert "SE4" in mailoutbox[0].subject


def test_storing_the_missing_prices_resolves_the_gap():
    day_start, day_end = local_day_bounds(date(2026, 3, 29))
    prices_for(area="SE3", start=day_start, end=day_end, currency="SEK", now=FETCHED)
    assert SpotPriceGap.objects.get().resolved_at is None
    store(prices=parsed("elprisetjustnu", "2026-03-29"), fetched_at=FETCHED + timedelta(hours=1))
    assert SpotPriceGap.objects.get().resolved_at == FETCHED + timedelta(hours=1)


def test_eur_prices_without_an_exchange_rate_leave_a_gap_that_says_so():
    store(prices=parsed("entsoe", "2026-03-29"), fetched_at=FETCHED)
    day_start, day_end = local_day_bounds(date(2026, 3, 29))
    coverage = prices_for(area="SE3", start=day_start, end=day_end, currency="SEK", now=FETCHED)
    assert (coverage.intervals, coverage.gaps, coverage.unconvertible) == ((), ((day_start, day_end),), ("EUR",))
    assert "SPOT_EXCHANGE_RATES" in SpotPriceGap.objects.get().detail


def test_the_fallback_is_configured_per_area_and_currency_and_never_zero(settings):
    assert fallback_spot_price("SEK", "SE4") == D("1.60000")
    assert fallback_spot_price("SEK", "SE3") == D("1.10000")
    with pytest.raises(ImproperlyConfigured):
        fallback_spot_price("DKK")
    settings.SPOT_FALLBACK_PRICE = {"SEK": "0"}
    with pytest.raises(ImproperlyConfigured):
        fallback_spot_price("SEK")


def test_a_dynamic_session_across_a_gap_is_priced_with_the_fallback_there():
    store(prices=parsed("elprisetjustnu", "2026-03-29"), fetched_at=FETCHED)
    stop = local_day_bounds(date(2026, 3, 29))[1] + timedelta(minutes=30)
    start = stop - timedelta(hours=1)
    coverage = prices_for(area="SE3", start=start, end=stop, currency="SEK", now=FETCHED)
    tariff = pricing.Tariff(currency="SEK", dynamic=pricing.DynamicPricing(fallback_spot_price=D("9.99")),
                            vat_mode=pricing.VatMode.EXCLUDED)
    result = pricing.price_session(tariffs=[(start, tariff)], start=start, stop=stop, current_type="AC",
                                   samples=[(start, 0), (stop, 4000)], spot_prices=coverage.series())
    spot_used = [line.spot_price for line in result.lines]
    # Two stored quarter-hours, then 30 minutes at the configured fallback (not the tariff's own 9.99).
    assert spot_used[-1] == D("1.10000")
    assert len(spot_used) == 3
    assert result.total_incl_vat == sum(line.amount_incl_vat for line in result.lines)


# --- Fetching ---------------------------------------------------------------------------------------------------
class FakeHttp:
    """Answers the spot-price GETs with fixture bytes (or an error) and remembers the URLs."""

    def __init__(self, body=b"", error=None):
        self.body, self.error, self.urls = body, error, []

    def __call__(self, url, timeout):
        self.urls.append(url)
        if self.error is not None:
            raise self.error
        return self.body


def test_fetching_a_day_from_elprisetjustnu_stores_it_and_skips_it_the_next_time():
    http = FakeHttp(fixture("elprisetjustnu_SE3_2025-10-26.json"))
    outcome = fetch_and_store(area="SE3", day=date(2025, 10, 26), now=FETCHED, http_get=http)
    assert http.urls == ["https://www.elprisetjustnu.se/api/v1/prices/2025/10-26_SE3.json"]
    assert (outcome.stored.created, outcome.error) == (100, "")
    again = fetch_and_store(area="SE3", day=date(2025, 10, 26), now=FETCHED, http_get=http)
    assert again.skipped
    assert len(http.urls) == 1
    forced = fetch_and_store(area="SE3", day=date(2025, 10, 26), now=FETCHED, http_get=http, force=True)
    assert forced.stored.unchanged == 100
    assert not SpotPriceGap.objects.exists()


def test_fetching_from_entsoe_sends_the_token_and_needs_one(settings):
    http = FakeHttp(fixture("entsoe_SE3_2026-03-29_PT15M.xml"))
    refused = fetch_and_store(area="SE3", day=date(2026, 3, 29), now=FETCHED, source="entsoe", http_get=http)
    assert "ENTSOE_API_TOKEN" in refused.error
    assert http.urls == []
    assert SpotPriceGap.objects.get().kind == SpotPriceGap.Kind.FETCH

    settings.ENTSOE_API_TOKEN = "secret-token"
    outcome = fetch_and_store(area="SE3", day=date(2026, 3, 29), now=FETCHED, source="entsoe", http_get=http)
    query = parse_qs(urlsplit(http.urls[0]).query)
    assert (query["securityToken"], query["documentType"], query["in_Domain"]) == (
        ["secret-token"], ["A44"], ["10Y1001A1001A46L"])
    assert (query["periodStart"], query["periodEnd"]) == (["202603282300"], ["202603292200"])
    assert outcome.stored.created == 92
    assert SpotPriceGap.objects.get().resolved_at == FETCHED


@pytest.mark.parametrize(("http", "detail"), [
    pytest.param(FakeHttp(fixture("entsoe_acknowledgement_no_data.xml")), "No matching data", id="acknowledgement"),
    pytest.param(FakeHttp(error=spot_fetch.HttpStatusError(400, fixture("entsoe_acknowledgement_no_data.xml"),
                                                           "web-api.tp.entsoe.eu")), "No matching data",
                 id="acknowledgement-with-http-400"),
    pytest.param(FakeHttp(error=spot_fetch.SpotFetchError("web-api.tp.entsoe.eu could not be reached: timed out")),
                 "could not be reached", id="network"),
    pytest.param(FakeHttp(b"<html>maintenance</html>"), "Publication_MarketDocument", id="not-a-price-document"),
])
def test_a_failed_entsoe_fetch_is_recorded_as_a_gap_without_the_token(settings, http, detail):
    settings.ENTSOE_API_TOKEN = "secret-token"
    outcome = fetch_and_store(area="SE3", day=date(2026, 3, 29), now=FETCHED, source="entsoe", http_get=http)
    assert detail in outcome.error
    gap = SpotPriceGap.objects.get()
    assert (gap.kind, gap.source, (gap.start, gap.end)) == ("fetch", "entsoe", local_day_bounds(date(2026, 3, 29)))
    assert "secret-token" not in gap.detail
    assert not SpotPrice.objects.exists()


def test_a_day_not_yet_published_on_elprisetjustnu_is_a_gap():
    http = FakeHttp(error=spot_fetch.HttpStatusError(404, b"Not found", "www.elprisetjustnu.se"))
    outcome = fetch_and_store(area="SE3", day=date(2026, 3, 30), now=FETCHED, http_get=http)
    assert "no prices" in outcome.error
    assert SpotPriceGap.objects.get().kind == "fetch"


def test_an_answer_for_another_day_is_stored_but_the_asked_day_stays_a_gap():
    http = FakeHttp(fixture("elprisetjustnu_SE3_2026-03-29.json"))
    outcome = fetch_and_store(area="SE3", day=date(2026, 3, 30), now=FETCHED, http_get=http)
    assert outcome.stored.created == 92
    gap = SpotPriceGap.objects.get()
    assert (gap.start, gap.end, gap.resolved_at) == (*local_day_bounds(date(2026, 3, 30)), None)


def test_the_daily_task_fetches_every_area(monkeypatch):
    def http(url, timeout):
        requested.append(url)
        if url.endswith("/2025/10-26_SE3.json"):
            return fixture("elprisetjustnu_SE3_2025-10-26.json")
        raise spot_fetch.HttpStatusError(404, b"", "www.elprisetjustnu.se")

    requested = []
    monkeypatch.setattr(spot_fetch, "urllib_get", http)
    stored = fetch_spot_prices_task.delay(day="2025-10-26").get()
    assert stored == 100
    assert [url.rsplit("_", 1)[-1] for url in requested] == ["SE1.json", "SE2.json", "SE3.json", "SE4.json"]
    assert sorted(SpotPriceGap.objects.values_list("area", flat=True)) == ["SE1", "SE2", "SE4"]
    assert "fetch-spot-prices" in django_settings.CELERY_BEAT_SCHEDULE


def test_the_command_back_fills_a_range(monkeypatch):
    bodies = {"10-26_SE3.json": fixture("elprisetjustnu_SE3_2025-10-26.json")}

    def http(url, timeout):
        if url.rsplit("/", 1)[-1] not in bodies:
            raise spot_fetch.HttpStatusError(404, b"", "www.elprisetjustnu.se")
        return bodies[url.rsplit("/", 1)[-1]]

    monkeypatch.setattr(spot_fetch, "urllib_get", http)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 day"):
        call_command("fetch_spot_prices", "--date", "2025-10-26", "--end-date", "2025-10-27", "--area", "SE3",
                     stdout=out, stderr=err)
    assert "2025-10-26 SE3 (elprisetjustnu): 100 new" in out.getvalue()
    assert "2025-10-27 SE3" in err.getvalue()
    with pytest.raises(CommandError, match="not a date"):
        call_command("fetch_spot_prices", "--date", "26/10/2025")
