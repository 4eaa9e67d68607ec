"""The hubclientinfo module, Receiver interface: a hub PUTs the connection status of the parties behind it and may
GET what we stored. Only a partner registered with the HUB role may write; anything else is refused with 2001."""

import re

from django.db import transaction
from django.utils.translation import gettext as _

from roaming.mapping import ocpi_datetime
from roaming.models import OcpiClientInfo, OcpiParty
from roaming.transport import INVALID_PARAMETERS, OcpiError, parse_ocpi_datetime

_CODE = {"country_code": re.compile(r"^[A-Z]{2}$"), "party_id": re.compile(r"^[A-Z0-9]{3}$")}
ROLES = {choice for choice, _label in OcpiParty.Role.choices}


def _invalid(message: str) -> OcpiError:
    return OcpiError(INVALID_PARAMETERS, message)


def _is_hub(party: OcpiParty) -> bool:
    return party.role == OcpiParty.Role.HUB or any(role.get("role") == "HUB" for role in party.roles or [])


def client_info_to_ocpi(info: OcpiClientInfo) -> dict:
    return {"party_id": info.party_code, "country_code": info.country_code, "role": info.role,
            "status": info.status, "last_updated": ocpi_datetime(info.last_updated)}


def client_info_get(*, hub: OcpiParty, country_code: str, party_id: str) -> list[OcpiClientInfo]:
    return list(OcpiClientInfo.objects.filter(hub=hub, country_code=country_code.upper(),
                                              party_code=party_id.upper()))


@transaction.atomic
def client_info_put(*, hub: OcpiParty, country_code: str, party_id: str, data: dict) -> tuple[OcpiClientInfo, bool]:
    """Store one ClientInfo pushed by ``hub``; ``(info, created)``. The URL's ids must match the body's."""
    if not _is_hub(hub):
        raise _invalid(_("Only a hub sends ClientInfo."))
    if not isinstance(data, dict):
        raise _invalid(_("The body must be a ClientInfo object."))
    for field, pattern in _CODE.items():
        if not isinstance(data.get(field), str) or not pattern.match(data[field]):
            raise _invalid(_("%(field)s is missing or malformed.") % {"field": field})
    if (data["country_code"], data["party_id"]) != (country_code.upper(), party_id.upper()):
        raise _invalid(_("The country code and party id in the URL and the body differ."))
    if data.get("role") not in ROLES:
        raise _invalid(_("role must be one of %(roles)s.") % {"roles": ", ".join(sorted(ROLES))})
    if data.get("status") not in OcpiClientInfo.Status.values:
        raise _invalid(_("status must be one of %(statuses)s.")
                       % {"statuses": ", ".join(OcpiClientInfo.Status.values)})
    try:
        last_updated = parse_ocpi_datetime(data.get("last_updated") or "")
    except ValueError:
        raise _invalid(_("last_updated is missing or not an OCPI DateTime.")) from None
    return OcpiClientInfo.objects.update_or_create(
        hub=hub, country_code=data["country_code"], party_code=data["party_id"], role=data["role"],
        defaults={"status": data["status"], "last_updated": last_updated})
