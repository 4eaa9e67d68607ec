"""Schema validation of OCPP payloads, compiled once per schema with fastjsonschema.

The `ocpp` library validates with jsonschema's Draft4Validator, which is most of a bare server's CPU per
message. The same JSON schemas (shipped inside the library) compiled to Python code validate the same rules at a
fraction of the cost, so bad input keeps being refused without paying that price.
"""

import json
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
    """Raise CallError (with the version's spelling) when ``payload`` breaks the action's schema."""
    validator = _validator(ocpp_version, action, response)
    if validator is None:
        raise CallError(ErrorKind.NOT_IMPLEMENTED, f"No schema for {action}").for_version(ocpp_version)
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        kind = _RULE_TO_KIND.get(exc.rule, ErrorKind.FORMAT)
        raise CallError(kind, exc.message[:500], {"path": exc.name}).for_version(ocpp_version) from exc
