"""The portal's pure SVG charts: bars scale to the largest value and print their values, heatmap cells carry their
number and band, every text is escaped, and each chart names itself with <title> and <desc>."""

import re
from decimal import Decimal
from xml.etree import ElementTree

from csms.portal import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str):
    return ElementTree.fromstring(svg)


def test_bar_chart_scales_to_the_largest_value_and_prints_values():
    svg = charts.bar_chart([charts.Bar("Jan", 10, "10"), charts.Bar("Feb", 40, "40"), charts.Bar("Mar", 0, "0")],
                           chart_id="e", title="Energy", desc="Per month", height=224)
    root = _parse(svg)
    heights = [float(rect.get("height")) for rect in root.iter(f"{SVG}rect")]
    assert heights == [40.0, 160.0, 0.0]  # plot height 224 - 24 - 40 = 160
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert texts == ["10", "Jan", "40", "Feb", "0", "Mar"]
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "e-title e-desc"
    assert root.find(f"{SVG}title").text == "Energy"
    assert root.find(f"{SVG}desc").text == "Per month"


def test_bar_chart_of_only_zeros_or_nothing_draws_no_bar():
    root = _parse(charts.bar_chart([charts.Bar("Jan", Decimal("0.00"), "0")], chart_id="z", title="t", desc="d"))
    assert [rect.get("height") for rect in root.iter(f"{SVG}rect")] == ["0.0"]
    assert list(_parse(charts.bar_chart([], chart_id="n", title="t", desc="d")).iter(f"{SVG}rect")) == []


def test_text_is_escaped():
    svg = charts.bar_chart([charts.Bar("<b>&", 1, "1 < 2")], chart_id="x", title="A & B", desc="<script>")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "A &amp; B" in svg
    _parse(svg)  # well-formed


def test_bands():
    assert charts.band(Decimal("0"))[0] == "band-0"
    assert charts.band(Decimal("4.9"))[0] == "band-0"
    assert charts.band(Decimal("5"))[0] == "band-1"
    assert charts.band(Decimal("29.9"))[0] == "band-2"
    assert charts.band(Decimal("30"))[0] == "band-3"
    assert charts.band(Decimal("100"))[0] == "band-4"


def test_heatmap_prints_every_cell_number_in_its_band():
    svg = charts.heatmap([("CP-1", [charts.Cell(Decimal("0.0"), "0.0"), charts.Cell(Decimal("62.5"), "62.5")]),
                          ("CP-2", [charts.Cell(Decimal("12.0"), "12.0"), charts.Cell(Decimal("31"), "31.0")])],
                         ["Jan", "Feb"], chart_id="u", title="Utilization", desc="Share")
    root = _parse(svg)
    groups = list(root.iter(f"{SVG}g"))
    assert [group.get("class") for group in groups] == ["band-0", "band-4", "band-1", "band-3"]
    assert [group.find(f"{SVG}text").text for group in groups] == ["0.0", "62.5", "12.0", "31.0"]
    # White text on the dark bands, dark text elsewhere: readable either way.
    assert [group.find(f"{SVG}text").get("fill") for group in groups] == ["#0f172a", "#ffffff", "#0f172a", "#ffffff"]
    assert groups[1].find(f"{SVG}rect/{SVG}title").text == "CP-1, Feb: 62.5"
    labels = [text.text for text in root.findall(f"{SVG}text")]
    assert labels == ["Jan", "Feb", "CP-1", "CP-2"]
    assert re.search(r'viewBox="0 0 258 82"', svg)  # 150 + 2 × 52 + 4, 3 × 26 + 4
