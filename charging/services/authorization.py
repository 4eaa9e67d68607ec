"""Deciding whether an ID token may charge at a charge point, and recording every decision."""

import contextlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from accounts import identifiers
from accounts.models import IdToken
from charging.models import AuthorizationAttempt, ChargePoint, ChargingSession, Evse


class AuthStatus(StrEnum):
    """Protocol-neutral answers; the OCPP layer maps them onto each version's enum."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"  # unknown token
    CONCURRENT_TX = "ConcurrentTx"
    NOT_ALLOWED_HERE = "NotAllowedHere"  # known token, but not for this charge point


@dataclass(frozen=True)
class Authorization:
    status: AuthStatus
    id_token: IdToken | None
    reason: str

    @property
    def accepted(self) -> bool:
        return self.status == AuthStatus.ACCEPTED


def find_token(uid: str) -> IdToken | None:
    """The token a charger presented, whatever spelling its reader uses."""
    candidates = {uid}
    with contextlib.suppress(ValueError):
        candidates.add(identifiers.normalize_token_uid(IdToken.Type.RFID, uid))
    return IdToken.objects.select_related("organization", "user").filter(uid__in=candidates).first()


def decide(*, charge_point: ChargePoint, token: IdToken | None, at: datetime) -> tuple[AuthStatus, str]:
    """The rules, without side effects."""
    if token is None:
        return AuthStatus.INVALID, "Unknown token"
    if token.status == IdToken.Status.BLOCKED:
        return AuthStatus.BLOCKED, token.blocked_reason or "Blocked"
    if token.status == IdToken.Status.EXPIRED or (token.valid_until is not None and at >= token.valid_until):
        return AuthStatus.EXPIRED, "Validity ended"
    if token.organization_id != charge_point.organization_id:
        return AuthStatus.NOT_ALLOWED_HERE, "Token of another organization"
    return AuthStatus.ACCEPTED, ""


def authorize(*, charge_point: ChargePoint, uid: str, at: datetime, purpose: str, evse: Evse | None = None,
              check_concurrent: bool = False, exclude_session_id: int | None = None) -> Authorization:
    """Decide and record. ``check_concurrent``: refuse a token already charging elsewhere (ConcurrentTx)."""
    token = find_token(uid)
    status, reason = decide(charge_point=charge_point, token=token, at=at)
    if status == AuthStatus.ACCEPTED and check_concurrent:
        busy = ChargingSession.objects.filter(id_token=token, status=ChargingSession.Status.ACTIVE)
        if exclude_session_id is not None:
            busy = busy.exclude(pk=exclude_session_id)
        if busy.exists():
            status, reason = AuthStatus.CONCURRENT_TX, "Token already in an active session"
    AuthorizationAttempt.objects.create(charge_point=charge_point, evse=evse, id_token_uid=uid[:36], id_token=token,
                                        purpose=purpose, status=status.value, reason=reason[:200], at=at)
    return Authorization(status=status, id_token=token, reason=reason)
