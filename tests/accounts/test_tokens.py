from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken
from accounts.services.tokens import id_token_block, id_token_issue, id_token_unblock, id_tokens_expire_due
from accounts.tasks import expire_id_tokens_task
from tests.accounts.factories import IdTokenFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_issued_rfid_uid_is_stored_normalized():
    org = OrganizationFactory()
    token = id_token_issue(organization=org, uid="04:a2:3b:1c", acting_user=None, reason="new tag")
    assert token.uid == "04A23B1C"
    assert token.status == IdToken.Status.ACTIVE


def test_the_same_tag_in_another_spelling_is_refused_as_a_duplicate():
    org = OrganizationFactory()
    id_token_issue(organization=org, uid="04a23b1c", acting_user=None, reason="new tag")
    with pytest.raises(ValidationError) as exc:
        id_token_issue(organization=OrganizationFactory(), uid="04 A2 3B 1C", acting_user=None, reason="again")
    assert "already exists" in str(exc.value)
    assert IdToken.objects.count() == 1


def test_uid_uniqueness_is_also_enforced_by_the_database():
    IdTokenFactory(uid="04A23B1C")
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        IdTokenFactory(uid="04A23B1C")


def test_an_invalid_uid_gives_a_field_error():
    with pytest.raises(ValidationError) as exc:
        id_token_issue(organization=OrganizationFactory(), uid="not hex!", acting_user=None, reason="x")
    assert "uid" in exc.value.message_dict


def test_a_token_owner_must_belong_to_the_tokens_organization():
    org = OrganizationFactory()
    outsider = UserFactory()
    with pytest.raises(ValidationError) as exc:
        id_token_issue(organization=org, uid="04A23B1C", user=outsider, acting_user=None, reason="x")
    assert "user" in exc.value.message_dict


def test_blocking_records_who_blocked_and_why():
    token = IdTokenFactory()
    staff = UserFactory()
    id_token_block(token=token, reason="Lost tag, reported by phone #1234", acting_user=staff)

    token.refresh_from_db()
    assert token.status == IdToken.Status.BLOCKED
    assert token.blocked_by == staff
    assert token.blocked_reason == "Lost tag, reported by phone #1234"
    entry = AuditLogEntry.objects.get(action="id_token.blocked")
    assert entry.actor == staff
    assert entry.reason == "Lost tag, reported by phone #1234"
    assert entry.target_id == str(token.pk)
    assert entry.organization_id == token.organization_id
    assert entry.changes == {"status": ["active", "blocked"]}
    assert not token.is_usable(timezone.now())


def test_blocking_needs_a_reason():
    token = IdTokenFactory()
    with pytest.raises(ValidationError):
        id_token_block(token=token, reason="  ", acting_user=UserFactory())
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE
    assert not AuditLogEntry.objects.filter(action="id_token.blocked").exists()


def test_unblocking_records_who_and_why_and_clears_the_block():
    token = IdTokenFactory()
    id_token_block(token=token, reason="Unpaid invoice", acting_user=None)
    staff = UserFactory()
    id_token_unblock(token=token, reason="Paid in full", acting_user=staff)

    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE
    assert (token.blocked_by, token.blocked_reason, token.blocked_at) == (None, "", None)
    block, unblock = AuditLogEntry.objects.filter(action__startswith="id_token.").exclude(
        action="id_token.issued").order_by("at", "pk")
    assert (block.action, block.actor, block.reason) == ("id_token.blocked", None, "Unpaid invoice")
    assert (unblock.action, unblock.actor, unblock.reason) == ("id_token.unblocked", staff, "Paid in full")


def test_blocking_twice_writes_one_audit_row():
    token = IdTokenFactory()
    id_token_block(token=token, reason="lost", acting_user=None)
    id_token_block(token=token, reason="lost again", acting_user=None)
    assert AuditLogEntry.objects.filter(action="id_token.blocked").count() == 1


def test_unblocking_a_token_whose_validity_has_passed_leaves_it_expired():
    now = timezone.now()
    token = IdTokenFactory(valid_until=now - timedelta(days=1))
    id_token_block(token=token, reason="lost", acting_user=None, now=now - timedelta(days=2))
    id_token_unblock(token=token, reason="found", acting_user=None, now=now)
    token.refresh_from_db()
    assert token.status == IdToken.Status.EXPIRED


def test_tokens_past_their_validity_are_expired_by_the_periodic_task():
    now = timezone.now()
    due = IdTokenFactory(valid_until=now - timedelta(minutes=1))
    later = IdTokenFactory(valid_until=now + timedelta(days=1))
    blocked = IdTokenFactory(valid_until=now - timedelta(minutes=1), status=IdToken.Status.BLOCKED)

    assert expire_id_tokens_task() == 1

    statuses = {t.pk: t.status for t in IdToken.objects.all()}
    assert statuses == {due.pk: "expired", later.pk: "active", blocked.pk: "blocked"}
    assert AuditLogEntry.objects.get(action="id_token.expired").target_id == str(due.pk)
    assert id_tokens_expire_due(now=now) == 0


def test_a_token_is_usable_only_while_active_and_valid():
    now = timezone.now()
    assert IdTokenFactory().is_usable(now)
    assert not IdTokenFactory(valid_until=now).is_usable(now)
    assert IdTokenFactory(valid_until=now + timedelta(seconds=1)).is_usable(now)
    assert not IdTokenFactory(status=IdToken.Status.EXPIRED).is_usable(now)


def test_a_member_can_own_a_token():
    membership = MembershipFactory()
    token = id_token_issue(organization=membership.organization, uid="04A23B1C", user=membership.user,
                           acting_user=None, reason="x")
    assert token.user == membership.user
