"""Self-billing statement arithmetic (billing.statement_math): the brochure's Självfaktura S-1257 from raw Wh, the
fee plan's parts, the roaming share, a VAT-exempt association, a negative payout, and properties against an exact
rational oracle."""

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.invoice_math import energy_line, invoice_totals
from billing.statement_math import (
    NO_CHARGING,
    Charging,
    FeeKind,
    FeePlan,
    PayoutBasis,
    StatementMathError,
    VatSplit,
    statement_totals,
)
from tests.billing.test_invoice_math import oracle_round

D = Decimal

# Raw sessions behind the brochure's statement (../shared/seeds/000_*.txt, "Självfaktura", Fakturanr S-1257): the
# residents charged 901 110 Wh at 4.00 SEK/kWh and the public 28 943 Wh at 6.00 SEK/kWh. Each line total is
# Wh/1000 × price rounded half-up, as on the resident invoices.
PERSONAL_SESSIONS = [(300_000, "4.00"), (400_000, "4.00"), (150_000, "4.00"), (51_110, "4.00")]
PUBLIC_SESSIONS = [(10_000, "6.00"), (12_000, "6.00"), (6_943, "6.00")]


def charging(sessions) -> Charging:
    lines = [energy_line(description="", energy_wh=wh, unit_price=D(price)) for wh, price in sessions]
    return Charging.sum(Charging(energy_wh=line_wh, amount=line.total)
                        for line, (line_wh, _) in zip(lines, sessions, strict=True))


def brochure(**overrides):
    fields = {"personal": charging(PERSONAL_SESSIONS), "public_own": charging(PUBLIC_SESSIONS),
              "fee_plan": FeePlan(per_kwh=D("0.39")), "charge_points": 8}
    fields.update(overrides)
    return statement_totals(**fields)


def test_brochure_statement_from_raw_sessions():
    totals = brochure()
    assert (totals.personal.kwh, totals.personal.kwh_shown, totals.personal.amount) == (
        D("901.110"), D("901.11"), D("3604.44"))
    assert (totals.public.kwh, totals.public.amount) == (D("28.943"), D("173.66"))
    # 901.11 + 28.943 = 930.053 kWh: printed 930.05; the fee is worked out on the metered 930.053.
    assert (totals.total.kwh, totals.total.kwh_shown, totals.total.amount) == (D("930.053"), D("930.05"),
                                                                               D("3778.10"))
    assert totals.fee == VatSplit(excl=D("362.72"), vat=D("90.68"), incl=D("453.40"))
    assert totals.sale == VatSplit(excl=D("3022.48"), vat=D("755.62"), incl=D("3778.10"))
    assert totals.payout == VatSplit(excl=D("2659.76"), vat=D("664.94"), incl=D("3324.70"))
    assert not totals.payable_by_association
    assert totals.owed_by_association == D("0.00")
    (part,) = totals.fee_parts
    assert (part.kind, part.quantity, part.rate) == (FeeKind.PER_KWH, D("930.053"), D("0.39"))
    assert totals.basis == PayoutBasis.PAID


def test_the_printed_kwh_would_give_the_same_fee_here():
    # 0.39 × 930.05 = 362.7195 and 0.39 × 930.053 = 362.72067 both round to 362.72; the metered value is used.
    assert (D("0.39") * D("930.05")).quantize(D("0.01"), rounding=ROUND_HALF_UP) == brochure().fee.excl


def test_exact_energy_not_the_printed_kwh_decides_the_fee():
    # 1 000.005 kWh is printed 1 000.01 kWh; × 0.50 the printed figure would give 500.005 → 500.01, the metered
    # energy gives 500.0025 → 500.00.
    totals = statement_totals(personal=Charging(energy_wh=1_000_005, amount=D("4000.02")),
                              fee_plan=FeePlan(per_kwh=D("0.50")))
    assert totals.total.kwh_shown == D("1000.01")
    assert totals.fee.excl == D("500.00")


def test_a_twelve_percent_fee_is_not_the_brochure_fee():
    totals = brochure(fee_plan=FeePlan(percentage=D(12)))
    assert totals.fee.incl != D("453.40")
    assert totals.fee == VatSplit(excl=D("362.70"), vat=D("90.67"), incl=D("453.37"))  # 12 % of 3 778.10 = 453.372
    assert totals.payout.incl == D("3324.73")
    (part,) = totals.fee_parts
    assert (part.kind, part.quantity, part.rate) == (FeeKind.PERCENTAGE, D("3778.10"), D(12))


def test_fee_plan_parts_combine():
    totals = brochure(fee_plan=FeePlan(per_kwh=D("0.39"), percentage=D("2.5"), monthly_per_charge_point=D("49.00")))
    kinds = [part.kind for part in totals.fee_parts]
    assert kinds == [FeeKind.PER_KWH, FeeKind.PER_CHARGE_POINT, FeeKind.PERCENTAGE]
    per_kwh, per_point, percentage = (part.amount for part in totals.fee_parts)
    assert per_kwh == VatSplit(excl=D("362.72"), vat=D("90.68"), incl=D("453.40"))
    assert per_point == VatSplit(excl=D("392.00"), vat=D("98.00"), incl=D("490.00"))  # 8 × 49.00 + 25 %
    assert percentage == VatSplit(excl=D("75.56"), vat=D("18.89"), incl=D("94.45"))  # 2.5 % of 3 778.10 = 94.4525
    assert totals.fee == VatSplit(excl=D("830.28"), vat=D("207.57"), incl=D("1037.85"))
    assert totals.payout.incl == D("3778.10") - D("1037.85")


def test_fixed_fee_needs_charge_points_and_other_vat_rate():
    totals = brochure(fee_plan=FeePlan(monthly_per_charge_point=D("10.00"), vat_rate=D(12)), charge_points=3)
    assert totals.fee == VatSplit(excl=D("30.00"), vat=D("3.60"), incl=D("33.60"))
    assert totals.fee_vat_rate == D(12)
    assert brochure(fee_plan=FeePlan(monthly_per_charge_point=D("10.00")), charge_points=0).fee_parts == ()


def test_roaming_share():
    roaming = statement_totals(personal=NO_CHARGING, public_roaming=Charging(energy_wh=20_000, amount=D("100.00")),
                               fee_plan=FeePlan())
    assert roaming.roaming_reimbursed == D("90.00")
    assert (roaming.public.amount, roaming.public.kwh) == (D("90.00"), D("20.000"))
    own = statement_totals(personal=NO_CHARGING, public_own=Charging(energy_wh=20_000, amount=D("100.00")),
                           fee_plan=FeePlan())
    assert own.public.amount == D("100.00")
    mixed = statement_totals(personal=NO_CHARGING, public_own=Charging(energy_wh=1_000, amount=D("10.00")),
                             public_roaming=Charging(energy_wh=3_000, amount=D("33.35")), fee_plan=FeePlan(),
                             roaming_share=D(85))
    assert mixed.roaming_reimbursed == D("28.35")  # 85 % of 33.35 = 28.3475 → 28.35
    assert mixed.public.amount == D("38.35")
    assert mixed.total.energy_wh == 4_000


def test_vat_exempt_association():
    totals = brochure(vat_exempt=True)
    assert totals.vat_rate == D(0)
    assert totals.sale == VatSplit(excl=D("3778.10"), vat=D("0.00"), incl=D("3778.10"))
    assert totals.fee == VatSplit(excl=D("362.72"), vat=D("90.68"), incl=D("453.40"))  # the operator's VAT stays
    # The association receives the total less the fee incl. VAT; the fee's VAT is a cost it cannot deduct.
    assert totals.payout == VatSplit(excl=D("3415.38"), vat=D("-90.68"), incl=D("3324.70"))


def test_fee_larger_than_revenue_is_owed_by_the_association():
    totals = statement_totals(personal=Charging(energy_wh=2_000, amount=D("8.00")), fee_plan=FeePlan(
        monthly_per_charge_point=D("100.00")), charge_points=2)
    assert totals.fee.incl == D("250.00")
    assert totals.payout.incl == D("-242.00")
    assert totals.payable_by_association
    assert totals.owed_by_association == D("242.00")
    assert totals.payout.excl + totals.payout.vat == totals.payout.incl


def test_invoiced_basis_is_carried_through():
    assert brochure(fee_plan=FeePlan(per_kwh=D("0.39"), basis="invoiced")).basis == PayoutBasis.INVOICED
    with pytest.raises(StatementMathError):
        FeePlan(basis="promised")


def test_bad_input():
    with pytest.raises(TypeError):
        Charging(energy_wh=1000, amount=4.0)
    with pytest.raises(TypeError):
        Charging(energy_wh=1000.0, amount=D("4.00"))
    with pytest.raises(TypeError):
        FeePlan(per_kwh=0.39)
    with pytest.raises(TypeError):
        brochure(roaming_share=90.0)
    with pytest.raises(TypeError):
        brochure(charge_points=True)
    with pytest.raises(TypeError):
        brochure(vat_exempt="no")
    with pytest.raises(TypeError):
        statement_totals(personal=(1000, D("4.00")), fee_plan=FeePlan())
    with pytest.raises(StatementMathError) as caught:
        Charging(energy_wh=1000, amount=D("4.001"))
    assert "%(name)s" in caught.value.template
    for bad in ({"per_kwh": D("-0.01")}, {"percentage": D("100.01")}, {"monthly_per_charge_point": D("1.005")},
                {"monthly_per_charge_point": D("-1.00")}, {"vat_rate": D(100)}, {"per_kwh": D("NaN")}):
        with pytest.raises(StatementMathError):
            FeePlan(**bad)
    with pytest.raises(StatementMathError):
        brochure(roaming_share=D(101))
    with pytest.raises(StatementMathError):
        brochure(charge_points=-1)
    with pytest.raises(StatementMathError):
        VatSplit(excl=D("1.00"), vat=D("0.25"), incl=D("1.24"))


def test_association_vat_agrees_with_resident_invoice_vat():
    lines = [energy_line(description="", energy_wh=wh, unit_price=D(price)) for wh, price in PERSONAL_SESSIONS]
    assert brochure(public_own=NO_CHARGING).sale.vat == invoice_totals(lines=lines).vat


money = st.decimals(min_value=D("-20000"), max_value=D("200000"), places=2, allow_nan=False, allow_infinity=False)
chargings = st.builds(lambda wh, amount: Charging(energy_wh=wh, amount=amount), st.integers(-50_000, 5_000_000),
                      money)
plans = st.builds(
    FeePlan,
    per_kwh=st.decimals(min_value=D(0), max_value=D(5), places=4),
    percentage=st.decimals(min_value=D(0), max_value=D(100), places=2),
    monthly_per_charge_point=st.decimals(min_value=D(0), max_value=D(500), places=2),
    vat_rate=st.sampled_from([D(0), D(6), D(12), D(25)]),
)


@given(chargings, chargings, chargings, plans, st.integers(0, 200), st.decimals(min_value=D(0), max_value=D(100),
                                                                                   places=2), st.booleans())
def test_properties_against_an_exact_oracle(personal, own, roaming, plan, charge_points, share, exempt):
    totals = statement_totals(personal=personal, public_own=own, public_roaming=roaming, fee_plan=plan,
                              charge_points=charge_points, roaming_share=share, vat_exempt=exempt)
    reimbursed = oracle_round(Fraction(roaming.amount) * Fraction(share) / 100)
    total = personal.amount + own.amount + reimbursed
    assert totals.total.amount == total
    assert totals.total.energy_wh == personal.energy_wh + own.energy_wh + roaming.energy_wh
    rate = Fraction(plan.vat_rate)
    expected_excl = expected_vat = D(0)
    kwh = Fraction(totals.total.energy_wh, 1000)
    for quantity, price in ((kwh, Fraction(plan.per_kwh)), (charge_points, Fraction(plan.monthly_per_charge_point))):
        excl = oracle_round(quantity * price)
        expected_excl += excl
        expected_vat += oracle_round(Fraction(excl) * rate / 100)
    incl = oracle_round(Fraction(total) * Fraction(plan.percentage) / 100)
    vat = oracle_round(Fraction(incl) * rate / (100 + rate))
    expected_excl += incl - vat
    expected_vat += vat
    assert (totals.fee.excl, totals.fee.vat) == (expected_excl, expected_vat)
    # payout = total − fee incl. VAT; every split adds up; all in öre.
    assert totals.payout.incl == totals.total.amount - totals.fee.incl
    for split in (totals.fee, totals.sale, totals.payout):
        assert split.excl + split.vat == split.incl
        for amount in (split.excl, split.vat, split.incl):
            assert amount.as_tuple().exponent == -2
    assert totals.sale.vat == (D("0.00") if exempt else oracle_round(Fraction(total) * 25 / 125))
    assert totals.payable_by_association == (totals.payout.incl < 0)
    assert totals.owed_by_association == max(-totals.payout.incl, D("0.00"))


@given(st.sampled_from(["personal", "public_own", "public_roaming", "roaming_share", "vat_rate"]),
       st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_is_never_accepted(field, value):
    def build():
        fields = {"personal": NO_CHARGING, "fee_plan": FeePlan(per_kwh=D("0.39"))}
        if field in ("roaming_share", "vat_rate"):
            return statement_totals(**fields, **{field: value})
        return statement_totals(**{**fields, field: Charging(energy_wh=1000, amount=value)})

    with pytest.raises(TypeError):
        build()


@given(st.sampled_from(["per_kwh", "percentage", "monthly_per_charge_point", "vat_rate"]),
       st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_fee_plan_is_never_accepted(field, value):
    with pytest.raises(TypeError):
        FeePlan(**{field: value})
