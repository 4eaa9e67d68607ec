"""Sampled values from chargers, converted to the base units meter samples are stored in.

Energy ends up in Wh, power in W, reactive and apparent quantities in var/varh/VA/VAh, temperature in °C.
Pure functions: the OCPP gateway calls them for both protocol versions.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DEFAULT_MEASURAND = "Energy.Active.Import.Register"

# Most specific prefix first: a reactive energy register counts varh, a power factor has no unit.
_DEFAULT_UNITS = (
    ("Energy.Reactive.", "varh"),
    ("Energy.Apparent.", "VAh"),
    ("Energy.", "Wh"),
    ("Power.Reactive.", "var"),
    ("Power.Factor", ""),
    ("Power.", "W"),
    ("Current.", "A"),
    ("Voltage", "V"),
    ("SoC", "Percent"),
    ("Temperature", "Celsius"),
    ("Frequency", "Hz"),
)

# Lower-cased unit as received → (base unit, factor). Some chargers send "kwh" or "KWH".
_SCALED_UNITS = {
    "wh": ("Wh", 1),
    "kwh": ("Wh", 1000),
    "w": ("W", 1),
    "kw": ("W", 1000),
    "varh": ("varh", 1),
    "kvarh": ("varh", 1000),
    "var": ("var", 1),
    "kvar": ("var", 1000),
    "vah": ("VAh", 1),
    "kvah": ("VAh", 1000),
    "va": ("VA", 1),
    "kva": ("VA", 1000),
    "a": ("A", 1),
    "v": ("V", 1),
    "hz": ("Hz", 1),
    "percent": ("Percent", 1),
    "%": ("Percent", 1),
    "celsius": ("Celsius", 1),
    # OCPP 1.6 spells it this way in its own enumeration.
    "celcius": ("Celsius", 1),
}


def default_unit(measurand: str | None) -> str:
    """The unit OCPP implies when a sampled value names none ("" when the measurand has no known unit)."""
    measurand = measurand or DEFAULT_MEASURAND
    for prefix, unit in _DEFAULT_UNITS:
        if measurand.startswith(prefix):
            return unit
    return ""


def parse_value(value: str | int | float) -> Decimal:
    """The sampled value as a finite Decimal; ValueError for anything else ("", "abc", "NaN", "Infinity")."""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"Sampled value {value!r} is not a number.") from None
    if not number.is_finite():
        raise ValueError(f"Sampled value {value!r} is not a finite number.")
    return number


def to_base_unit(value: str | int | float, unit: str | None, measurand: str | None, *,
                 multiplier: int = 0) -> tuple[Decimal, str]:
    """Convert one sampled value to its base unit: ``("7.5", "kWh", None)`` → ``(Decimal("7500.0"), "Wh")``.

    ``multiplier`` is OCPP 2.0.1's power of ten (UnitOfMeasure.multiplier). A unit this module does not know is
    passed through unchanged with the value.
    """
    number = parse_value(value)
    if multiplier:
        number *= Decimal(10) ** multiplier
    unit = (unit or "").strip() or default_unit(measurand)
    key = unit.lower()
    if key in _SCALED_UNITS:
        base, factor = _SCALED_UNITS[key]
        return number * factor, base
    if key == "fahrenheit":
        return (number - 32) * 5 / 9, "Celsius"
    if unit == "K":
        return number - Decimal("273.15"), "Celsius"
    return number, unit


def energy_wh(value: Decimal) -> int:
    """Whole watt-hours, rounding halves up (away from zero)."""
    if not value.is_finite():
        raise ValueError(f"Energy {value!r} is not a finite number.")
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))
