"""The admin as support staff use it: every change asks why and lands in the audit log."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse

from accounts.models import ApiKey, AuditLogEntry, IdToken, Membership, User
from accounts.services.api_keys import api_key_authenticate

pytestmark = pytest.mark.django_db


def test_blocking_tags_from_the_list_asks_for_a_reason_first(client, operator_staff, brf_a):
    client.force_login(operator_staff)
    url = reverse("admin:accounts_idtoken_changelist")
    selected = [t.pk for t in brf_a.tokens]
    response = client.post(url, {"action": "block_tokens", ACTION_CHECKBOX_NAME: selected})
    assert response.status_code == 200
    assert b'name="reason"' in response.content
    assert not IdToken.objects.filter(status="blocked").exists()

    response = client.post(url, {"action": "block_tokens", ACTION_CHECKBOX_NAME: selected, "apply": "1",
                                 "reason": ""})
    assert response.status_code == 200
    assert not IdToken.objects.filter(status="blocked").exists()

    response = client.post(url, {"action": "block_tokens", ACTION_CHECKBOX_NAME: selected, "apply": "1",
                                 "reason": "Ticket 4711: tags lost"})
    assert response.status_code == 302
    assert set(IdToken.objects.filter(status="blocked")) == set(brf_a.tokens)
    entries = AuditLogEntry.objects.filter(action="id_token.blocked")
    assert {(e.actor, e.reason) for e in entries} == {(operator_staff, "Ticket 4711: tags lost")}
    assert entries.count() == 2


def test_unblocking_from_the_list_is_audited(client, operator_staff, brf_a):
    client.force_login(operator_staff)
    url = reverse("admin:accounts_idtoken_changelist")
    token = brf_a.tokens[0]
    client.post(url, {"action": "block_tokens", ACTION_CHECKBOX_NAME: [token.pk], "apply": "1", "reason": "lost"})
    client.post(url, {"action": "unblock_tokens", ACTION_CHECKBOX_NAME: [token.pk], "apply": "1",
                      "reason": "found in the garage"})
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE
    assert AuditLogEntry.objects.get(action="id_token.unblocked").reason == "found in the garage"


def test_issuing_a_tag_in_the_admin_normalizes_the_uid_and_records_the_reason(client, brf_a):
    client.force_login(brf_a.board)
    response = client.post(reverse("admin:accounts_idtoken_add"), {
        "organization": brf_a.org.pk, "type": "rfid", "uid": "04:aa:bb:cc", "user": brf_a.residents[0].pk,
        "status": "active", "change_reason": "Handed out at the annual meeting"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    token = IdToken.objects.get(uid="04AABBCC")
    assert token.user == brf_a.residents[0]
    entry = AuditLogEntry.objects.get(action="id_token.issued", target_id=str(token.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Handed out at the annual meeting")


def test_a_bad_uid_is_a_form_error_in_the_admin(client, brf_a):
    client.force_login(brf_a.board)
    response = client.post(reverse("admin:accounts_idtoken_add"), {
        "organization": brf_a.org.pk, "type": "rfid", "uid": "ZZZZ", "status": "active", "change_reason": "x"})
    assert response.status_code == 200
    assert "hexadecimal" in str(response.context["adminform"].form.errors["uid"])


def test_editing_an_organization_records_old_and_new_values_and_the_reason(client, brf_a):
    client.force_login(brf_a.board)
    org = brf_a.org
    data = {"name": org.name, "locale": "sv", "country": "SE", "contact_email": "ny@example.com",
            "change_reason": "Board e-mail of 2026-11-20", "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0"}
    response = client.post(reverse("admin:accounts_organization_change", args=[org.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = AuditLogEntry.objects.get(action="organization.changed")
    assert entry.actor == brf_a.board
    assert entry.reason == "Board e-mail of 2026-11-20"
    assert entry.changes["contact_email"] == ["", "ny@example.com"]


def test_the_history_page_shows_who_changed_what_and_why(client, brf_a, brf_b):
    client.force_login(brf_a.board)
    org = brf_a.org
    client.post(reverse("admin:accounts_organization_change", args=[org.pk]), {
        "name": org.name, "locale": "sv", "country": "SE", "contact_email": "styrelsen@example.com",
        "change_reason": "Written request 2026-114", "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0"})

    page = client.get(reverse("admin:accounts_organization_history", args=[org.pk])).content.decode()
    assert "Written request 2026-114" in page
    assert brf_a.board.email in page
    assert "styrelsen@example.com" in page
    # Another association's history is not there to look at.
    other = client.get(reverse("admin:accounts_organization_history", args=[brf_b.org.pk]))
    assert other.status_code in (302, 404)


def test_an_edit_without_a_reason_is_refused(client, brf_a):
    client.force_login(brf_a.board)
    response = client.post(reverse("admin:accounts_organization_change", args=[brf_a.org.pk]), {
        "name": "Renamed", "locale": "sv", "country": "SE", "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert "change_reason" in response.context["adminform"].form.errors
    brf_a.org.refresh_from_db()
    assert brf_a.org.name == "BRF A"


def test_a_wrong_swedish_org_number_is_a_form_error(client, operator_staff, brf_a):
    client.force_login(operator_staff)
    response = client.post(reverse("admin:accounts_organization_change", args=[brf_a.org.pk]), {
        "kind": "association", "name": "BRF A", "slug": brf_a.org.slug, "locale": "sv", "country": "SE",
        "is_active": "on", "org_number": "556036-0794", "change_reason": "x",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert "check digit" in str(response.context["adminform"].form.errors["org_number"])


def test_membership_rows_edited_inline_are_audited(client, operator_staff, brf_a):
    client.force_login(operator_staff)
    resident = brf_a.residents[0]
    membership = resident.memberships.get()
    response = client.post(reverse("admin:accounts_user_change", args=[resident.pk]), {
        "email": resident.email, "first_name": resident.first_name, "last_name": resident.last_name,
        "language": "sv", "is_active": "on", "change_reason": "Moved to another apartment",
        "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": membership.pk, "memberships-0-user": resident.pk,
        "memberships-0-organization": brf_a.org.pk, "memberships-0-role": "resident",
        "memberships-0-reference": "Lgh 1204"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    membership.refresh_from_db()
    assert membership.reference == "Lgh 1204"
    entry = AuditLogEntry.objects.get(action="membership.changed")
    assert entry.reason == "Moved to another apartment"
    assert entry.changes["reference"][1] == "Lgh 1204"


def test_the_mobile_number_field_in_the_admin_gives_a_clear_error(client, operator_staff, brf_a):
    client.force_login(operator_staff)
    resident = brf_a.residents[0]
    response = client.post(reverse("admin:accounts_user_change", args=[resident.pk]), {
        "email": resident.email, "mobile_number": "08-123 456 78", "language": "sv", "is_active": "on",
        "change_reason": "x", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert "not a mobile number" in str(response.context["adminform"].form.errors["mobile_number"])


def test_inviting_from_the_admin_sends_the_invitation(client, brf_a, django_capture_on_commit_callbacks):
    client.force_login(brf_a.board)
    assert client.get(reverse("admin:accounts_user_add")).url == reverse("admin:accounts_user_invite")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:accounts_user_invite"), {
            "organization": brf_a.org.pk, "email": "ny.boende@example.com", "first_name": "Ny", "role": "resident",
            "reference": "Lgh 1301", "reason": "Moved in 2026-12-01"})
    assert response.status_code == 302
    user = User.objects.get(email="ny.boende@example.com")
    assert user.memberships.get().reference == "Lgh 1301"
    assert len(mail.outbox) == 1


def test_a_board_member_cannot_grant_operator_support(client, brf_a):
    client.force_login(brf_a.board)
    response = client.post(reverse("admin:accounts_user_invite"), {
        "organization": brf_a.org.pk, "email": "x@example.com", "role": "operator_support", "reason": "x"})
    assert response.status_code == 200
    assert "operator" in str(response.context["form"].errors["role"])
    assert not User.objects.filter(email="x@example.com").exists()


def test_a_new_api_key_is_shown_once_and_works(client, brf_a):
    client.force_login(brf_a.board)
    response = client.post(reverse("admin:accounts_apikey_add"), {
        "organization": brf_a.org.pk, "name": "Property manager", "scopes": ["read"],
        "reason": "Agreement 2026-11"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    raw = re.search(r"csms_\w{8}_\S+", " ".join(shown)).group(0)
    key = ApiKey.objects.get()
    assert api_key_authenticate(raw_key=raw, now=key.created_at) == key
    detail = client.get(reverse("admin:accounts_apikey_change", args=[key.pk]))
    assert raw.encode() not in detail.content


def test_revoking_a_key_from_the_list_is_audited(client, operator_staff, brf_a):
    from accounts.services.api_keys import api_key_create

    created = api_key_create(organization=brf_a.org, name="x", scopes=["read"], acting_user=None, reason="")
    client.force_login(operator_staff)
    client.post(reverse("admin:accounts_apikey_changelist"), {
        "action": "revoke_keys", ACTION_CHECKBOX_NAME: [created.api_key.pk], "apply": "1",
        "reason": "Leaked in a support ticket"})
    assert AuditLogEntry.objects.get(action="apikey.revoked").reason == "Leaked in a support ticket"
    assert api_key_authenticate(raw_key=created.raw_key, now=created.api_key.created_at) is None


def test_the_audit_log_is_read_only(client, operator_staff):
    client.force_login(operator_staff)
    operator_staff.is_superuser = True
    operator_staff.save()
    assert client.get(reverse("admin:accounts_auditlogentry_add")).status_code == 403


def test_a_user_group_only_takes_members_of_its_organization(client, operator_staff, brf_a, brf_b):
    client.force_login(operator_staff)
    response = client.post(reverse("admin:accounts_usergroup_add"), {
        "organization": brf_a.org.pk, "name": "Garage", "members": [brf_a.residents[0].pk, brf_b.residents[0].pk],
        "change_reason": "x"})
    assert response.status_code == 200
    assert "Not members of" in str(response.context["adminform"].form.errors["members"])
    response = client.post(reverse("admin:accounts_usergroup_add"), {
        "organization": brf_a.org.pk, "name": "Garage", "members": [brf_a.residents[0].pk],
        "change_reason": "Garage spaces allocated"})
    assert response.status_code == 302
    entry = AuditLogEntry.objects.get(action="usergroup.created")
    assert entry.changes["members"] == [[], [brf_a.residents[0].pk]]


def test_deactivating_users_from_the_list_is_audited(client, operator_staff, brf_a):
    client.force_login(operator_staff)
    resident = brf_a.residents[0]
    client.post(reverse("admin:accounts_user_changelist"), {
        "action": "deactivate_users", ACTION_CHECKBOX_NAME: [resident.pk], "apply": "1", "reason": "Moved out"})
    resident.refresh_from_db()
    assert not resident.is_active
    assert AuditLogEntry.objects.get(action="user.deactivated").reason == "Moved out"
    assert Membership.objects.filter(user=resident).exists()


def test_operator_staff_give_a_board_member_admin_access_from_the_user_list(client, operator_staff, brf_a):
    from accounts.services.users import membership_change_role

    client.force_login(operator_staff)
    resident, other = brf_a.residents
    membership_change_role(membership=resident.memberships.get(), role=Membership.Role.ORG_VIEWER,
                           acting_user=None, reason="x")
    client.post(reverse("admin:accounts_user_changelist"), {
        "action": "grant_admin_access", ACTION_CHECKBOX_NAME: [resident.pk, other.pk], "apply": "1",
        "reason": "Elected at the AGM"})
    resident.refresh_from_db()
    other.refresh_from_db()
    assert resident.is_staff
    assert list(resident.groups.values_list("name", flat=True)) == ["Organization viewers"]
    assert not other.is_staff  # a resident manages nothing, so gets no admin access
    assert AuditLogEntry.objects.get(action="user.admin_access_granted", target_id=str(resident.pk)).reason == (
        "Elected at the AGM")


def test_board_members_are_not_offered_the_grant_access_action(client, brf_a):
    client.force_login(brf_a.board)
    response = client.get(reverse("admin:accounts_user_changelist"))
    offered = [name for name, _label in response.context["action_form"].fields["action"].choices]
    assert "deactivate_users" in offered
    assert "grant_admin_access" not in offered
