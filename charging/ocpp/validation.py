"""Schema validation of OCPP payloads, compiled once per schema with fastjsonschema.

The `ocpp` library validates with jsonschema's Draft4Validator, which is most of a bare server's CPU per
message. The same JSON schemas (shipped inside the library) compiled to Python code validate the same rules at a
fraction of the cost, so bad input keeps being refused without paying that price.

On top of the schemas, ``validate`` applies the limits of what the CSMS can store and what the specifications mean
but their schemas do not say (the 1.6 schemas have no minimum anywhere): no NUL or unpaired surrogate in any string
(PostgreSQL cannot store them; the specs' identifier strings are printable), integers within 53 bits, connector and
EVSE numbers from 0 to MAX_EVSE_NUMBER, meter readings in Wh never negative.
"""

import json
import re
from functools import cache
from pathlib import Path

import fastjsonschema
import ocpp

from charging.ocpp.errors import CallError, ErrorKind

_SCHEMA_ROOT = Path(ocpp.__file__).resolve().parent


def _schema_path(ocpp_version: str, action: str, response: bool) -> Path:
    folder = "v16" if ocpp_version == "1.6" else "v201"
    if ocpp_version == "1.6":
        name = f"{action}Response" if response else action
    else:
        name = f"{action}Response" if response else f"{action}Request"
    return _SCHEMA_ROOT / folder / "schemas" / f"{name}.json"


@cache
def _validator(ocpp_version: str, action: str, response: bool):
    path = _schema_path(ocpp_version, action, response)
    if not path.exists():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    # The schemas declare draft-04 with an "id"; fastjsonschema resolves nothing remote for them.
    schema.pop("$schema", None)
    schema.pop("$id", None)
    schema.pop("id", None)
    # Date-times are checked by the handlers (gateway.parse_timestamp), which accept the quirk of a missing zone
    # designator and answer a clear error for anything unreadable.
    return fastjsonschema.compile(schema, formats={"date-time": lambda value: True})


def known_action(ocpp_version: str, action: str) -> bool:
    return _schema_path(ocpp_version, action, response=False).exists()


_RULE_TO_KIND = {
    "required": ErrorKind.OCCURRENCE,
    "type": ErrorKind.TYPE,
    "additionalProperties": ErrorKind.FORMAT,
    "enum": ErrorKind.PROPERTY,
    "maxLength": ErrorKind.PROPERTY,
    "minLength": ErrorKind.PROPERTY,
    "minimum": ErrorKind.PROPERTY,
    "maximum": ErrorKind.PROPERTY,
    "pattern": ErrorKind.PROPERTY,
    "format": ErrorKind.PROPERTY,
    "multipleOf": ErrorKind.PROPERTY,
    "maxItems": ErrorKind.OCCURRENCE,
    "minItems": ErrorKind.OCCURRENCE,
}


def validate(ocpp_version: str, action: str, payload: dict, *, response: bool = False) -> None:
    """Raise CallError (with the version's spelling) when ``payload`` breaks the action's schema or, for a
    request, the limits above."""
    validator = _validator(ocpp_version, action, response)
    if validator is None:
        raise CallError(ErrorKind.NOT_IMPLEMENTED, f"No schema for {action}").for_version(ocpp_version)
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        kind = _RULE_TO_KIND.get(exc.rule, ErrorKind.FORMAT)
        raise CallError(kind, exc.message[:500], {"path": exc.name}).for_version(ocpp_version) from exc
    if not response:
        problem = _value_problem(payload, "data") or next(
            (found for path, low, high in _BOUNDS.get((ocpp_version, action), ())
             if (found := _bound_problem(payload, path, low, high))), None)
        if problem is not None:
            raise problem.for_version(ocpp_version)


#: The highest connector or EVSE number a charger may use (real ones have a handful; a DC hub a dozen).
MAX_EVSE_NUMBER = 64
#: JSON integers beyond this lose precision in JavaScript and overflow nothing we store (53 bits).
MAX_INTEGER = 2**53 - 1
_METER = (0, MAX_INTEGER)
_EVSE = (0, MAX_EVSE_NUMBER)
_EVSE_FROM_1 = (1, MAX_EVSE_NUMBER)
#: (version, action) → (path of keys, lowest, highest) for values the schemas leave unbounded.
_BOUNDS = {
    ("1.6", "StatusNotification"): [(("connectorId",), *_EVSE)],
    ("1.6", "MeterValues"): [(("connectorId",), *_EVSE)],
    ("1.6", "StartTransaction"): [(("connectorId",), *_EVSE_FROM_1), (("meterStart",), *_METER)],
    ("1.6", "StopTransaction"): [(("meterStop",), *_METER)],
    ("2.0.1", "StatusNotification"): [(("evseId",), *_EVSE), (("connectorId",), *_EVSE)],
    ("2.0.1", "MeterValues"): [(("evseId",), *_EVSE)],
    ("2.0.1", "TransactionEvent"): [(("evse", "id"), *_EVSE_FROM_1), (("evse", "connectorId"), *_EVSE)],
}


def _bound_problem(payload: dict, path: tuple[str, ...], low: int, high: int) -> CallError | None:
    value = payload
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, int) and not low <= value <= high:
        return CallError(ErrorKind.PROPERTY, f"{'.'.join(path)} {value} is outside {low}..{high}",
                         {"path": "data." + ".".join(path)})
    return None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _value_problem(value, path: str) -> CallError | None:
    """The first string that cannot be stored (a NUL, an unpaired surrogate) or integer beyond MAX_INTEGER."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            return CallError(ErrorKind.PROPERTY, f"{path} holds a NUL or an unpaired surrogate character",
                             {"path": path})
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_INTEGER:
            return CallError(ErrorKind.PROPERTY, f"{path} is larger than {MAX_INTEGER}", {"path": path})
    elif isinstance(value, dict):
        return next((found for key, item in value.items() if (found := _value_problem(item, f"{path}.{key}"))),
                    None)
    elif isinstance(value, list):
        return next((found for index, item in enumerate(value)
                     if (found := _value_problem(item, f"{path}[{index}]"))), None)
    return None
