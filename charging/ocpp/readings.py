"""Meter values of either OCPP version (snake_cased by the library) → protocol-neutral MeterReadings."""

from decimal import Decimal

from charging import units
from charging.ocpp.errors import CallError, ErrorKind
from charging.ocpp.gateway import parse_timestamp
from charging.services.sessions import MeterReading

#: Larger readings (after conversion to the base unit) cannot be real and do not fit MeterSample.value.
MAX_READING = Decimal(10) ** 15


def readings_from_meter_values(meter_values: list[dict] | None) -> list[MeterReading]:
    """Raises CallError (nothing stored) when a timestamp or a value cannot be read."""
    readings = []
    for meter_value in meter_values or []:
        timestamp = parse_timestamp(meter_value.get("timestamp"), field="meterValue.timestamp")
        for sample in meter_value.get("sampled_value") or []:
            readings.append(_reading(timestamp, sample))
    return readings


def _reading(timestamp, sample: dict) -> MeterReading:
    measurand = sample.get("measurand") or units.DEFAULT_MEASURAND
    common = {"timestamp": timestamp, "measurand": measurand, "phase": sample.get("phase") or "",
              "location": sample.get("location") or "", "context": sample.get("context") or ""}
    if sample.get("format") == "SignedData":
        # OCPP 1.6: the value is the signed record itself; kept exactly as received.
        return MeterReading(value=Decimal(0), unit="", signed_data=str(sample.get("value", "")), **common)
    unit_of_measure = sample.get("unit_of_measure") or {}
    unit = sample.get("unit") or unit_of_measure.get("unit")
    try:
        value, base_unit = units.to_base_unit(sample.get("value"), unit, measurand,
                                              multiplier=int(unit_of_measure.get("multiplier") or 0))
    except ValueError as exc:
        raise CallError(ErrorKind.PROPERTY, str(exc)) from exc
    if abs(value) >= MAX_READING:
        raise CallError(ErrorKind.PROPERTY, f"Sampled value {sample.get('value')!r} {unit or ''} is out of range")
    if value < 0 and measurand.startswith("Energy.") and measurand.endswith(".Register"):
        raise CallError(ErrorKind.PROPERTY, f"{measurand} {sample.get('value')!r} is negative: a register only grows")
    signed = sample.get("signed_meter_value") or {}
    return MeterReading(value=value, unit=base_unit, signed_data=signed.get("signed_meter_data", ""),
                        signing_method=signed.get("signing_method", ""),
                        encoding_method=signed.get("encoding_method", ""), public_key=signed.get("public_key", ""),
                        **common)
