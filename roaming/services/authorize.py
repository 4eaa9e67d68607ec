"""Roaming tokens at our chargers: the roaming authorizer charging.services.authorization asks about a uid it does
not know, presented at a public EVSE (registered in roaming.apps).

The rules (mod_tokens, WhitelistType, and "Real-time authorization"):

- A token in our store (OcpiToken, pushed by its eMSP; uid compared case-insensitively, RFID first):
  - ALWAYS: the stored ``valid`` decides, no call (real-time authorization is "not possible/allowed").
  - ALLOWED: real-time authorization when the eMSP offers a tokens Sender endpoint; when it cannot be reached (or
    offers none) the stored ``valid`` decides.
  - ALLOWED_OFFLINE: real-time authorization; when the eMSP cannot be reached, the stored ``valid`` decides (the spec
    says to allow the token then; a token its eMSP marked invalid is not let in on an offline guess).
  - NEVER: real-time authorization only; unreachable (or no endpoint) → refused.
- A uid not in our store: the spec lets a CPO ask eMSPs that do not push their tokens ("the CPOs will need to call
  the POST Authorize request to check if a Token is known by the eMSP"), so every registered partner with a tokens
  Sender endpoint is asked in turn until one knows it (a hub routes the question); 2004 / HTTP 404 means "not mine".
  No partner with such an endpoint: not a roaming token (the authorizer answers None, charging says Invalid).

The real-time call is POST {tokens endpoint}/{uid}/authorize?type=… with LocationReferences (our location id and
the EVSE uids asked about). It is bounded by OCPI_AUTHORIZE_TIMEOUT seconds per partner (default 3) and by twice that
for all partners together: the charger is waiting. An answer is kept for a short while per charge point and uid, so
that the StartTransaction following an Authorize does not call the eMSP again (it runs inside the session start's
database transaction, where no HTTP call should be made).

A decision carries ``roaming_party``: the token's country code and party id (e.g. "NLEXA"), which marks the session.
"""

import logging
import time
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache

from charging.models import Evse
from charging.services.authorization import AuthStatus, RoamingDecision, RoamingRequest
from roaming.client import OcpiClientError, call
from roaming.models import OcpiParty, OcpiToken
from roaming.transport import UNKNOWN_TOKEN

logger = logging.getLogger(__name__)

#: AuthorizationInfo.allowed → our answer to the charger.
ALLOWED_STATUS = {
    "ALLOWED": AuthStatus.ACCEPTED,
    "BLOCKED": AuthStatus.BLOCKED,
    "EXPIRED": AuthStatus.EXPIRED,
    "NO_CREDIT": AuthStatus.NOT_ALLOWED_HERE,
    "NOT_ALLOWED": AuthStatus.NOT_ALLOWED_HERE,
}
#: How long a real-time answer stands for the same uid at the same charge point (Authorize → StartTransaction).
ANSWER_TTL_SECONDS = 120


def authorize_timeout() -> float:
    return float(getattr(settings, "OCPI_AUTHORIZE_TIMEOUT", 3))


@dataclass(frozen=True)
class RealTimeAnswer:
    """What one eMSP said: ``status`` None when it could not be asked or gave no usable answer."""

    status: AuthStatus | None
    reason: str
    roaming_party: str = ""
    unknown: bool = False

    @property
    def answered(self) -> bool:
        return self.status is not None


def _token_url(endpoint: str, uid: str, token_type: str) -> str:
    return f"{endpoint.rstrip('/')}/{quote(uid, safe='')}/authorize?type={token_type}"


def location_references(request: RoamingRequest) -> dict | None:
    """LocationReferences of the place the token is presented at: our OCPI location id and EVSE uids (the EVSE
    named, else every published EVSE of the charge point). None when the site is not published."""
    charge_point = request.charge_point
    if not charge_point.location_id:
        return None
    if request.evse is not None:
        evse_uids = [str(request.evse.pk)]
    else:
        evse_uids = [str(pk) for pk in Evse.objects.filter(charge_point_id=charge_point.pk).exclude(public_id="")
                     .order_by("pk").values_list("pk", flat=True)]
    return {"location_id": str(charge_point.location_id), "evse_uids": evse_uids}


def real_time(*, party: OcpiParty, uid: str, token_type: str, request: RoamingRequest,
              routing: tuple[str, str], timeout: float) -> RealTimeAnswer:
    """POST …/{uid}/authorize to ``party``. Never raises: an unreachable partner is an answer without status."""
    endpoint = party.endpoint("tokens", "SENDER")
    if not endpoint:
        return RealTimeAnswer(None, "no real-time authorization endpoint")
    references = location_references(request)
    try:
        answer = call("POST", _token_url(endpoint, uid, token_type), token=party.token_b, plain=party.plain_token,
                      body=references, party=party, routing=routing, timeout=timeout)
    except OcpiClientError as error:
        if error.http_status == 404:  # the spec's "unknown token" HTTP status, even without an envelope
            return RealTimeAnswer(AuthStatus.INVALID, "unknown to the eMSP", unknown=True)
        return RealTimeAnswer(None, f"eMSP unreachable: {error}")
    if answer.status_code == UNKNOWN_TOKEN or (answer.http_status == 404 and not answer.ok):
        return RealTimeAnswer(AuthStatus.INVALID, "unknown to the eMSP", unknown=True)
    data = answer.data if isinstance(answer.data, dict) else {}
    status = ALLOWED_STATUS.get(data.get("allowed"))
    if not answer.ok or status is None:
        return RealTimeAnswer(None, f"eMSP answered {answer.http_status}/{answer.status_code}")
    token = data.get("token") if isinstance(data.get("token"), dict) else {}
    country, party_id = str(token.get("country_code") or routing[0]), str(token.get("party_id") or routing[1])
    roaming_party = (country[:2] + party_id[:3]).upper()
    location = data.get("location")
    if status == AuthStatus.ACCEPTED and request.evse is not None and isinstance(location, dict) \
            and isinstance(location.get("evse_uids"), list) and location["evse_uids"] \
            and str(request.evse.pk) not in [str(uid) for uid in location["evse_uids"]]:
        return RealTimeAnswer(AuthStatus.NOT_ALLOWED_HERE, "the eMSP allows other EVSEs only", roaming_party)
    return RealTimeAnswer(status, f"eMSP answered {data['allowed']}", roaming_party)


def _stored_tokens(uid: str) -> list[OcpiToken]:
    tokens = list(OcpiToken.objects.select_related("owner").filter(
        uid__iexact=uid, owner__status=OcpiParty.Status.REGISTERED))
    return sorted(tokens, key=lambda t: (t.type != OcpiToken.Type.RFID, -t.last_updated.timestamp()))


def _from_store(token: OcpiToken, why: str) -> RoamingDecision:
    party = f"{token.country_code}{token.party_code}".upper()
    if token.valid:
        return RoamingDecision(status=AuthStatus.ACCEPTED, reason=f"{party} token, {why}", roaming_party=party)
    return RoamingDecision(status=AuthStatus.BLOCKED, reason=f"{party} token not valid, {why}", roaming_party=party)


def _decide_stored(token: OcpiToken, request: RoamingRequest) -> RoamingDecision:
    party = f"{token.country_code}{token.party_code}".upper()
    whitelist = token.whitelist
    if whitelist == OcpiToken.Whitelist.ALWAYS:
        return _from_store(token, "whitelist ALWAYS")
    answer = real_time(party=token.owner, uid=token.uid, token_type=token.type, request=request,
                       routing=(token.country_code, token.party_code), timeout=authorize_timeout())
    if answer.answered:
        return RoamingDecision(status=answer.status, reason=f"{party} token, real-time: {answer.reason}",
                               roaming_party=answer.roaming_party or party)
    if whitelist == OcpiToken.Whitelist.NEVER:
        return RoamingDecision(status=AuthStatus.NOT_AT_THIS_TIME,
                               reason=f"{party} token needs real-time authorization: {answer.reason}",
                               roaming_party=party)
    return _from_store(token, f"whitelist {whitelist} ({answer.reason})")


def _discover(request: RoamingRequest) -> RoamingDecision | None:
    """Ask the partners with a tokens Sender endpoint about a uid we do not hold."""
    parties = [party for party in OcpiParty.objects.filter(status=OcpiParty.Status.REGISTERED).order_by("pk")
               if party.endpoint("tokens", "SENDER")]
    if not parties:
        return None
    deadline = time.monotonic() + 2 * authorize_timeout()
    reasons = []
    refusal = None
    for party in parties:
        left = deadline - time.monotonic()
        if left <= 0.2:
            reasons.append(f"{party.country_code}{party.party_id}: not asked (time is up)")
            break
        answer = real_time(party=party, uid=request.uid, token_type=OcpiToken.Type.RFID, request=request,
                           routing=(party.country_code, party.party_id), timeout=min(authorize_timeout(), left))
        if answer.status == AuthStatus.ACCEPTED:
            return RoamingDecision(status=answer.status, reason=f"real-time: {answer.reason}",
                                   roaming_party=answer.roaming_party)
        if answer.answered and not answer.unknown:
            refusal = refusal or RoamingDecision(status=answer.status, reason=f"real-time: {answer.reason}",
                                                 roaming_party=answer.roaming_party)
        reasons.append(f"{party.country_code}{party.party_id}: {answer.reason}")
    return refusal or RoamingDecision(status=AuthStatus.INVALID, reason="Unknown token (" + "; ".join(reasons) + ")")


def _cache_key(request: RoamingRequest) -> str:
    return f"roaming:authorize:{request.charge_point.pk}:{request.uid.upper()}"


def roaming_authorizer(request: RoamingRequest) -> RoamingDecision | None:
    """charging.services.authorization's roaming authorizer (see the module doc)."""
    if request.purpose == "start":
        kept = cache.get(_cache_key(request))
        if kept is not None:
            status, reason, roaming_party = kept
            return RoamingDecision(status=AuthStatus(status), reason=f"{reason} (as authorized just before)",
                                   roaming_party=roaming_party)
    tokens = _stored_tokens(request.uid)
    decision = _decide_stored(tokens[0], request) if tokens else _discover(request)
    if decision is not None and request.purpose in ("authorize", "start"):
        cache.set(_cache_key(request), (decision.status.value, decision.reason, decision.roaming_party),
                  ANSWER_TTL_SECONDS)
    if decision is not None:
        logger.info("roaming authorization of %s at %s: %s %s", request.uid, request.charge_point.identity,
                    decision.status.value, decision.reason)
    return decision
