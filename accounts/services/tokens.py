"""Issuing, blocking, unblocking and expiring ID tokens (RFID tags, key codes, app tokens...)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import identifiers
from accounts.models import IdToken, Organization, User
from accounts.services import audit
from csms import events


def _locked(token: IdToken) -> IdToken:
    return IdToken.objects.select_for_update().get(pk=token.pk)


@transaction.atomic
def id_token_issue(*, organization: Organization, uid: str, type: str = IdToken.Type.RFID,
                   user: User | None = None, visual_number: str = "", valid_until: datetime | None = None,
                   status: str = IdToken.Status.ACTIVE, acting_user: User | None, reason: str) -> IdToken:
    """Register a token for an organization (and optionally a person in it)."""
    try:
        normalized = identifiers.normalize_token_uid(type, uid)
    except ValueError as exc:
        raise ValidationError({"uid": str(exc)}) from exc
    if IdToken.objects.filter(uid=normalized).exists():
        raise ValidationError({"uid": _("A token with uid %(uid)s already exists.") % {"uid": normalized}})
    token = IdToken(organization=organization, uid=normalized, type=type, user=user,
                    visual_number=visual_number, valid_until=valid_until, status=status)
    if status == IdToken.Status.BLOCKED:
        token.blocked_reason, token.blocked_at, token.blocked_by = reason, timezone.now(), acting_user
    token.full_clean()
    token.save()
    audit.record(action="id_token.issued", target=token, acting_user=acting_user, reason=reason,
                 changes={"uid": (None, normalized), "status": (None, status)})
    return token


@transaction.atomic
def id_token_block(*, token: IdToken, reason: str, acting_user: User | None, now: datetime | None = None
                   ) -> IdToken:
    """Stop a token from starting new charges. ``acting_user`` None: blocked by the system (e.g. dunning)."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the token is blocked.")})
    token = _locked(token)
    if token.status == IdToken.Status.BLOCKED:
        return token
    old = token.status
    token.status = IdToken.Status.BLOCKED
    token.blocked_reason = reason
    token.blocked_at = now or timezone.now()
    token.blocked_by = acting_user
    token.save(update_fields=["status", "blocked_reason", "blocked_at", "blocked_by"])
    audit.record(action="id_token.blocked", target=token, acting_user=acting_user, reason=reason,
                 changes={"status": (old, token.status)}, at=token.blocked_at)
    events.publish(events.TAG_BLOCKED, organization_id=token.organization_id, at=token.blocked_at, data={
        "id_token": token.pk, "uid": token.uid, "type": token.type, "user": token.user_id, "reason": reason,
        "by_system": acting_user is None, "blocked_at": token.blocked_at.isoformat()})
    return token


@transaction.atomic
def id_token_unblock(*, token: IdToken, reason: str, acting_user: User | None, now: datetime | None = None
                     ) -> IdToken:
    """Let a blocked token charge again (expired if its validity has passed meanwhile)."""
    token = _locked(token)
    if token.status != IdToken.Status.BLOCKED:
        return token
    now = now or timezone.now()
    expired = token.valid_until is not None and token.valid_until <= now
    token.status = IdToken.Status.EXPIRED if expired else IdToken.Status.ACTIVE
    token.blocked_reason, token.blocked_at, token.blocked_by = "", None, None
    token.save(update_fields=["status", "blocked_reason", "blocked_at", "blocked_by"])
    audit.record(action="id_token.unblocked", target=token, acting_user=acting_user, reason=reason,
                 changes={"status": (IdToken.Status.BLOCKED, token.status)}, at=now)
    return token


@transaction.atomic
def id_tokens_expire_due(*, now: datetime) -> int:
    """Mark active tokens whose validity ended as expired. Run periodically; returns how many changed."""
    due = list(IdToken.objects.select_for_update().filter(
        status=IdToken.Status.ACTIVE, valid_until__isnull=False, valid_until__lte=now))
    for token in due:
        token.status = IdToken.Status.EXPIRED
        token.save(update_fields=["status"])
        audit.record(action="id_token.expired", target=token, acting_user=None,
                     reason=_("Valid until %(date)s") % {"date": token.valid_until.isoformat()},
                     changes={"status": (IdToken.Status.ACTIVE, IdToken.Status.EXPIRED)}, at=now)
    return len(due)
