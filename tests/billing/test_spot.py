"""Spot-price parsers replaying the sample files in tests/billing/fixtures: ENTSO-E XML, elprisetjustnu JSON."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from billing.pricing import DynamicPricing, SpotSeries, Tariff, price_session, spot_price_per_kwh
from billing.spot import (
    SOURCES,
    ElprisetJustNu,
    EntsoeDayAhead,
    SpotDataUnavailable,
    SpotPrice,
    SpotPriceDocumentError,
    SpotPriceSource,
    SpotRequest,
    local_day_bounds,
)

D = Decimal
FIXTURES = Path(__file__).parent / "fixtures"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
SE3 = "10Y1001A1001A46L"


def fixture(name):
    return (FIXTURES / name).read_bytes()


def entsoe(day):
    resolution = "PT60M" if day == "2025-03-30" else "PT15M"
    return EntsoeDayAhead().parse(fixture(f"entsoe_SE3_{day}_{resolution}.xml"), area="SE3")


def elpris(day, currency="SEK"):
    return ElprisetJustNu(currency=currency).parse(fixture(f"elprisetjustnu_SE3_{day}.json"), area="SE3")


def local_dates(prices):
    return {price.start.astimezone(STOCKHOLM).date() for price in prices}


def contiguous(prices, step):
    return all(price.end - price.start == step for price in prices) and all(
        before.end == after.start for before, after in zip(prices, prices[1:], strict=False))


@pytest.mark.parametrize(("day", "count", "step"), [
    pytest.param("2025-10-26", 100, timedelta(minutes=15), id="autumn-dst-day-100-quarter-hours"),
    pytest.param("2026-03-29", 92, timedelta(minutes=15), id="spring-dst-day-92-quarter-hours"),
    pytest.param("2025-03-30", 23, timedelta(hours=1), id="hourly-spring-dst-day-23-hours"),
])
@pytest.mark.parametrize("parse", [pytest.param(entsoe, id="entsoe"), pytest.param(elpris, id="elprisetjustnu")])
def test_a_dst_day_has_as_many_intervals_as_the_local_day_has(parse, day, count, step):
    prices = parse(day)
    assert len(prices) == count
    assert contiguous(prices, step)
    assert local_dates(prices) == {date.fromisoformat(day)}
    assert (prices[0].start, prices[-1].end) == local_day_bounds(date.fromisoformat(day))
    assert all(price.start.tzinfo is UTC and price.area == "SE3" for price in prices)


def test_the_autumn_day_has_the_hour_from_two_to_three_twice():
    local = [price.start.astimezone(STOCKHOLM) for price in entsoe("2025-10-26")]
    twice = [moment for moment in local if moment.hour == 2]
    assert len(twice) == 8
    assert [moment.fold for moment in twice] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_the_spring_day_has_no_quarter_hour_between_two_and_three():
    assert not [price for price in entsoe("2026-03-29") if price.start.astimezone(STOCKHOLM).hour == 2]


def test_entsoe_prices_are_eur_per_mwh_with_a03_gaps_filled_from_the_previous_position():
    prices = entsoe("2025-10-26")
    assert (prices[0].price, prices[0].currency, prices[0].unit, prices[0].source) == (D("39.66"), "EUR", "MWh",
                                                                                       "entsoe")
    # Positions 14–16 (the second 02:00 hour, a flat one), 97 and 99 are absent from the file.
    assert [price.price for price in prices[12:16]] == [D("28.75")] * 4
    assert [price.price for price in prices[95:100]] == [D("48.60"), D("48.60"), D("39.67"), D("39.67"),
                                                         D("43.26")]


def test_an_a03_gap_at_the_end_of_the_period_runs_to_its_end():
    prices = entsoe("2026-03-29")
    assert (prices[-1].start, prices[-1].end, prices[-1].price) == (
        datetime(2026, 3, 29, 21, 45, tzinfo=UTC), datetime(2026, 3, 29, 22, 0, tzinfo=UTC), D("30.08"))
    assert min(price.price for price in prices) == D("-2.23")


def test_hourly_prices_fill_a_gap_too():
    assert [price.price for price in entsoe("2025-03-30")[:5]] == [D("61.02"), D("58.77"), D("55.30"), D("55.30"),
                                                                  D("57.12")]


@pytest.mark.parametrize("day", ["2025-10-26", "2026-03-29", "2025-03-30"])
def test_both_sources_give_the_same_intervals_and_prices(day):
    from_entsoe, in_eur, in_sek = entsoe(day), elpris(day, "EUR"), elpris(day)
    assert [(p.start, p.end) for p in from_entsoe] == [(p.start, p.end) for p in in_eur] == [
        (p.start, p.end) for p in in_sek]
    assert [p.per_kwh("EUR") for p in from_entsoe] == [p.price for p in in_eur]
    rate = json.loads(fixture(f"elprisetjustnu_SE3_{day}.json"), parse_float=Decimal)[0]["EXR"]
    assert [p.per_kwh("SEK", eur_rate=rate) for p in from_entsoe] == [p.price for p in in_sek]


def test_elprisetjustnu_reads_sek_per_kwh_as_decimals_never_floats():
    prices = elpris("2025-10-26")
    assert (prices[8].start, prices[8].price, prices[8].currency, prices[8].unit) == (
        datetime(2025, 10, 26, 0, 0, tzinfo=UTC), D("0.31539"), "SEK", "kWh")
    assert prices[12].start == datetime(2025, 10, 26, 1, 0, tzinfo=UTC)  # "02:00:00+01:00"
    assert all(type(price.price) is Decimal for price in prices + entsoe("2025-10-26"))


def test_the_domain_spot_example_converts_through_a_spot_price():
    price = SpotPrice("SE3", datetime(2026, 1, 12, 9, tzinfo=UTC), datetime(2026, 1, 12, 10, tzinfo=UTC),
                      D("215.86"), "EUR", "MWh", "entsoe")
    assert price.per_kwh("SEK", eur_rate=D("11.50")) == D("2.48239") == spot_price_per_kwh(D("215.86"), D("11.50"))
    with pytest.raises(ValueError, match="eur_rate"):
        price.per_kwh("SEK")


def test_a_session_across_the_repeated_hour_is_priced_per_parsed_quarter_hour():
    rate = D("10.947237")
    spots = SpotSeries((p.start, p.end, p.per_kwh("SEK", eur_rate=rate)) for p in entsoe("2025-10-26"))
    tariff = Tariff("SEK", dynamic=DynamicPricing(fallback_spot_price=D("1.00"), markup=D("0.40")))
    # 02:00–04:00 CEST on the autumn day: the hour from 02:00 to 03:00 twice.
    start, stop = datetime(2025, 10, 26, 0, 0, tzinfo=UTC), datetime(2025, 10, 26, 2, 0, tzinfo=UTC)
    result = price_session(tariffs=[(start - timedelta(days=1), tariff)], start=start, stop=stop, current_type="AC",
                           samples=[(start, 0), (stop, 8000)], spot_prices=spots)
    assert len(result.lines) == 8
    assert all(line.quantity == D("1.000") and not line.used_fallback for line in result.lines)
    assert result.lines[4].spot_price == spot_price_per_kwh(D("28.75"), rate) == D("0.31473")


def test_an_acknowledgement_means_no_data():
    with pytest.raises(SpotDataUnavailable, match="No matching data found"):
        EntsoeDayAhead().parse(fixture("entsoe_acknowledgement_no_data.xml"), area="SE3")


def test_a_document_for_another_area_is_refused():
    with pytest.raises(SpotPriceDocumentError, match="not SE4"):
        EntsoeDayAhead().parse(fixture("entsoe_SE3_2025-10-26_PT15M.xml"), area="SE4")


@pytest.mark.parametrize("source", [EntsoeDayAhead(), ElprisetJustNu()])
def test_an_unknown_area_is_refused(source):
    with pytest.raises(ValueError, match="Unknown bidding area"):
        source.day_request(area="SE5", day=date(2026, 1, 1))


# --- small documents for the rules the recorded days do not show -------------------------------------------------

def document(*series):
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">'
            + "".join(series) + "</Publication_MarketDocument>")


def timeseries(start, end, resolution, points, *, curve="A03", sequence=None, contract="A01", domain=SE3):
    sequence_element = ("" if sequence is None else f"<classificationSequence_AttributeInstanceComponent.position>"
                        f"{sequence}</classificationSequence_AttributeInstanceComponent.position>")
    return (f"<TimeSeries><businessType>A62</businessType>"
            f'<in_Domain.mRID codingScheme="A01">{domain}</in_Domain.mRID>'
            f"<contract_MarketAgreement.type>{contract}</contract_MarketAgreement.type>"
            f"<currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
            f"{sequence_element}<curveType>{curve}</curveType><Period><timeInterval><start>{start}</start>"
            f"<end>{end}</end></timeInterval><resolution>{resolution}</resolution>"
            + "".join(f"<Point><position>{position}</position><price.amount>{price}</price.amount></Point>"
                      for position, price in points)
            + "</Period></TimeSeries>")


def parse(*series, sequence=None):
    return EntsoeDayAhead(sequence=sequence).parse(document(*series), area="SE3")


def test_quarter_hours_win_over_hours_which_fill_only_what_they_lack():
    prices = parse(timeseries("2026-01-12T00:00Z", "2026-01-12T02:00Z", "PT60M", [(1, "50"), (2, "60")]),
                   timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M",
                              [(1, "1"), (2, "2"), (3, "3"), (4, "4")]))
    assert [(p.start.hour, p.start.minute, p.price) for p in prices] == [
        (0, 0, D(1)), (0, 15, D(2)), (0, 30, D(3)), (0, 45, D(4)), (1, 0, D(60))]


def test_an_a01_curve_leaves_a_missing_position_missing():
    prices = parse(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M", [(1, "1"), (2, "2"), (4, "4")],
                              curve="A01"))
    assert [p.start.minute for p in prices] == [0, 15, 45]


def test_several_sequences_must_be_chosen_between():
    first = timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT60M", [(1, "10")], sequence=1)
    second = timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT60M", [(1, "20")], sequence=2)
    with pytest.raises(SpotPriceDocumentError, match="sequence"):
        parse(first, second)
    assert [p.price for p in parse(first, second, sequence=2)] == [D(20)]


def test_intraday_series_are_left_out():
    prices = parse(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT60M", [(1, "10")]),
                   timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M", [(1, "99")], contract="A07"))
    assert [(p.end - p.start, p.price) for p in prices] == [(timedelta(hours=1), D(10))]


@pytest.mark.parametrize(("payload", "message"), [
    pytest.param(document(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M", [(5, "1")])),
                 "outside the period", id="position-beyond-the-period"),
    pytest.param(document(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M", [(1, "1"), (1, "2")])),
                 "twice", id="position-twice"),
    pytest.param(document(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M", [(2, "1")])),
                 "start with position 1", id="a03-without-position-1"),
    pytest.param(document(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "P1D", [(1, "1")])),
                 "not supported", id="daily-resolution"),
    pytest.param(document(timeseries("2026-01-12T00:00Z", "2026-01-12T01:10Z", "PT15M", [(1, "1")])),
                 "whole number", id="period-not-a-multiple"),
    pytest.param(document(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M", [(1, "abc")])),
                 "invalid", id="price-not-a-number"),
    pytest.param(document(timeseries("2026-01-12T00:00Z", "2026-01-12T01:00Z", "PT15M", [(1, "1")],
                                     curve="A02")), "Curve type A02", id="unsupported-curve"),
    pytest.param(b"<Publication_MarketDocument><TimeSeries>", "Not an XML document", id="truncated-xml"),
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><Publication_MarketDocument/>',
                 "DOCTYPE", id="doctype-refused"),
    pytest.param(b"<GL_MarketDocument/>", "Publication_MarketDocument", id="another-document-type"),
])
def test_a_malformed_entsoe_document_is_refused_with_a_clear_message(payload, message):
    with pytest.raises(SpotPriceDocumentError, match=message):
        EntsoeDayAhead().parse(payload, area="SE3")


@pytest.mark.parametrize(("payload", "message"), [
    pytest.param(b"{}", "JSON list", id="not-a-list"),
    pytest.param(b"[1]", "not an object", id="entry-not-an-object"),
    pytest.param(b'[{"time_start": "2026-01-12T00:00:00+01:00", "time_end": "2026-01-12T01:00:00+01:00"}]',
                 "no SEK_per_kWh", id="price-missing"),
    pytest.param(b'[{"SEK_per_kWh": "0.5", "time_start": "2026-01-12T00:00:00+01:00", '
                 b'"time_end": "2026-01-12T01:00:00+01:00"}]', "not a number", id="price-a-string"),
    pytest.param(b'[{"SEK_per_kWh": 0.5, "time_start": "2026-01-12T00:00:00", '
                 b'"time_end": "2026-01-12T01:00:00+01:00"}]', "no UTC offset", id="naive-time"),
    pytest.param(b'[{"SEK_per_kWh": 0.5, "time_start": "2026-01-12T01:00:00+01:00", '
                 b'"time_end": "2026-01-12T00:00:00+01:00"}]', "ends before it starts", id="backwards"),
    pytest.param(b"[", "Not a JSON document", id="truncated-json"),
])
def test_a_malformed_elprisetjustnu_file_is_refused_with_a_clear_message(payload, message):
    with pytest.raises(SpotPriceDocumentError, match=message):
        ElprisetJustNu().parse(payload, area="SE3")


# --- requests ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "period_start", "period_end", "hours"), [
    pytest.param(date(2025, 10, 26), "202510252200", "202510262300", 25, id="autumn-change"),
    pytest.param(date(2026, 3, 29), "202603282300", "202603292200", 23, id="spring-change"),
    pytest.param(date(2026, 1, 12), "202601112300", "202601122300", 24, id="winter-day"),
])
def test_the_entsoe_request_covers_the_local_day_in_utc(day, period_start, period_end, hours):
    request = EntsoeDayAhead().day_request(area="SE3", day=day)
    assert request == SpotRequest("https://web-api.tp.entsoe.eu/api", {
        "documentType": "A44", "in_Domain": SE3, "out_Domain": SE3, "periodStart": period_start,
        "periodEnd": period_end})
    start, end = local_day_bounds(day)
    assert end - start == timedelta(hours=hours)


def test_the_elprisetjustnu_request_names_the_day_file():
    assert ElprisetJustNu().day_request(area="SE3", day=date(2025, 10, 26)) == SpotRequest(
        "https://www.elprisetjustnu.se/api/v1/prices/2025/10-26_SE3.json")


@pytest.mark.parametrize(("name", "sample"), [
    pytest.param("entsoe", "entsoe_SE3_2025-03-30_PT60M.xml", id="entsoe"),
    pytest.param("elprisetjustnu", "elprisetjustnu_SE3_2025-03-30.json", id="elprisetjustnu"),
])
def test_each_source_is_registered_by_name_behind_one_interface(name, sample):
    assert set(SOURCES) == {"entsoe", "elprisetjustnu"}
    source = SOURCES[name]()
    assert isinstance(source, SpotPriceSource)
    assert source.name == name
    assert len(source.parse(fixture(sample), area="SE3")) == 23
