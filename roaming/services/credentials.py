"""The OCPI credentials handshake (token A → B → C) in both directions, token A for partners, and unregistering.

A partner registers with us (``credentials_register``, ``credentials_update``, ``credentials_unregister``, called
by the credentials endpoint), or we register with a partner (``party_register``, ``party_update``,
``party_unregister``, called from the admin). Talking to the partner happens outside database transactions (it
can take seconds, and the partner calls us back meanwhile); each write is then a short atomic step that locks the
party row and checks again that its state still allows the step.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from roaming import client
from roaming.models import OcpiParty, hash_token
from roaming.transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    MAX_TOKEN_LENGTH,
    NO_MATCHING_ENDPOINTS,
    SUPPORTED_VERSIONS,
    UNABLE_TO_USE_CLIENT_API,
    UNSUPPORTED_VERSION,
    OcpiError,
    new_token,
    own_identity,
)

#: Modules a CPO exchanges with an eMSP; a partner offering none of them has nothing in common with us (3003).
EXPECTED_PEER_MODULES = frozenset({"locations", "sessions", "cdrs", "tariffs", "tokens", "commands",
                                   "chargingprofiles", "hubclientinfo"})
_ROLE_PREFERENCE = ("EMSP", "HUB", "NSP", "NAP", "SCSP", "OTHER", "CPO")


def ocpi_base_url() -> str:
    base = getattr(settings, "OCPI_BASE_URL", "") or settings.PUBLIC_BASE_URL.rstrip("/") + "/ocpi"
    return base.rstrip("/")


def our_credentials(token: str) -> dict:
    """Our Credentials object, carrying ``token`` for the partner to call us with."""
    country, party_id = own_identity()
    business = {"name": getattr(settings, "OCPI_BUSINESS_NAME", "csms")}
    if website := getattr(settings, "OCPI_BUSINESS_WEBSITE", ""):
        business["website"] = website
    return {"token": token, "url": f"{ocpi_base_url()}/versions",
            "roles": [{"role": "CPO", "party_id": party_id, "country_code": country, "business_details": business}]}


# --- reading what partners send ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    token: str
    url: str
    roles: list[dict]

    @property
    def primary_role(self) -> dict:
        """The role this connection is about: an eMSP role if there is one (we are a CPO), else a hub…"""
        return min(self.roles, key=lambda r: _ROLE_PREFERENCE.index(r["role"]))


def _ascii(value, *, max_length: int, min_length: int = 1) -> bool:
    return (isinstance(value, str) and min_length <= len(value) <= max_length and value.isascii()
            and value.isprintable())


def parse_credentials(data) -> Credentials:
    """A Credentials object from a partner, checked against the 2.2.1 data types. Raises OcpiError 2001."""
    def invalid(message: str) -> OcpiError:
        return OcpiError(INVALID_PARAMETERS, message)

    if not isinstance(data, dict):
        raise invalid(_("The body must be a Credentials object."))
    if not _ascii(data.get("token"), max_length=MAX_TOKEN_LENGTH) or " " in data["token"]:
        raise invalid(_("token must be 1–64 printable ASCII characters."))
    url = data.get("url")
    if not _ascii(url, max_length=255) or not url.startswith(("http://", "https://")):
        raise invalid(_("url must be the absolute URL of the versions endpoint."))
    roles = data.get("roles")
    if not isinstance(roles, list) or not roles:
        raise invalid(_("roles must list at least one CredentialsRole."))
    seen = set()
    for role in roles:
        if not isinstance(role, dict) or role.get("role") not in OcpiParty.Role.values:
            raise invalid(_("Every role needs a known role."))
        if not _ascii(role.get("party_id"), max_length=3) or not _ascii(role.get("country_code"), max_length=2,
                                                                         min_length=2):
            raise invalid(_("Every role needs a party_id (1–3 characters) and a country_code (2 letters)."))
        details = role.get("business_details")
        if not isinstance(details, dict) or not isinstance(details.get("name"), str) or not details["name"]:
            raise invalid(_("Every role needs business_details with a name."))
        key = (role["role"], role["party_id"].upper(), role["country_code"].upper())
        if key in seen:
            raise invalid(_("Every role needs a unique combination of role, party_id and country_code."))
        seen.add(key)
    return Credentials(token=data["token"], url=url, roles=roles)


@dataclass(frozen=True)
class PartnerEndpoints:
    version: str
    endpoints: dict[str, dict[str, str]]  # module → {interface role → url}


def fetch_partner_endpoints(*, versions_url: str, token: str, plain: bool, party: OcpiParty | None,
                            version: str | None = None) -> PartnerEndpoints:
    """The partner's version (``version`` if given, else the best we share) and its endpoints.

    Raises OcpiError 3001 (their API failed us), 3002 (no common version), 3003 (nothing in common).
    """
    def unusable(message: str) -> OcpiError:
        return OcpiError(UNABLE_TO_USE_CLIENT_API, message)

    try:
        answer = client.call("GET", versions_url, token=token, plain=plain, party=party)
    except client.OcpiClientError as exc:
        raise unusable(_("Could not read the versions endpoint: %(error)s") % {"error": exc}) from exc
    if not answer.ok or not isinstance(answer.data, list):
        raise unusable(_("The versions endpoint answered %(status)s %(message)s")
                       % {"status": answer.status_code, "message": answer.status_message})
    offered = {v.get("version"): v.get("url") for v in answer.data if isinstance(v, dict)}
    wanted = [version] if version else list(SUPPORTED_VERSIONS)
    chosen = next((v for v in wanted if isinstance(offered.get(v), str)), None)
    if chosen is None:
        raise OcpiError(UNSUPPORTED_VERSION, _("No common OCPI version (we support %(ours)s, they offer %(theirs)s).")
                        % {"ours": ", ".join(wanted), "theirs": ", ".join(sorted(map(str, offered))) or "-"})
    try:
        details = client.call("GET", offered[chosen], token=token, plain=plain, party=party)
    except client.OcpiClientError as exc:
        raise unusable(_("Could not read the version details: %(error)s") % {"error": exc}) from exc
    if not details.ok or not isinstance(details.data, dict) or not isinstance(details.data.get("endpoints"), list):
        raise unusable(_("The version details answered %(status)s %(message)s")
                       % {"status": details.status_code, "message": details.status_message})
    endpoints: dict[str, dict[str, str]] = {}
    for entry in details.data["endpoints"]:
        if isinstance(entry, dict) and isinstance(entry.get("identifier"), str) and isinstance(entry.get("url"), str):
            endpoints.setdefault(entry["identifier"], {})[str(entry.get("role") or "RECEIVER")] = entry["url"]
    if "credentials" not in endpoints or not EXPECTED_PEER_MODULES & endpoints.keys():
        raise OcpiError(NO_MATCHING_ENDPOINTS, _("The partner offers no credentials endpoint or no module we use."))
    return PartnerEndpoints(version=chosen, endpoints=endpoints)


def credentials_url(endpoints: dict[str, dict[str, str]]) -> str:
    """The partner's credentials URL (its role is meaningless for this module, so take any)."""
    urls = endpoints.get("credentials") or {}
    return urls.get("SENDER") or urls.get("RECEIVER") or next(iter(urls.values()), "")


def _check_identity_free(party: OcpiParty, role: dict) -> None:
    clash = OcpiParty.objects.filter(country_code=role["country_code"].upper(), party_id=role["party_id"].upper(),
                                     role=role["role"]).exclude(pk=party.pk).exclude(
        status=OcpiParty.Status.UNREGISTERED)
    if clash.exists():
        raise OcpiError(INVALID_PARAMETERS, _("Another connection already uses %(country)s*%(party)s %(role)s.")
                        % {"country": role["country_code"], "party": role["party_id"], "role": role["role"]})


def _apply_credentials(party: OcpiParty, credentials: Credentials, found: PartnerEndpoints) -> list[str]:
    role = credentials.primary_role
    party.token_b = credentials.token
    party.versions_url = credentials.url
    party.roles = credentials.roles
    party.role = role["role"]
    party.country_code = role["country_code"].upper()
    party.party_id = role["party_id"].upper()
    party.business_details = role["business_details"]
    party.version = found.version
    party.endpoints = found.endpoints
    return ["token_b", "versions_url", "roles", "role", "country_code", "party_id", "business_details", "version",
            "endpoints"]


def _public_changes(party: OcpiParty, fields: list[str]) -> dict:
    # The audit log must not hold a credentials token.
    return audit.field_changes(party, [f for f in fields if f != "token_b"])


# --- a partner registers with us (their POST/PUT/DELETE on our credentials endpoint) ------------------------------
def credentials_register(*, party: OcpiParty, data, version: str) -> dict:
    """POST: the partner (authenticated by its token A) sends its credentials; we read its endpoints with its
    token, store everything, invalidate token A and answer our credentials with a new token C."""
    credentials = parse_credentials(data)
    _check_identity_free(party, credentials.primary_role)
    found = fetch_partner_endpoints(versions_url=credentials.url, token=credentials.token,
                                    plain=party.plain_token, party=party, version=version)
    return _store_incoming(party_pk=party.pk, credentials=credentials, found=found, registering=True)


def credentials_update(*, party: OcpiParty, data, version: str) -> dict:
    """PUT: new credentials from a registered partner; endpoints read again, a new token C for it."""
    credentials = parse_credentials(data)
    _check_identity_free(party, credentials.primary_role)
    found = fetch_partner_endpoints(versions_url=credentials.url, token=credentials.token,
                                    plain=party.plain_token, party=party, version=version)
    return _store_incoming(party_pk=party.pk, credentials=credentials, found=found, registering=False)


class NotRegistered(OcpiError):
    """The credentials method does not fit the registration state: HTTP 405."""

    def __init__(self, message: str):
        super().__init__(CLIENT_ERROR, message, http_status=405)


@transaction.atomic
def _store_incoming(*, party_pk: int, credentials: Credentials, found: PartnerEndpoints, registering: bool) -> dict:
    party = OcpiParty.objects.select_for_update().get(pk=party_pk)
    if registering and party.is_registered:
        raise NotRegistered(_("Already registered: use PUT to update the credentials."))
    if not registering and not party.is_registered:
        raise NotRegistered(_("Not registered: use POST to register."))
    if registering and not party.token_a_hash:
        raise NotRegistered(_("This token A has already been used."))
    token_c = new_token()
    fields = _apply_credentials(party, credentials, found)
    party.token_c_hash, party.token_c_pending_hash, party.token_a_hash = hash_token(token_c), "", ""
    fields += ["token_c_hash", "token_c_pending_hash", "token_a_hash"]
    if registering:
        party.status, party.registered_at = OcpiParty.Status.REGISTERED, timezone.now()
        fields += ["status", "registered_at"]
    changes = _public_changes(party, fields)
    party.save(update_fields=[*fields, "updated_at"])
    audit.record(action="roaming.partner_registered" if registering else "roaming.partner_updated_credentials",
                 target=party, acting_user=None, changes=changes)
    return our_credentials(token_c)


@transaction.atomic
def credentials_unregister(*, party: OcpiParty) -> None:
    """DELETE: the partner ends the connection; neither side's token works any more."""
    party = OcpiParty.objects.select_for_update().get(pk=party.pk)
    if not party.is_registered:
        raise NotRegistered(_("Not registered."))
    _unregister(party, acting_user=None, reason="", action="roaming.partner_unregistered")


def _unregister(party: OcpiParty, *, acting_user: User | None, reason: str, action: str) -> None:
    party.status = OcpiParty.Status.UNREGISTERED
    party.token_b = party.token_c_hash = party.token_c_pending_hash = party.token_a_hash = ""
    fields = ["status", "token_b", "token_c_hash", "token_c_pending_hash", "token_a_hash"]
    changes = _public_changes(party, ["status"])
    party.save(update_fields=[*fields, "updated_at"])
    audit.record(action=action, target=party, acting_user=acting_user, reason=reason, changes=changes)


# --- operator actions -----------------------------------------------------------------------------------------
@transaction.atomic
def party_issue_token_a(*, party: OcpiParty, acting_user: User | None, reason: str) -> str:
    """A new single-use token A for the partner to register with us; returned in clear once, stored hashed."""
    party = OcpiParty.objects.select_for_update().get(pk=party.pk)
    if party.is_registered:
        raise ValidationError(_("%(party)s is registered; unregister it before issuing a token A.")
                              % {"party": party})
    token = new_token()
    party.token_a_hash, party.token_a_issued_at, party.status = hash_token(token), timezone.now(), \
        OcpiParty.Status.PLANNED
    changes = _public_changes(party, ["token_a_issued_at", "status"])
    party.save(update_fields=["token_a_hash", "token_a_issued_at", "status", "updated_at"])
    audit.record(action="roaming.token_a_issued", target=party, acting_user=acting_user, reason=reason,
                 changes=changes)
    return token


def party_register(*, party: OcpiParty, acting_user: User | None, reason: str) -> OcpiParty:
    """We register with the partner: its versions and details with the token A it gave us (held in token_b), a
    POST of our credentials with a token C we make for it, and its token from the answer becomes token_b."""
    if party.is_registered:
        raise ValidationError(_("%(party)s is already registered; use update.") % {"party": party})
    if not party.versions_url or not party.token_b:
        raise ValidationError(_("Enter the partner's versions URL and the token A it gave us first."))
    return _handshake(party=party, method="POST", acting_user=acting_user, reason=reason)


def party_update(*, party: OcpiParty, acting_user: User | None, reason: str) -> OcpiParty:
    """We renew the credentials with the partner (PUT): endpoints read again, new tokens both ways."""
    if not party.is_registered:
        raise ValidationError(_("%(party)s is not registered.") % {"party": party})
    return _handshake(party=party, method="PUT", acting_user=acting_user, reason=reason)


def _handshake(*, party: OcpiParty, method: str, acting_user: User | None, reason: str) -> OcpiParty:
    try:
        found = fetch_partner_endpoints(versions_url=party.versions_url, token=party.token_b,
                                        plain=party.plain_token, party=party)
    except OcpiError as exc:
        raise ValidationError(exc.message) from exc
    token_c = new_token()
    # The partner calls our versions endpoint with this token before it answers, so it must be valid (committed)
    # before the request leaves.
    OcpiParty.objects.filter(pk=party.pk).update(token_c_pending_hash=hash_token(token_c))
    try:
        answer = client.call_party(party, method, credentials_url(found.endpoints), body=our_credentials(token_c))
        if not answer.ok:
            raise ValidationError(_("The partner refused our credentials: %(status)s %(message)s")
                                  % {"status": answer.status_code, "message": answer.status_message})
        credentials = parse_credentials(answer.data)
        _check_identity_free(party, credentials.primary_role)
    except (client.OcpiClientError, OcpiError, ValidationError) as exc:
        OcpiParty.objects.filter(pk=party.pk).update(token_c_pending_hash="")
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(str(exc)) from exc
    return _store_outgoing(party_pk=party.pk, credentials=credentials, found=found, token_c=token_c,
                           registering=method == "POST", acting_user=acting_user, reason=reason)


@transaction.atomic
def _store_outgoing(*, party_pk: int, credentials: Credentials, found: PartnerEndpoints, token_c: str,
                    registering: bool, acting_user: User | None, reason: str) -> OcpiParty:
    party = OcpiParty.objects.select_for_update().get(pk=party_pk)
    fields = _apply_credentials(party, credentials, found)
    party.token_c_hash, party.token_c_pending_hash, party.token_a_hash = hash_token(token_c), "", ""
    fields += ["token_c_hash", "token_c_pending_hash", "token_a_hash"]
    if registering:
        party.status, party.registered_at = OcpiParty.Status.REGISTERED, timezone.now()
        fields += ["status", "registered_at"]
    changes = _public_changes(party, fields)
    party.save(update_fields=[*fields, "updated_at"])
    audit.record(action="roaming.registered_with_partner" if registering else "roaming.updated_with_partner",
                 target=party, acting_user=acting_user, reason=reason, changes=changes)
    return party


def party_unregister(*, party: OcpiParty, acting_user: User | None, reason: str) -> OcpiParty:
    """We end the connection: DELETE on the partner's credentials endpoint, then our side forgets the tokens.

    A 405 from the partner means it already considers us unregistered, so we unregister too.
    """
    if not party.is_registered:
        raise ValidationError(_("%(party)s is not registered.") % {"party": party})
    url = credentials_url(party.endpoints)
    if not url:
        raise ValidationError(_("The partner's credentials endpoint is unknown; update the connection first."))
    try:
        answer = client.call_party(party, "DELETE", url)
    except client.OcpiClientError as exc:
        raise ValidationError(str(exc)) from exc
    if not answer.ok and answer.http_status != 405:
        raise ValidationError(_("The partner refused to unregister: %(status)s %(message)s")
                              % {"status": answer.status_code, "message": answer.status_message})
    with transaction.atomic():
        party = OcpiParty.objects.select_for_update().get(pk=party.pk)
        _unregister(party, acting_user=acting_user, reason=reason, action="roaming.unregistered_from_partner")
    return party


@transaction.atomic
def party_set_suspended(*, party: OcpiParty, suspended: bool, acting_user: User | None, reason: str) -> OcpiParty:
    """Suspend a registered partner (its token C then only reaches versions and credentials) or resume it."""
    party = OcpiParty.objects.select_for_update().get(pk=party.pk)
    if not party.is_registered:
        raise ValidationError(_("%(party)s is not registered.") % {"party": party})
    party.status = OcpiParty.Status.SUSPENDED if suspended else OcpiParty.Status.REGISTERED
    changes = _public_changes(party, ["status"])
    if changes["status"][0] != changes["status"][1]:
        party.save(update_fields=["status", "updated_at"])
        audit.record(action="roaming.suspended" if suspended else "roaming.resumed", target=party,
                     acting_user=acting_user, reason=reason, changes=changes)
    return party
