import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import ApiKey, AuditLogEntry
from accounts.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from tests.accounts.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_only_a_hash_of_the_key_is_stored():
    created = api_key_create(organization=OrganizationFactory(), name="Accounting export", scopes=["read"],
                             acting_user=UserFactory(), reason="Requested by the board")
    stored = ApiKey.objects.get()
    assert created.raw_key.startswith(f"csms_{stored.prefix}_")
    assert stored.key_hash == hashlib.sha256(created.raw_key.encode()).hexdigest()
    secret = created.raw_key.split("_", 2)[2]
    assert all(secret not in str(value) for value in ApiKey.objects.values().get().values())
    assert AuditLogEntry.objects.get(action="apikey.created").reason == "Requested by the board"


def test_the_key_authenticates_and_finds_its_organization():
    org = OrganizationFactory()
    created = api_key_create(organization=org, name="x", scopes=["read", "write"], acting_user=None, reason="")
    key = api_key_authenticate(raw_key=created.raw_key, now=timezone.now())
    assert key is not None
    assert key.organization == org
    assert key.has_scope("write")
    assert not key.has_scope("billing")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),
        lambda raw: raw.replace("csms_", "xyz_"),
        lambda raw: "",
        lambda raw: "csms_short_secret",
        lambda raw: raw.split("_", 2)[0] + "_" + raw.split("_", 2)[1],
    ],
    ids=["wrong-secret", "wrong-prefix", "empty", "unknown-prefix", "no-secret"],
)
def test_a_wrong_or_malformed_key_does_not_authenticate(mangle):
    created = api_key_create(organization=OrganizationFactory(), name="x", scopes=[], acting_user=None, reason="")
    assert api_key_authenticate(raw_key=mangle(created.raw_key), now=timezone.now()) is None


def test_a_revoked_key_no_longer_authenticates_and_the_revocation_is_audited():
    created = api_key_create(organization=OrganizationFactory(), name="x", scopes=["read"], acting_user=None,
                             reason="")
    staff = UserFactory()
    now = timezone.now()
    api_key_revoke(api_key=created.api_key, acting_user=staff, reason="Partner contract ended", now=now)

    assert api_key_authenticate(raw_key=created.raw_key, now=now) is None
    key = ApiKey.objects.get()
    assert (key.revoked_by, key.revoked_reason) == (staff, "Partner contract ended")
    entry = AuditLogEntry.objects.get(action="apikey.revoked")
    assert (entry.actor, entry.reason) == (staff, "Partner contract ended")


def test_an_expired_key_does_not_authenticate():
    now = timezone.now()
    created = api_key_create(organization=OrganizationFactory(), name="x", scopes=[], acting_user=None, reason="",
                             expires_at=now)
    assert api_key_authenticate(raw_key=created.raw_key, now=now - timedelta(seconds=1)) is not None
    assert api_key_authenticate(raw_key=created.raw_key, now=now) is None


def test_last_used_is_written_at_most_once_a_minute():
    created = api_key_create(organization=OrganizationFactory(), name="x", scopes=[], acting_user=None, reason="")
    start = timezone.now()
    api_key_authenticate(raw_key=created.raw_key, now=start)
    api_key_authenticate(raw_key=created.raw_key, now=start + timedelta(seconds=30))
    assert ApiKey.objects.get().last_used_at == start
    api_key_authenticate(raw_key=created.raw_key, now=start + timedelta(minutes=1))
    assert ApiKey.objects.get().last_used_at == start + timedelta(minutes=1)


def test_unknown_scopes_are_refused():
    with pytest.raises(ValidationError) as exc:
        api_key_create(organization=OrganizationFactory(), name="x", scopes=["root"], acting_user=None, reason="")
    assert "scopes" in exc.value.message_dict
    assert not ApiKey.objects.exists()
