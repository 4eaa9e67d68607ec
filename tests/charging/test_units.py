"""Sampled values as chargers send them, in the base units meter samples keep."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charging.units import energy_wh, to_base_unit


@pytest.mark.parametrize(("value", "unit", "measurand", "expected"), [
    pytest.param("7.5", "kWh", "Energy.Active.Import.Register", (Decimal("7500"), "Wh"), id="kWh-to-Wh"),
    pytest.param("1234", "Wh", "Energy.Active.Import.Register", (Decimal("1234"), "Wh"), id="Wh-unchanged"),
    pytest.param("11.04", "kW", "Power.Active.Import", (Decimal("11040"), "W"), id="kW-to-W"),
    pytest.param("2", "kvar", "Power.Reactive.Import", (Decimal("2000"), "var"), id="kvar-to-var"),
    pytest.param("0.5", "kvarh", "Energy.Reactive.Import.Register", (Decimal("500"), "varh"), id="kvarh-to-varh"),
    pytest.param("3.2", "kVA", "Power.Offered", (Decimal("3200"), "VA"), id="kVA-to-VA"),
    pytest.param("1.5", "kwh", None, (Decimal("1500"), "Wh"), id="lower-case-kwh"),
    pytest.param("1.5", "KWH", None, (Decimal("1500"), "Wh"), id="upper-case-KWH"),
    pytest.param("16.2", "a", "Current.Import", (Decimal("16.2"), "A"), id="lower-case-ampere"),
    pytest.param("21.5", "Celcius", "Temperature", (Decimal("21.5"), "Celsius"), id="ocpp16-misspelt-celsius"),
    pytest.param("21.5", "Celsius", "Temperature", (Decimal("21.5"), "Celsius"), id="celsius-unchanged"),
    pytest.param("294.65", "K", "Temperature", (Decimal("21.5"), "Celsius"), id="kelvin-to-celsius"),
    pytest.param("212", "Fahrenheit", "Temperature", (Decimal("100"), "Celsius"), id="fahrenheit-to-celsius"),
    pytest.param("-40", "Fahrenheit", "Temperature", (Decimal("-40"), "Celsius"), id="minus-forty-is-minus-forty"),
    pytest.param("80", "Percent", "SoC", (Decimal("80"), "Percent"), id="percent-unchanged"),
    pytest.param("42", "RPM", "RPM", (Decimal("42"), "RPM"), id="unknown-unit-passes-through"),
])
def test_a_sampled_value_is_converted_to_its_base_unit(value, unit, measurand, expected):
    assert to_base_unit(value, unit, measurand) == expected


@pytest.mark.parametrize(("measurand", "expected_unit"), [
    pytest.param(None, "Wh", id="no-measurand-means-the-energy-register"),
    pytest.param("Energy.Active.Import.Register", "Wh", id="energy"),
    pytest.param("Energy.Active.Export.Interval", "Wh", id="energy-interval"),
    pytest.param("Energy.Reactive.Import.Register", "varh", id="reactive-energy"),
    pytest.param("Power.Active.Import", "W", id="power"),
    pytest.param("Power.Reactive.Import", "var", id="reactive-power"),
    pytest.param("Power.Factor", "", id="power-factor-has-no-unit"),
    pytest.param("Current.Import", "A", id="current"),
    pytest.param("Voltage", "V", id="voltage"),
    pytest.param("SoC", "Percent", id="state-of-charge"),
    pytest.param("Temperature", "Celsius", id="temperature"),
    pytest.param("Frequency", "Hz", id="frequency"),
    pytest.param("RPM", "", id="unknown-measurand"),
])
def test_a_missing_unit_defaults_by_measurand(measurand, expected_unit):
    assert to_base_unit("10", None, measurand) == (Decimal("10"), expected_unit)
    assert to_base_unit("10", "", measurand) == (Decimal("10"), expected_unit)


def test_an_ocpp201_multiplier_scales_the_value_before_conversion():
    assert to_base_unit("12", "kWh", None, multiplier=-1) == (Decimal("1200"), "Wh")
    assert to_base_unit(7, "W", "Power.Active.Import", multiplier=3) == (Decimal("7000"), "W")


def test_a_numeric_json_value_from_ocpp201_is_accepted():
    assert to_base_unit(12.5, "kWh", None) == (Decimal("12500"), "Wh")


@pytest.mark.parametrize("value", [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("abc", id="letters"),
    pytest.param("NaN", id="nan"),
    pytest.param("sNaN", id="signalling-nan"),
    pytest.param("Infinity", id="infinity"),
    pytest.param("-inf", id="minus-infinity"),
    pytest.param("1,5", id="decimal-comma"),
])
def test_a_value_that_is_not_a_finite_number_is_rejected(value):
    with pytest.raises(ValueError, match="not a"):
        to_base_unit(value, "Wh", None)


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param(Decimal("1234.5"), 1235, id="half-rounds-up"),
    pytest.param(Decimal("1234.49"), 1234, id="below-half-rounds-down"),
    pytest.param(Decimal("1234.000"), 1234, id="exact"),
    pytest.param(Decimal("0.5"), 1, id="half-a-watt-hour"),
    pytest.param(Decimal("-0.5"), -1, id="negative-half-rounds-away-from-zero"),
])
def test_energy_is_rounded_half_up_to_whole_watt_hours(value, expected):
    assert energy_wh(value) == expected


def test_energy_that_is_not_finite_is_rejected():
    with pytest.raises(ValueError, match="not a finite number"):
        energy_wh(Decimal("NaN"))


@given(st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False))
def test_a_kwh_reading_with_up_to_three_decimals_is_an_exact_number_of_wh(kwh):
    value, unit = to_base_unit(str(kwh), "kWh", "Energy.Active.Import.Register")
    assert (value, unit) == (kwh * 1000, "Wh")
    assert energy_wh(value) == value
