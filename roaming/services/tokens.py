"""The tokens module as Receiver (we are the CPO): eMSPs PUT and PATCH their Token objects into our store, and GET
them back to check what we hold (mod_tokens, "Receiver Interface").

Who may write what: a partner writes only tokens under one of the country code / party id pairs it named in its
credentials roles (Client Owned Objects, transport_and_format "Errors": other pairs get HTTP 404). A hub routes for
many eMSPs, so a partner whose roles include HUB may write any pair, but when it sends the OCPI-from routing headers
the URL's pair must be the one named there (the eMSP the request comes from).

The ids in the URL (country code, party id, uid, and ``type``, RFID when omitted) must equal those in a PUT body
and may not be changed by a PATCH (2001). A PATCH needs ``last_updated`` (2001 without it).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from roaming.mapping import ocpi_datetime
from roaming.models import OcpiParty, OcpiToken
from roaming.transport import INVALID_PARAMETERS, UNKNOWN_TOKEN, OcpiError, parse_ocpi_datetime

TOKEN_TYPES = {choice.value for choice in OcpiToken.Type}
WHITELIST_TYPES = {choice.value for choice in OcpiToken.Whitelist}
PROFILE_TYPES = {"CHEAP", "FAST", "GREEN", "REGULAR"}
#: Fields a PATCH may not change: they are the token's identity (and its URL).
IDENTITY_FIELDS = ("country_code", "party_id", "uid", "type")


@dataclass(frozen=True)
class TokenKey:
    """The token a URL names: /tokens/{country_code}/{party_id}/{token_uid}[?type=…]."""

    country_code: str
    party_id: str
    uid: str
    type: str


def _invalid(message: str) -> OcpiError:
    return OcpiError(INVALID_PARAMETERS, message)


def _cistring(value, name: str, max_length: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise _invalid(_("%(name)s must be a text of at most %(max)d characters.") % {"name": name, "max": max_length})
    if not value.isascii() or not value.isprintable():
        raise _invalid(_("%(name)s must be printable ASCII.") % {"name": name})
    return value


def _string(value, name: str, max_length: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise _invalid(_("%(name)s must be a text of at most %(max)d characters.") % {"name": name, "max": max_length})
    return value


def _boolean(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(_("%(name)s must be true or false.") % {"name": name})
    return value


def _choice(value, name: str, choices: set[str]) -> str:
    if value not in choices:
        raise _invalid(_("%(name)s must be one of %(choices)s.")
                       % {"name": name, "choices": ", ".join(sorted(choices))})
    return value


def _datetime(value, name: str) -> datetime:
    if not isinstance(value, str):
        raise _invalid(_("%(name)s is missing.") % {"name": name})
    try:
        return parse_ocpi_datetime(value)
    except ValueError:
        raise _invalid(_("%(name)s is not an OCPI DateTime.") % {"name": name}) from None


def _energy_contract(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(_("energy_contract must be an EnergyContract object."))
    contract = {"supplier_name": _string(value.get("supplier_name"), "energy_contract.supplier_name", 64)}
    if value.get("contract_id") is not None:
        contract["contract_id"] = _string(value.get("contract_id"), "energy_contract.contract_id", 64)
    return contract


#: Token field → (model field, parser). Parsers raise OcpiError(2001).
_FIELDS = {
    "contract_id": ("contract_id", lambda v: _cistring(v, "contract_id", 36)),
    "visual_number": ("visual_number", lambda v: _string(v, "visual_number", 64, required=False)),
    "issuer": ("issuer", lambda v: _string(v, "issuer", 64)),
    "group_id": ("group_id", lambda v: _cistring(v, "group_id", 36, required=False)),
    "valid": ("valid", lambda v: _boolean(v, "valid")),
    "whitelist": ("whitelist", lambda v: _choice(v, "whitelist", WHITELIST_TYPES)),
    "language": ("language", lambda v: _string(v, "language", 2, required=False)),
    "default_profile_type": ("default_profile_type",
                             lambda v: "" if v is None else _choice(v, "default_profile_type", PROFILE_TYPES)),
    "energy_contract": ("energy_contract", _energy_contract),
    "last_updated": ("last_updated", lambda v: _datetime(v, "last_updated")),
}
_REQUIRED = ("country_code", "party_id", "uid", "type", "contract_id", "issuer", "valid", "whitelist", "last_updated")


def token_key(*, country_code: str, party_id: str, uid: str, token_type: str | None) -> TokenKey:
    """The URL's ids, checked (CiString: compared case-insensitively, stored upper-case)."""
    key = TokenKey(country_code=_cistring(country_code, "country_code", 2).upper(),
                   party_id=_cistring(party_id, "party_id", 3).upper(), uid=_cistring(uid, "token_uid", 36),
                   type=_choice(token_type or OcpiToken.Type.RFID, "type", TOKEN_TYPES))
    if len(key.country_code) != 2 or len(key.party_id) != 3:
        raise _invalid(_("The URL must name a 2-letter country code and a 3-character party id."))
    return key


def may_write(party: OcpiParty, key: TokenKey, *, from_country: str = "", from_party: str = "") -> bool:
    """Whether ``party`` may read and write tokens under the key's country code and party id (see the module doc)."""
    roles = party.roles or []
    if any(role.get("role") == OcpiParty.Role.HUB for role in roles) or party.role == OcpiParty.Role.HUB:
        if from_country and from_party:
            return (from_country.upper(), from_party.upper()) == (key.country_code, key.party_id)
        return True
    identities = {(party.country_code.upper(), party.party_id.upper())}
    identities |= {(str(role.get("country_code", "")).upper(), str(role.get("party_id", "")).upper())
                   for role in roles}
    return (key.country_code, key.party_id) in identities


def _stored(key: TokenKey) -> OcpiToken | None:
    return (OcpiToken.objects.select_related("owner")
            .filter(country_code__iexact=key.country_code, party_code__iexact=key.party_id, uid__iexact=key.uid,
                    type=key.type).first())


def token_get(*, key: TokenKey) -> OcpiToken:
    token = _stored(key)
    if token is None:
        raise OcpiError(UNKNOWN_TOKEN, _("Unknown token."), http_status=404)
    return token


def _check_identity(key: TokenKey, data: dict, *, partial: bool) -> None:
    given = {"country_code": key.country_code, "party_id": key.party_id, "uid": key.uid, "type": key.type}
    for name in IDENTITY_FIELDS:
        if name not in data and partial:
            continue
        value = data.get(name)
        same = isinstance(value, str) and (value if name == "type" else value.upper()) == (
            given[name] if name == "type" else given[name].upper())
        if not same:
            raise _invalid(_("%(name)s in the body (%(body)s) differs from the URL (%(url)s).")
                           % {"name": name, "body": value, "url": given[name]})


def _parse(data: dict, *, partial: bool) -> dict:
    values = {}
    for name, (field, parse) in _FIELDS.items():
        if name not in data:
            continue
        values[field] = parse(data[name])
    if not partial:
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise _invalid(_("Missing required fields: %(fields)s.") % {"fields": ", ".join(missing)})
    elif "last_updated" not in data:
        raise _invalid(_("A PATCH must contain last_updated."))
    return values


def _body(data) -> dict:
    if not isinstance(data, dict):
        raise _invalid(_("The body must be a Token object."))
    return data


@transaction.atomic
def token_put(*, party: OcpiParty, key: TokenKey, data) -> tuple[OcpiToken, bool]:
    """Store a new or replaced Token. Returns (token, created)."""
    data = _body(data)
    _check_identity(key, data, partial=False)
    values = _parse(data, partial=False)
    # Optional fields a PUT leaves out are cleared: the new object replaces the old one.
    defaults = {"visual_number": "", "group_id": "", "language": "", "default_profile_type": "",
                "energy_contract": None, **values, "owner": party}
    token = _stored(key)
    if token is None:
        token = OcpiToken.objects.create(country_code=key.country_code, party_code=key.party_id, uid=key.uid,
                                         type=key.type, **defaults)
        return token, True
    for field, value in defaults.items():
        setattr(token, field, value)
    token.save()
    return token, False


@transaction.atomic
def token_patch(*, party: OcpiParty, key: TokenKey, data) -> OcpiToken:
    """Update the fields a PATCH names (``last_updated`` required)."""
    data = _body(data)
    _check_identity(key, data, partial=True)
    values = _parse(data, partial=True)
    token = _stored(key)
    if token is None:
        raise OcpiError(UNKNOWN_TOKEN, _("Unknown token: PUT it first."), http_status=404)
    token = OcpiToken.objects.select_for_update().get(pk=token.pk)
    for field, value in values.items():
        setattr(token, field, value)
    token.owner = party
    token.save()
    return token


def token_to_ocpi(token: OcpiToken) -> dict:
    """Our stored Token as the OCPI object."""
    data = {"country_code": token.country_code, "party_id": token.party_code, "uid": token.uid, "type": token.type,
            "contract_id": token.contract_id, "issuer": token.issuer, "valid": token.valid,
            "whitelist": token.whitelist, "last_updated": ocpi_datetime(token.last_updated)}
    for name in ("visual_number", "group_id", "language", "default_profile_type"):
        if getattr(token, name):
            data[name] = getattr(token, name)
    if token.energy_contract:
        data["energy_contract"] = token.energy_contract
    return data
