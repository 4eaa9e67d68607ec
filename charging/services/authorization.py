"""Deciding whether an ID token may charge at a charge point, and recording every decision.

The rules, in order (the first that refuses gives the answer and the reason stored on the AuthorizationAttempt):

1. The token: unknown tokens go to the roaming authorizers (below) where the place is public, else Invalid;
   blocked; expired (status or ``valid_until``); its owner's account deactivated; a charging key before its
   ``valid_from``, of another organization, or limited to other charge points.
2. The place: the EVSE's mode at that instant (its override, else the charge point's weekly schedule):
   - private: only the owner organization's tokens, and only members of the allowed user groups if the station
     names any; charging keys are not accepted;
   - semi-public: the owner's tokens, the owner's charging keys, and remote starts (the QR code's start page);
   - public: every known token, the owner's charging keys, and roaming tokens.
3. Bookings: during a booking's window only the booker's tokens are accepted at that EVSE.

A charger's Authorize names no EVSE: the token is accepted when any EVSE of the station would accept it, and the
start (which names the EVSE) is decided again. Refusal reasons are stored in English, like the frame log.

Roaming: other apps (OCPI) plug in with ``register_roaming_authorizer``. Without one, unknown tokens are Invalid.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.utils import timezone

from accounts import identifiers
from accounts.models import IdToken, UserGroup
from charging.access import AccessMode
from charging.models import AuthorizationAttempt, Booking, ChargePoint, ChargingKey, ChargingSession, Evse
from charging.selectors import access as access_selectors


class AuthStatus(StrEnum):
    """Protocol-neutral answers; the OCPP layer maps them onto each version's enum."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"  # unknown token
    CONCURRENT_TX = "ConcurrentTx"
    NOT_ALLOWED_HERE = "NotAllowedHere"  # known token, but not for this charge point
    NOT_AT_THIS_TIME = "NotAtThisTime"  # known token, allowed here at other times (a booking, a key not yet valid)


@dataclass(frozen=True)
class Authorization:
    status: AuthStatus
    id_token: IdToken | None
    reason: str
    #: The roaming partner (country code + party id, e.g. "NLEXA") whose token was accepted, for the session.
    roaming_party: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == AuthStatus.ACCEPTED


# --- Roaming -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoamingRequest:
    """A token the CSMS does not know, presented where roaming tokens may charge (a public EVSE)."""

    uid: str
    charge_point: ChargePoint
    evse: Evse | None
    at: datetime
    purpose: str


@dataclass(frozen=True)
class RoamingDecision:
    """A roaming partner's answer. ``id_token``: the local row the authorizer keeps for the token, if any."""

    status: AuthStatus
    reason: str = ""
    id_token: IdToken | None = None
    #: The token's eMSP (country code + party id, e.g. "NLEXA"): marks the session as roaming.
    roaming_party: str = ""


#: Asks one source (e.g. an OCPI partner's real-time authorization); None means "not one of mine".
RoamingAuthorizer = Callable[[RoamingRequest], RoamingDecision | None]
_roaming_authorizers: list[RoamingAuthorizer] = []


def register_roaming_authorizer(authorizer: RoamingAuthorizer) -> None:
    """Add a source of roaming decisions (asked in the order registered; the first answer counts)."""
    if authorizer not in _roaming_authorizers:
        _roaming_authorizers.append(authorizer)


def unregister_roaming_authorizer(authorizer: RoamingAuthorizer) -> None:
    if authorizer in _roaming_authorizers:
        _roaming_authorizers.remove(authorizer)


def _ask_roaming(request: RoamingRequest) -> RoamingDecision | None:
    for authorizer in list(_roaming_authorizers):
        decision = authorizer(request)
        if decision is not None:
            return decision
    return None


# --- Tokens ------------------------------------------------------------------------------------------------------

def find_token(uid: str) -> IdToken | None:
    """The token a charger presented, whatever spelling its reader (or keypad) uses."""
    candidates = {uid}
    for kind in (IdToken.Type.RFID, IdToken.Type.KEY_CODE):
        with contextlib.suppress(ValueError):
            candidates.add(identifiers.normalize_token_uid(kind, uid))
    return IdToken.objects.select_related("organization", "user").filter(uid__in=candidates).first()


def _token_refusal(token: IdToken, charge_point: ChargePoint, at: datetime) -> tuple[AuthStatus, str] | None:
    if token.status == IdToken.Status.BLOCKED:
        return AuthStatus.BLOCKED, token.blocked_reason or "Blocked"
    if token.status == IdToken.Status.EXPIRED or (token.valid_until is not None and at >= token.valid_until):
        return AuthStatus.EXPIRED, "Validity ended"
    if token.user_id is not None and not token.user.is_active:
        return AuthStatus.BLOCKED, "The owner's account is deactivated"
    if token.type == IdToken.Type.KEY_CODE:
        if token.organization_id != charge_point.organization_id:
            return AuthStatus.NOT_ALLOWED_HERE, "Charging key of another organization"
        key = ChargingKey.objects.filter(id_token=token).first()
        if key is not None:
            if at < key.valid_from:
                local = timezone.localtime(key.valid_from)
                return AuthStatus.NOT_AT_THIS_TIME, f"Charging key valid from {local:%Y-%m-%d %H:%M}"
            if key.charge_points.exists() and not key.charge_points.filter(pk=charge_point.pk).exists():
                return AuthStatus.NOT_ALLOWED_HERE, "Charging key not valid at this charge point"
    return None


# --- Places ------------------------------------------------------------------------------------------------------

@dataclass
class _Place:
    """What the rules need to know about the station, read fresh (the gateway's copy may predate an edit)."""

    charge_point: ChargePoint
    station_mode: AccessMode
    evses: list[Evse]
    group_ids: list[int] | None = None  # loaded on first use

    def allowed_group_ids(self) -> list[int]:
        if self.group_ids is None:
            self.group_ids = list(UserGroup.objects.filter(restricted_charge_points=self.charge_point.pk)
                                  .values_list("pk", flat=True))
        return self.group_ids


def _place(charge_point: ChargePoint, at: datetime) -> _Place:
    fresh = ChargePoint.objects.select_related("location").only(
        "identity", "organization", "access_mode", "access_schedule", "decommissioned_at", "location",
        "location__time_zone").get(pk=charge_point.pk)
    evses = list(Evse.objects.filter(charge_point_id=charge_point.pk).only("evse_id", "access_mode", "charge_point"))
    return _Place(charge_point=fresh, station_mode=access_selectors.charge_point_mode(fresh, at), evses=evses)


def _candidates(place: _Place, evse: Evse | None) -> list[Evse | None]:
    if evse is not None:
        return [next((e for e in place.evses if e.pk == evse.pk), evse)]
    return list(place.evses) or [None]


def _mode_at(place: _Place, evse: Evse | None, at: datetime) -> AccessMode:
    if evse is None:
        return place.station_mode
    return access_selectors.evse_mode(evse, at, station_mode=place.station_mode)


def _mode_refusal(token: IdToken, place: _Place, mode: AccessMode, purpose: str) -> tuple[AuthStatus, str] | None:
    own = token.organization_id == place.charge_point.organization_id
    is_key = token.type == IdToken.Type.KEY_CODE
    if mode == AccessMode.PRIVATE:
        if not own:
            return AuthStatus.NOT_ALLOWED_HERE, "Private station: token of another organization"
        if is_key:
            return AuthStatus.NOT_ALLOWED_HERE, "Private station: charging keys are not accepted now"
        group_ids = place.allowed_group_ids()
        if group_ids:
            member = token.user_id is not None and UserGroup.members.through.objects.filter(
                usergroup_id__in=group_ids, user_id=token.user_id).exists()
            if not member:
                names = ", ".join(UserGroup.objects.filter(pk__in=group_ids).order_by("name")
                                  .values_list("name", flat=True))
                who = "the token has no owner" if token.user_id is None else "the token's owner is not"
                return AuthStatus.NOT_ALLOWED_HERE, f"Private station: {who} in the allowed user groups ({names})"
    elif mode == AccessMode.SEMI_PUBLIC and not own and purpose != "remote start":
        return AuthStatus.NOT_ALLOWED_HERE, "Semi-public station: start with its QR code or a charging key"
    return None


def _booking_refusal(*, token: IdToken | None, evse: Evse | None, at: datetime) -> tuple[AuthStatus, str] | None:
    if evse is None:
        return None
    booking = Booking.objects.filter(evse_id=evse.pk, status__in=Booking.HOLDING, starts_at__lte=at,
                                     ends_at__gt=at).first()
    if booking is None:
        return None
    if token is not None and ((token.user_id is not None and token.user_id == booking.user_id)
                              or token.pk == booking.id_token_id):
        return None
    until = timezone.localtime(booking.ends_at)
    return AuthStatus.NOT_AT_THIS_TIME, f"EVSE {evse.evse_id} is booked by someone else until {until:%H:%M}"


#: Purposes for which a booking holds the EVSE (stopping a charge is never refused for a booking).
_BOOKING_PURPOSES = {"authorize", "start", "remote start"}


def decide(*, charge_point: ChargePoint, token: IdToken | None, at: datetime, evse: Evse | None = None,
           purpose: str = "authorize", uid: str = "", check_bookings: bool = True) -> tuple[AuthStatus, str]:
    """The rules, without side effects. ``evse`` None: accepted if any EVSE of the station would accept."""
    return _decide(charge_point=charge_point, token=token, at=at, evse=evse, purpose=purpose, uid=uid,
                   check_bookings=check_bookings)[:2]


def _decide(*, charge_point: ChargePoint, token: IdToken | None, at: datetime, evse: Evse | None, purpose: str,
            uid: str, check_bookings: bool) -> tuple[AuthStatus, str, IdToken | None, str]:
    place = _place(charge_point, at)
    if token is not None:
        refusal = _token_refusal(token, place.charge_point, at)
        if refusal is not None:
            return (*refusal, token, "")
    bookings = check_bookings and purpose in _BOOKING_PURPOSES
    first_refusal = None
    roaming: dict[str, RoamingDecision] = {}  # the partner is asked once, however many EVSEs are public
    for candidate in _candidates(place, evse):
        mode = _mode_at(place, candidate, at)
        if token is None:
            if mode not in roaming:
                roaming[mode] = _roaming_decision(uid, place, evse, mode, at, purpose)
            decision = roaming[mode]
            refusal = None if decision.status == AuthStatus.ACCEPTED else (decision.status, decision.reason)
            found = decision.id_token
        else:
            refusal, found = _mode_refusal(token, place, mode, purpose), token
        if refusal is None and bookings:
            refusal = _booking_refusal(token=found, evse=candidate, at=at)
        if refusal is None:
            if token is None:
                return AuthStatus.ACCEPTED, decision.reason, found, decision.roaming_party
            return AuthStatus.ACCEPTED, "", found, ""
        first_refusal = first_refusal or (*refusal, found, "")
    return first_refusal


def _roaming_decision(uid: str, place: _Place, evse: Evse | None, mode: AccessMode, at: datetime,
                      purpose: str) -> RoamingDecision:
    unknown = RoamingDecision(status=AuthStatus.INVALID, reason="Unknown token")
    if mode != AccessMode.PUBLIC or not uid:
        return unknown
    decision = _ask_roaming(RoamingRequest(uid=uid, charge_point=place.charge_point, evse=evse, at=at,
                                           purpose=purpose))
    if decision is None:
        return unknown
    return RoamingDecision(status=decision.status, reason=f"Roaming: {decision.reason}".strip(" :"),
                           id_token=decision.id_token, roaming_party=decision.roaming_party)


def authorize(*, charge_point: ChargePoint, uid: str, at: datetime, purpose: str, evse: Evse | None = None,
              check_concurrent: bool = False, exclude_session_id: int | None = None) -> Authorization:
    """Decide and record. ``check_concurrent``: refuse a token already charging elsewhere (ConcurrentTx)."""
    token = find_token(uid)
    status, reason, found, roaming_party = _decide(charge_point=charge_point, token=token, at=at, evse=evse,
                                                   purpose=purpose, uid=uid, check_bookings=True)
    if status == AuthStatus.ACCEPTED and check_concurrent and found is not None:
        busy = ChargingSession.objects.filter(id_token=found, status=ChargingSession.Status.ACTIVE)
        if exclude_session_id is not None:
            busy = busy.exclude(pk=exclude_session_id)
        if busy.exists():
            status, reason = AuthStatus.CONCURRENT_TX, "Token already in an active session"
    AuthorizationAttempt.objects.create(charge_point=charge_point, evse=evse, id_token_uid=uid[:36], id_token=found,
                                        purpose=purpose, status=status.value, reason=reason[:200], at=at)
    return Authorization(status=status, id_token=found, reason=reason,
                         roaming_party=roaming_party if status == AuthStatus.ACCEPTED else "")
