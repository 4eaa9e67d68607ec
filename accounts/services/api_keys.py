"""Connect API keys: created (shown once), checked on each request, revoked."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ApiKey, Organization, User
from accounts.services import audit

KEY_PREFIX = "csms"
# last_used_at is written at most this often per key, so busy integrations don't write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the person once, never stored


def hash_secret(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is safe here (no dictionary to guess from).
    return hashlib.sha256(raw_key.encode()).hexdigest()


def split_key(raw_key: str) -> str | None:
    """The lookup prefix of a presented key ("csms_<prefix>_<secret>"), or None when malformed."""
    parts = (raw_key or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8 or not parts[2]:
        return None
    return parts[1]


@transaction.atomic
def api_key_create(*, organization: Organization, name: str, scopes: list[str], acting_user: User | None,
                   reason: str, expires_at: datetime | None = None) -> NewApiKey:
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown:
        raise ValidationError({"scopes": _("Unknown scopes: %(s)s") % {"s": ", ".join(sorted(unknown))}})
    if not name.strip():
        raise ValidationError({"name": _("Name the key after what will use it.")})
    prefix = secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(organization=organization, name=name.strip(), prefix=prefix,
                                    key_hash=hash_secret(raw_key), scopes=sorted(set(scopes)),
                                    created_by=acting_user, expires_at=expires_at)
    audit.record(action="apikey.created", target=api_key, acting_user=acting_user, reason=reason,
                 changes={"scopes": (None, api_key.scopes)})
    return NewApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, acting_user: User | None, reason: str, now: datetime) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at, api_key.revoked_by, api_key.revoked_reason = now, acting_user, reason
        api_key.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
        audit.record(action="apikey.revoked", target=api_key, acting_user=acting_user, reason=reason, at=now)
    return api_key


def api_key_authenticate(*, raw_key: str, now: datetime) -> ApiKey | None:
    """The valid key matching ``raw_key``, or None. Compares hashes in constant time."""
    prefix = split_key(raw_key)
    if prefix is None:
        return None
    api_key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_secret(raw_key.strip())):
        return None
    if not api_key.is_valid(now):
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
