"""A board member of BRF A never sees BRF B's people, tags, groups or keys: not through a selector, not in the
admin's lists, change pages, autocomplete or choice lists."""

import pytest
from django.urls import reverse

from accounts import selectors
from accounts.models import IdToken, Membership
from accounts.services.api_keys import api_key_create
from accounts.tenancy import can_manage, is_operator_staff, visible_organization_ids
from tests.accounts.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_selectors_show_a_board_member_only_their_own_organization(brf_a, brf_b):
    board = brf_a.board
    assert set(selectors.organizations_visible_to(board)) == {brf_a.org}
    assert set(selectors.users_visible_to(board)) == {brf_a.board, *brf_a.residents}
    assert set(selectors.id_tokens_visible_to(board)) == set(brf_a.tokens)
    assert set(selectors.user_groups_visible_to(board)) == {brf_a.group}
    assert set(selectors.memberships_visible_to(board).values_list("organization", flat=True)) == {brf_a.org.pk}
    assert all(e.organization_id == brf_a.org.pk for e in selectors.audit_entries_visible_to(board))


def test_operator_staff_see_every_organization(brf_a, brf_b, operator_staff):
    assert is_operator_staff(operator_staff)
    assert visible_organization_ids(operator_staff) is None
    assert set(selectors.id_tokens_visible_to(operator_staff)) == {*brf_a.tokens, *brf_b.tokens}


def test_a_resident_manages_no_organization(brf_a):
    resident = brf_a.residents[0]
    assert not selectors.id_tokens_visible_to(resident).exists()
    assert not selectors.users_visible_to(resident).exists()
    assert not can_manage(resident, brf_a.org.pk, write=False)


def test_a_reseller_manager_sees_the_organizations_under_the_reseller(brf_a, brf_b):
    reseller = OrganizationFactory(kind="reseller")
    brf_a.org.parent = reseller
    brf_a.org.save()
    manager = MembershipFactory(organization=reseller, role=Membership.Role.ORG_VIEWER).user
    assert set(selectors.organizations_visible_to(manager)) == {reseller, brf_a.org}
    assert can_manage(manager, brf_a.org.pk, write=False)
    assert not can_manage(manager, brf_a.org.pk, write=True)
    assert not can_manage(manager, brf_b.org.pk, write=False)


def test_api_keys_are_scoped_to_their_organization(brf_a, brf_b):
    api_key_create(organization=brf_a.org, name="a", scopes=["read"], acting_user=None, reason="")
    api_key_create(organization=brf_b.org, name="b", scopes=["read"], acting_user=None, reason="")
    assert [k.name for k in selectors.api_keys_visible_to(brf_a.board)] == ["a"]


@pytest.mark.parametrize("model", ["idtoken", "user", "usergroup", "membership", "organization", "auditlogentry"])
def test_the_admin_lists_only_the_board_members_own_rows(client, brf_a, brf_b, model):
    client.force_login(brf_a.board)
    response = client.get(reverse(f"admin:accounts_{model}_changelist"))
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].queryset}
    model_class = response.context["cl"].model
    assert shown, "the board member sees their own rows"
    foreign = {
        "idtoken": lambda: {t.pk for t in brf_b.tokens},
        "user": lambda: {brf_b.board.pk, *(u.pk for u in brf_b.residents)},
        "usergroup": lambda: {brf_b.group.pk},
        "membership": lambda: set(Membership.objects.filter(organization=brf_b.org).values_list("pk", flat=True)),
        "organization": lambda: {brf_b.org.pk},
        "auditlogentry": lambda: set(model_class.objects.filter(organization=brf_b.org).values_list("pk", flat=True)),
    }[model]()
    assert foreign, "the other tenant has rows of this kind"
    assert not shown & foreign


@pytest.mark.parametrize("kind", ["token", "user", "group"])
def test_the_admin_will_not_open_another_tenants_row(client, brf_a, brf_b, kind):
    client.force_login(brf_a.board)
    url = {
        "token": reverse("admin:accounts_idtoken_change", args=[brf_b.tokens[0].pk]),
        "user": reverse("admin:accounts_user_change", args=[brf_b.residents[0].pk]),
        "group": reverse("admin:accounts_usergroup_change", args=[brf_b.group.pk]),
    }[kind]
    response = client.get(url)
    # The admin treats rows outside the user's queryset as missing: back to the index with a message.
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    followed = client.get(url, follow=True)
    assert brf_b.residents[0].email.encode() not in followed.content
    assert brf_b.tokens[0].uid.encode() not in followed.content


def test_admin_autocomplete_does_not_leak_other_tenants_people(client, brf_a, brf_b):
    client.force_login(brf_a.board)
    response = client.get(reverse("admin:autocomplete"), {
        "app_label": "accounts", "model_name": "idtoken", "field_name": "user", "term": "example"})
    assert response.status_code == 200
    ids = {int(r["id"]) for r in response.json()["results"]}
    assert ids == {brf_a.board.pk, *(u.pk for u in brf_a.residents)}


def test_a_board_member_cannot_issue_a_tag_into_another_organization(client, brf_a, brf_b):
    client.force_login(brf_a.board)
    response = client.post(reverse("admin:accounts_idtoken_add"), {
        "organization": brf_b.org.pk, "type": "rfid", "uid": "04AABBCC", "status": "active",
        "change_reason": "sneaky"})
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not IdToken.objects.filter(uid="04AABBCC").exists()


def test_a_board_member_cannot_make_someone_staff(client, brf_a):
    client.force_login(brf_a.board)
    resident = brf_a.residents[0]
    response = client.post(reverse("admin:accounts_user_change", args=[resident.pk]), {
        "email": resident.email, "first_name": "X", "last_name": "Y", "language": "sv", "is_active": "on",
        "is_staff": "on", "is_superuser": "on", "change_reason": "promote",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 302
    resident.refresh_from_db()
    assert resident.first_name == "X"
    assert not resident.is_staff
    assert not resident.is_superuser


def test_a_person_without_memberships_sees_nothing(client):
    lonely = UserFactory(is_staff=True)
    assert visible_organization_ids(lonely) == frozenset()
    assert not selectors.organizations_visible_to(lonely).exists()
