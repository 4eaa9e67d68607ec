"""Invoice arithmetic (billing.invoice_math): DOMAIN.md's constructed example, the brochure invoice from raw Wh,
VAT per rate, credit balance, rounding to whole kronor, credit notes, and properties against an exact oracle."""

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.invoice_math import (
    InvoiceLine,
    InvoiceMathError,
    energy_line,
    fee_line,
    invoice_totals,
    kwh_from_wh,
    negated,
    vat_in,
)

D = Decimal

# The brochure's invoice (../shared/seeds/000_*.txt, "Faktura", Fakturanr 9999): start, kWh and price as printed
# (two decimals), line total as printed, and the raw session energy in Wh chosen so that Wh/1000 rounds to the
# printed kWh and Wh/1000 × price rounds half-up to the printed total. The 2024-03-31 22:52 line cannot come from a
# price of exactly 1.77 (1.265–1.274 kWh × 1.77 ≥ 2.239): its unit price is 1.765 SEK/kWh (the pricing engine keeps
# five decimals; the brochure prints two).
BROCHURE = [
    # start, printed kWh, printed price, printed total, Wh, unit price
    ("2024-03-10 14:58:15", "38.22", "2.43", "92.87", 38219, "2.43"),
    ("2024-03-15 14:53:13", "67.33", "2.51", "169.00", 67331, "2.51"),
    ("2024-03-16 13:56:52", "35.86", "2.14", "76.74", 35861, "2.14"),
    ("2024-03-22 16:33:00", "31.02", "2.60", "80.65", 31019, "2.60"),
    ("2024-03-25 12:27:00", "61.15", "3.00", "183.45", 61151, "3.00"),
    ("2024-03-29 21:10:57", "45.31", "2.35", "106.48", 45312, "2.35"),
    ("2024-03-31 22:43:34", "0.41", "1.77", "0.73", 412, "1.77"),
    ("2024-03-31 22:52:13", "1.27", "1.77", "2.23", 1266, "1.765"),
    ("2024-03-31 23:12:32", "0.01", "1.77", "0.02", 12, "1.77"),
    ("2024-03-31 23:13:51", "56.72", "2.30", "130.46", 56722, "2.30"),
]


def half_up_2(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def oracle_round(value: Fraction) -> Decimal:
    """Half-up (away from zero) to öre in exact rational arithmetic, independent of the decimal module."""
    hundredths = abs(value) * 100
    whole = int(hundredths)
    if hundredths - whole >= Fraction(1, 2):
        whole += 1
    return D(whole if value >= 0 else -whole).scaleb(-2)


def test_constructed_example_from_domain():
    lines = [energy_line(description=str(wh), energy_wh=wh, unit_price=D("4.00")) for wh in (12345, 7891, 30004)]
    totals = invoice_totals(lines=lines)
    assert totals.line_totals == (D("49.38"), D("31.56"), D("120.02"))
    assert totals.total == D("200.96")
    assert totals.vat == D("40.19")
    assert totals.taxable == D("160.77")
    assert totals.payable == D("200.96")
    assert totals.single_vat_rate == 25
    assert str(totals.total) == "200.96"  # two decimals, not "200.9600"


def brochure_lines():
    return [energy_line(description=start, energy_wh=wh, unit_price=D(price)) for start, _, _, _, wh, price in BROCHURE]


def test_brochure_invoice_is_reproduced_from_raw_wh():
    lines = brochure_lines()
    assert len(lines) == 10
    for line, (_, printed_kwh, printed_price, printed_total, _, _) in zip(lines, BROCHURE, strict=True):
        # What the brochure prints is what these raw values show when rounded to its two decimals.
        assert half_up_2(line.quantity) == D(printed_kwh)
        assert half_up_2(line.unit_price) == D(printed_price)
        assert line.total == D(printed_total)
    totals = invoice_totals(lines=lines)
    assert totals.line_totals == tuple(D(row[3]) for row in BROCHURE)
    assert totals.total == D("842.63")
    assert totals.vat == D("168.53")
    assert totals.taxable == D("674.10")
    assert totals.payable == D("842.63")


def test_kwh_are_exact_and_never_rounded_before_multiplying():
    assert kwh_from_wh(12345) == D("12.345")
    assert kwh_from_wh(1266) == D("1.266")
    assert kwh_from_wh(0) == 0
    line = energy_line(description="x", energy_wh=1266, unit_price=D("1.765"))
    assert line.quantity == D("1.266")
    # 1.266 × 1.765 = 2.23449 → 2.23; the printed 1.27 kWh would have given 2.24.
    assert line.total == D("2.23")


def test_line_totals_round_half_up_not_to_even():
    # 0.010 kWh × 0.50 = 0.005 → 0.01 (banker's rounding would give 0.00)
    assert energy_line(description="x", energy_wh=10, unit_price=D("0.50")).total == D("0.01")
    assert energy_line(description="x", energy_wh=10, unit_price=D("0.25")).total == D("0.00")
    # 38.219 × 2.35 = 89.81465 → 89.81; 1 Wh more: 89.817 → 89.82
    assert energy_line(description="x", energy_wh=38219, unit_price=D("2.35")).total == D("89.81")
    assert energy_line(description="x", energy_wh=38220, unit_price=D("2.35")).total == D("89.82")
    assert energy_line(description="x", energy_wh=45310, unit_price=D("2.35")).total == D("106.48")  # 106.4785


def test_vat_is_computed_on_the_sum_of_a_rate_not_per_line():
    lines = [fee_line(description=f"fee {i}", amount=D("0.02")) for i in range(3)]
    totals = invoice_totals(lines=lines)
    # Per line VAT would be 0.004 → 0.00 three times; on the sum 0.06 × 25/125 = 0.012 → 0.01.
    assert totals.total == D("0.06")
    assert totals.vat == D("0.01")
    assert totals.taxable == D("0.05")


def test_several_vat_rates_are_grouped():
    lines = [
        energy_line(description="charging", energy_wh=12345, unit_price=D("4.00")),  # 49.38 at 25 %
        fee_line(description="parking", amount=D("300.00")),  # 25 %
        fee_line(description="magazine", amount=D("53.00"), vat_rate=D(6)),
        fee_line(description="reminder fee", amount=D("60.00"), vat_rate=D(0)),
    ]
    totals = invoice_totals(lines=lines)
    assert totals.total == D("462.38")
    assert [(group.rate, group.total, group.vat) for group in totals.vat_groups] == [
        (D(25), D("349.38"), D("69.88")),  # 349.38 × 25/125 = 69.876
        (D(6), D("53.00"), D("3.00")),  # 53 × 6/106 = 3.00
        (D(0), D("60.00"), D("0.00")),
    ]
    assert totals.vat == D("72.88")
    assert totals.taxable == D("389.50")
    assert totals.single_vat_rate is None
    for group in totals.vat_groups:
        assert group.taxable == group.total - group.vat


def test_same_rate_written_differently_is_one_group():
    lines = [fee_line(description="a", amount=D("10.00"), vat_rate=D("25")),
             fee_line(description="b", amount=D("10.00"), vat_rate=D("25.00"))]
    totals = invoice_totals(lines=lines)
    assert len(totals.vat_groups) == 1
    assert totals.vat == D("4.00")


def test_fee_line_quantity():
    line = fee_line(description="Parkering", amount=D("12.345"), quantity=D(3), unit="mån")
    assert line.total == D("37.04")  # 37.035 → 37.04
    assert line.unit == "mån"


def test_priced_amount_is_used_as_line_total():
    # A dynamically priced session: its amount is the sum of the pricing engine's lines, not kWh × average price.
    line = energy_line(description="x", energy_wh=10000, unit_price=D("2.5"), amount=D("24.99"))
    assert line.total == D("24.99")
    with pytest.raises(InvoiceMathError):
        energy_line(description="x", energy_wh=10000, unit_price=D("2.5"), amount=D("24.995"))


def test_credit_balance_lowers_the_amount_payable_only():
    lines = brochure_lines()
    partial = invoice_totals(lines=lines, credit_balance=D("100.00"))
    assert (partial.total, partial.vat, partial.taxable) == (D("842.63"), D("168.53"), D("674.10"))
    assert partial.credit_applied == D("100.00")
    assert partial.payable == D("742.63")
    assert partial.credit_remaining == D("0.00")
    larger = invoice_totals(lines=lines, credit_balance=D("1000.00"))
    assert larger.credit_applied == D("842.63")
    assert larger.payable == D("0.00")
    assert larger.credit_remaining == D("157.37")


def test_credit_balance_is_not_used_on_credit_notes_or_empty_invoices():
    credit_note = invoice_totals(lines=[negated(line) for line in brochure_lines()], credit_balance=D("50.00"))
    assert credit_note.credit_applied == D("0.00")
    assert credit_note.credit_remaining == D("50.00")
    assert credit_note.payable == D("-842.63")
    empty = invoice_totals(lines=[], credit_balance=D("5.00"))
    assert (empty.total, empty.vat, empty.payable, empty.credit_remaining) == (0, 0, 0, D("5.00"))


def test_rounding_to_whole_kronor_is_its_own_line():
    lines = brochure_lines()
    assert invoice_totals(lines=lines).rounding == D("0.00")
    rounded = invoice_totals(lines=lines, round_to_krona=True)
    assert rounded.rounding == D("0.37")
    assert rounded.payable == D("843.00")
    assert (rounded.total, rounded.vat) == (D("842.63"), D("168.53"))  # the price and its VAT are unchanged
    down = invoice_totals(lines=[fee_line(description="x", amount=D("10.49"))], round_to_krona=True)
    assert (down.rounding, down.payable) == (D("-0.49"), D("10.00"))
    half = invoice_totals(lines=[fee_line(description="x", amount=D("10.50"))], round_to_krona=True)
    assert (half.rounding, half.payable) == (D("0.50"), D("11.00"))
    # The rounding applies to what is left after the credit balance.
    with_credit = invoice_totals(lines=lines, round_to_krona=True, credit_balance=D("0.70"))
    assert (with_credit.payable, with_credit.rounding) == (D("842.00"), D("0.07"))


def test_credit_note_is_the_exact_negation():
    lines = brochure_lines() + [fee_line(description="fee", amount=D("25.00"), vat_rate=D(6))]
    original = invoice_totals(lines=lines)
    credit = invoice_totals(lines=[negated(line) for line in lines])
    assert credit.line_totals == tuple(-amount for amount in original.line_totals)
    assert (credit.total, credit.vat, credit.taxable) == (-original.total, -original.vat, -original.taxable)
    assert credit.total == D("-867.63")


@pytest.mark.parametrize("bad", [1.5, "4.00", None, True])
def test_floats_and_other_types_are_refused(bad):
    with pytest.raises(TypeError):
        InvoiceLine(description="x", quantity=D(1), unit="st", unit_price=bad)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(TypeError):
        energy_line(description="x", energy_wh=12.345, unit_price=D(4))
    with pytest.raises(TypeError):
        invoice_totals(lines=[fee_line(description="x", amount=D(1))], credit_balance=1.0)
    with pytest.raises(TypeError):
        invoice_totals(lines=["not a line"])
    with pytest.raises(InvoiceMathError) as caught:
        fee_line(description="x", amount=D(1), vat_rate=D(100))
    assert "%(rate)s" in caught.value.template
    with pytest.raises(InvoiceMathError):
        fee_line(description="x", amount=D(1), vat_rate=D(-1))
    with pytest.raises(InvoiceMathError):
        fee_line(description="x", amount=D("NaN"))
    with pytest.raises(InvoiceMathError):
        invoice_totals(lines=[], credit_balance=D("-1.00"))
    with pytest.raises(InvoiceMathError):
        invoice_totals(lines=[], credit_balance=D("1.001"))


def test_vat_in():
    assert vat_in(D("842.63"), D(25)) == D("168.53")
    assert vat_in(D("-842.63"), D(25)) == D("-168.53")
    assert vat_in(D("100.00"), D(12)) == D("10.71")


money_prices = st.decimals(min_value=D("-50"), max_value=D("50"), places=5, allow_nan=False, allow_infinity=False)
rates = st.sampled_from([D(0), D(6), D(12), D(25)])
lines_strategy = st.lists(
    st.one_of(
        st.builds(lambda wh, price, rate: energy_line(description="s", energy_wh=wh, unit_price=price, vat_rate=rate),
                  st.integers(0, 150_000), money_prices, rates),
        st.builds(lambda amount, rate: fee_line(description="f", amount=amount, vat_rate=rate),
                  st.decimals(min_value=D("-1000"), max_value=D("1000"), places=2), rates),
    ),
    max_size=25,
)


@given(lines_strategy, st.decimals(min_value=D(0), max_value=D(2000), places=2), st.booleans())
def test_totals_agree_with_an_exact_rational_oracle(lines, credit_balance, round_to_krona):
    totals = invoice_totals(lines=lines, credit_balance=credit_balance, round_to_krona=round_to_krona)
    expected_lines = tuple(oracle_round(Fraction(line.quantity) * Fraction(line.unit_price)) for line in lines)
    assert totals.line_totals == expected_lines
    assert totals.total == sum(expected_lines, D(0))
    by_rate: dict[Decimal, Decimal] = {}
    for line, amount in zip(lines, expected_lines, strict=True):
        by_rate[line.vat_rate] = by_rate.get(line.vat_rate, D(0)) + amount
    expected_vat = sum((oracle_round(Fraction(total) * Fraction(rate) / (100 + Fraction(rate)))
                        for rate, total in by_rate.items()), D(0))
    assert totals.vat == expected_vat
    assert totals.taxable + totals.vat == totals.total
    assert 0 <= totals.credit_applied <= credit_balance
    assert totals.credit_applied + totals.credit_remaining == credit_balance
    assert totals.payable == totals.total - totals.credit_applied + totals.rounding
    if round_to_krona:
        assert totals.payable == totals.payable.to_integral_value()
        assert abs(totals.rounding) <= D("0.50")
    else:
        assert totals.rounding == 0
    for amount in (totals.total, totals.vat, totals.payable, *totals.line_totals):
        assert amount.as_tuple().exponent == -2


@given(lines_strategy)
def test_credit_note_negation_property(lines):
    original = invoice_totals(lines=lines)
    credit = invoice_totals(lines=[negated(line) for line in lines])
    assert credit.total == -original.total
    assert credit.vat == -original.vat
    assert [group.vat for group in credit.vat_groups] == [-group.vat for group in original.vat_groups]
