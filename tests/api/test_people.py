"""Connect API people endpoints: users as the caller's organizations know them, memberships (invite, role), ID tokens
(issue with any expiry, uid in any spelling, block/unblock) and user groups; tenant isolation of every list, detail
and id in a body; scopes and roles for writes; the schema of these endpoints."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLogEntry, IdToken, Membership, User, UserGroup
from accounts.services.api_keys import api_key_create
from tests.accounts.factories import IdTokenFactory, MembershipFactory, OperatorFactory, UserFactory
from tests.api import test_auth_and_stations as stations_api
from tests.api.test_auth_and_stations import assert_error, client_for, ids

# The station tests' fixtures: two associations, and a private rate-limit cache.
_own_cache, brf_a, brf_b = stations_api._own_cache, stations_api.brf_a, stations_api.brf_b


def key_for(organization, scopes=("read", "write")) -> str:
    return api_key_create(organization=organization, name="integration", scopes=list(scopes), acting_user=None,
                          reason="test").raw_key


@pytest.fixture
def api_a(brf_a):
    return client_for(key_for(brf_a.org))


@pytest.fixture
def reader_a(brf_a):
    return client_for(key_for(brf_a.org, scopes=("read",)))


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- users ------------------------------------------------------------------------------------------------------
def test_a_key_lists_only_people_of_its_organization(api_a, brf_a, brf_b):
    own = {brf_a.board.pk, *(r.pk for r in brf_a.residents)}
    assert ids(api_a.get("/api/v1/users/")) == own
    assert api_a.get(f"/api/v1/users/{brf_a.residents[0].pk}/").status_code == 200
    for person in [brf_b.board, *brf_b.residents]:
        assert_error(api_a.get(f"/api/v1/users/{person.pk}/"), 404, "not_found")


def test_a_person_in_two_organizations_shows_only_the_callers_membership(api_a, brf_a, brf_b):
    person = brf_b.residents[0]
    MembershipFactory(user=person, organization=brf_a.org, reference="1102")
    IdTokenFactory(organization=brf_a.org, user=person)
    brf_b.group.members.add(person)
    body = api_a.get(f"/api/v1/users/{person.pk}/").json()
    assert [(m["organization"], m["reference"]) for m in body["memberships"]] == [(brf_a.org.pk, "1102")]
    assert body["groups"] == []
    assert body["tokens_count"] == 1  # B's tag is not counted
    assert ids(api_a.get("/api/v1/users/", {"organization": brf_b.org.pk})) == set()


def test_user_filters(api_a, brf_a):
    brf_a.group.members.add(brf_a.residents[1])
    assert ids(api_a.get("/api/v1/users/", {"role": "org_admin"})) == {brf_a.board.pk}
    assert ids(api_a.get("/api/v1/users/", {"group": brf_a.group.pk})) == {brf_a.residents[1].pk}
    assert ids(api_a.get("/api/v1/users/", {"email": brf_a.board.email.upper()})) == {brf_a.board.pk}
    assert_error(api_a.get("/api/v1/users/", {"role": "emperor"}), 400, "invalid")


def test_group_filter_does_not_reach_another_organizations_group(api_a, brf_a, brf_b):
    person = brf_b.residents[0]
    MembershipFactory(user=person, organization=brf_a.org)
    brf_b.group.members.add(person)
    assert ids(api_a.get("/api/v1/users/", {"group": brf_b.group.pk})) == set()


# --- memberships ------------------------------------------------------------------------------------------------
def test_invite_by_mobile_number_creates_the_person_and_texts_them(api_a, brf_a, sms_outbox,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a.post("/api/v1/memberships/", {"mobile_number": "070-123 45 67", "first_name": "Anna",
                                                       "reference": "1102", "reason": "Moved in"}, format="json")
    assert response.status_code == 201, response.content
    person = User.objects.get(mobile_number="+46701234567")
    assert response.json()["user"] == person.pk
    assert (response.json()["organization"], response.json()["role"]) == (brf_a.org.pk, "resident")
    assert len(sms_outbox) == 1
    entry = AuditLogEntry.objects.get(action="membership.created")
    assert "Connect API key" in entry.reason
    assert "Moved in" in entry.reason


def test_inviting_an_existing_person_gives_them_a_membership_only(api_a, brf_a, brf_b):
    person = brf_b.residents[0]
    users_before = User.objects.count()
    response = api_a.post("/api/v1/memberships/", {"email": person.email.upper()}, format="json")
    assert response.status_code == 201, response.content
    assert User.objects.count() == users_before
    assert Membership.objects.filter(user=person, organization=brf_a.org).exists()
    again = api_a.post("/api/v1/memberships/", {"email": person.email}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == response.json()["id"]


@pytest.mark.parametrize(("body", "field"), [
    ({"mobile_number": "12"}, "mobile_number"),
    ({}, "email"),
    ({"email": "x@example.com", "role": "operator_support"}, "role"),
])
def test_invalid_invitations_are_400_and_write_nothing(api_a, body, field):
    users_before = User.objects.count()
    response = api_a.post("/api/v1/memberships/", body, format="json")
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"]
    assert User.objects.count() == users_before


def test_invite_into_another_organization_is_refused(api_a, brf_b):
    response = api_a.post("/api/v1/memberships/", {"organization": brf_b.org.pk, "email": "new@example.com"},
                          format="json")
    assert_error(response, 400, "invalid")
    assert "organization" in response.json()["fields"]
    assert not User.objects.filter(email="new@example.com").exists()


def test_a_read_only_key_cannot_invite(reader_a):
    assert_error(reader_a.post("/api/v1/memberships/", {"email": "new@example.com"}, format="json"), 403,
                 "permission_denied")
    assert not User.objects.filter(email="new@example.com").exists()


def test_change_a_members_role(api_a, brf_a, brf_b):
    membership = Membership.objects.get(user=brf_a.residents[0], organization=brf_a.org)
    response = api_a.patch(f"/api/v1/memberships/{membership.pk}/", {"role": "org_viewer", "reason": "Elected"},
                           format="json")
    assert response.status_code == 200, response.content
    membership.refresh_from_db()
    assert membership.role == "org_viewer"
    assert AuditLogEntry.objects.get(action="membership.role_changed").changes == {"role": ["resident",
                                                                                            "org_viewer"]}
    foreign = Membership.objects.get(user=brf_b.residents[0], organization=brf_b.org)
    assert_error(api_a.patch(f"/api/v1/memberships/{foreign.pk}/", {"role": "org_admin"}, format="json"), 404,
                 "not_found")
    foreign.refresh_from_db()
    assert foreign.role == "resident"
    assert_error(api_a.patch(f"/api/v1/memberships/{membership.pk}/", {"role": "king"}, format="json"), 400,
                 "invalid")


def test_memberships_list_is_tenant_scoped(api_a, brf_a, brf_b):
    own = set(Membership.objects.filter(organization=brf_a.org).values_list("pk", flat=True))
    assert ids(api_a.get("/api/v1/memberships/")) == own
    foreign = Membership.objects.filter(organization=brf_b.org).first()
    assert_error(api_a.get(f"/api/v1/memberships/{foreign.pk}/"), 404, "not_found")


# --- session users ----------------------------------------------------------------------------------------------
def test_a_board_admin_signed_in_may_write_a_viewer_may_not(brf_a, brf_b):
    admin = APIClient()
    admin.force_login(brf_a.board)
    response = admin.post("/api/v1/user-groups/", {"name": "Garage B"}, format="json")
    assert response.status_code == 201, response.content
    assert AuditLogEntry.objects.get(action="usergroup.created").actor == brf_a.board
    viewer = MembershipFactory(organization=brf_a.org, role=Membership.Role.ORG_VIEWER).user
    client = APIClient()
    client.force_login(viewer)
    assert client.get("/api/v1/user-groups/").status_code == 200
    assert_error(client.post("/api/v1/user-groups/", {"name": "Garage C", "organization": brf_a.org.pk},
                             format="json"), 403, "permission_denied")
    assert not UserGroup.objects.filter(name="Garage C").exists()


# --- ID tokens --------------------------------------------------------------------------------------------------
def test_tokens_are_tenant_scoped(api_a, brf_a, brf_b):
    assert ids(api_a.get("/api/v1/id-tokens/")) == {t.pk for t in brf_a.tokens}
    assert_error(api_a.get(f"/api/v1/id-tokens/{brf_b.tokens[0].pk}/"), 404, "not_found")
    assert ids(api_a.get("/api/v1/id-tokens/", {"user": brf_b.residents[0].pk})) == set()


def test_token_uid_filter_accepts_any_spelling(api_a, brf_a):
    token = brf_a.tokens[0]
    spelled = ":".join(token.uid[i:i + 2] for i in range(0, len(token.uid), 2)).lower()
    assert ids(api_a.get("/api/v1/id-tokens/", {"uid": spelled})) == {token.pk}
    assert ids(api_a.get("/api/v1/id-tokens/", {"uid": "not a tag"})) == set()
    assert_error(api_a.get("/api/v1/id-tokens/", {"status": "lost"}), 400, "invalid")


def test_issue_a_token_with_an_expiry_in_the_past(api_a, brf_a):
    past = timezone.now() - timedelta(days=3)
    response = api_a.post("/api/v1/id-tokens/", {
        "uid": "04:a2:3b:1c:5d", "type": "rfid", "printed_number": "000123", "user": brf_a.residents[0].pk,
        "expires_at": past.isoformat(), "reason": "Old tag re-registered"}, format="json")
    assert response.status_code == 201, response.content
    token = IdToken.objects.get(uid="04A23B1C5D")
    assert (token.organization, token.user, token.visual_number) == (brf_a.org, brf_a.residents[0], "000123")
    assert token.valid_until == past
    assert response.json()["usable_now"] is False
    assert AuditLogEntry.objects.filter(action="id_token.issued", target_id=str(token.pk)).exists()


def test_a_uid_in_use_is_a_400_that_does_not_name_the_owner(api_a, brf_b):
    taken = brf_b.tokens[0]
    response = api_a.post("/api/v1/id-tokens/", {"uid": taken.uid.lower()}, format="json")
    assert_error(response, 400, "invalid")
    assert "uid" in response.json()["fields"]
    assert brf_b.org.name not in response.content.decode()
    assert IdToken.objects.filter(uid=taken.uid).count() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"uid": "XYZ!"}, "uid"),
    ({"uid": "04A23B1C", "type": "bogus"}, "type"),
    ({"uid": "04A23B1C", "expires_at": "tomorrow"}, "expires_at"),
    ({"uid": "04A23B1C", "user": 0}, "user"),
])
def test_invalid_tokens_are_400(api_a, body, field):
    response = api_a.post("/api/v1/id-tokens/", body, format="json")
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"]
    assert not IdToken.objects.filter(uid="04A23B1C").exists()


def test_a_token_for_another_organizations_person_is_refused(api_a, brf_b):
    response = api_a.post("/api/v1/id-tokens/", {"uid": "04A23B1C", "user": brf_b.residents[0].pk}, format="json")
    assert_error(response, 400, "invalid")
    assert "user" in response.json()["fields"]
    assert not IdToken.objects.filter(uid="04A23B1C").exists()


def test_block_and_unblock_with_a_reason(api_a, brf_a):
    token = brf_a.tokens[0]
    assert_error(api_a.post(f"/api/v1/id-tokens/{token.pk}/block/", {}, format="json"), 400, "invalid")
    response = api_a.post(f"/api/v1/id-tokens/{token.pk}/block/", {"reason": "Lost"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "blocked"
    token.refresh_from_db()
    assert token.status == IdToken.Status.BLOCKED
    assert "Lost" in token.blocked_reason
    response = api_a.post(f"/api/v1/id-tokens/{token.pk}/unblock/", {"reason": "Found"}, format="json")
    assert response.json()["status"] == "active"
    assert list(AuditLogEntry.objects.filter(target_id=str(token.pk), action__startswith="id_token.").order_by(
        "pk").values_list("action", flat=True)) == ["id_token.blocked", "id_token.unblocked"]


def test_another_organizations_token_cannot_be_blocked(api_a, brf_b):
    token = brf_b.tokens[0]
    assert_error(api_a.post(f"/api/v1/id-tokens/{token.pk}/block/", {"reason": "x"}, format="json"), 404,
                 "not_found")
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE


def test_a_read_only_key_cannot_block(reader_a, brf_a):
    token = brf_a.tokens[0]
    assert_error(reader_a.post(f"/api/v1/id-tokens/{token.pk}/block/", {"reason": "x"}, format="json"), 403,
                 "permission_denied")
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE


# --- user groups ------------------------------------------------------------------------------------------------
def test_groups_are_tenant_scoped(api_a, brf_a, brf_b):
    assert ids(api_a.get("/api/v1/user-groups/")) == {brf_a.group.pk}
    assert_error(api_a.get(f"/api/v1/user-groups/{brf_b.group.pk}/"), 404, "not_found")
    assert_error(api_a.patch(f"/api/v1/user-groups/{brf_b.group.pk}/", {"name": "Mine"}, format="json"), 404,
                 "not_found")
    assert_error(api_a.post(f"/api/v1/user-groups/{brf_b.group.pk}/members/add/",
                            {"users": [brf_b.residents[0].pk]}, format="json"), 404, "not_found")
    assert not brf_b.group.members.exists()


def test_create_rename_and_fill_a_group(api_a, brf_a):
    response = api_a.post("/api/v1/user-groups/", {"name": "Garage B", "reason": "New garage"}, format="json")
    assert response.status_code == 201, response.content
    group = UserGroup.objects.get(pk=response.json()["id"])
    assert group.organization == brf_a.org
    duplicate = api_a.post("/api/v1/user-groups/", {"name": "Garage B"}, format="json")
    assert_error(duplicate, 400, "invalid")
    response = api_a.patch(f"/api/v1/user-groups/{group.pk}/", {"name": "Garage North"}, format="json")
    assert response.json()["name"] == "Garage North"
    resident = brf_a.residents[0]
    response = api_a.post(f"/api/v1/user-groups/{group.pk}/members/add/", {"users": [resident.pk]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["changed"] == [resident.pk]
    assert response.json()["group"]["members"] == [resident.pk]
    response = api_a.post(f"/api/v1/user-groups/{group.pk}/members/remove/", {"users": [resident.pk]},
                          format="json")
    assert response.json()["changed"] == [resident.pk]
    assert not group.members.exists()
    actions = set(AuditLogEntry.objects.filter(target_id=str(group.pk)).values_list("action", flat=True))
    assert actions == {"usergroup.created", "usergroup.changed", "usergroup.members_added",
                       "usergroup.members_removed"}


def test_people_of_another_organization_cannot_join_a_group(api_a, brf_a, brf_b):
    response = api_a.post(f"/api/v1/user-groups/{brf_a.group.pk}/members/add/",
                          {"users": [brf_a.residents[0].pk, brf_b.residents[0].pk]}, format="json")
    assert_error(response, 400, "invalid")
    assert "users" in response.json()["fields"]
    assert not brf_a.group.members.exists()


def test_a_group_in_another_organization_cannot_be_created(api_a, brf_b):
    response = api_a.post("/api/v1/user-groups/", {"name": "Sneaky", "organization": brf_b.org.pk}, format="json")
    assert_error(response, 400, "invalid")
    assert not UserGroup.objects.filter(name="Sneaky").exists()


# --- operator keys and input the schema allows ------------------------------------------------------------------
def test_an_operator_key_sees_every_organization_and_must_name_one_to_write(brf_a, brf_b):
    operator = client_for(key_for(OperatorFactory()))
    assert {brf_a.board.pk, brf_b.board.pk} <= ids(operator.get("/api/v1/users/"))
    response = operator.post("/api/v1/user-groups/", {"name": "Garage B"}, format="json")
    assert_error(response, 400, "invalid")
    assert "organization" in response.json()["fields"]
    assert not UserGroup.objects.filter(name="Garage B").exists()
    response = operator.post("/api/v1/user-groups/", {"name": "Garage B", "organization": brf_b.org.pk},
                             format="json")
    assert response.status_code == 201, response.content
    assert UserGroup.objects.get(name="Garage B").organization == brf_b.org


HUGE = "9" * 30


@pytest.mark.parametrize("url", [
    f"/api/v1/users/?organization={HUGE}", f"/api/v1/users/?group={HUGE}", "/api/v1/users/?organization=1.5",
    f"/api/v1/id-tokens/?user={HUGE}", f"/api/v1/memberships/?organization={HUGE}",
    f"/api/v1/user-groups/?member={HUGE}",
])
def test_out_of_range_filters_are_400(api_a, url):
    assert_error(api_a.get(url), 400, "invalid")


@pytest.mark.parametrize("resource", ["users", "memberships", "id-tokens", "user-groups"])
def test_out_of_range_ids_are_404(api_a, resource):
    assert_error(api_a.get(f"/api/v1/{resource}/{HUGE}/"), 404, "not_found")


@pytest.mark.parametrize("expires_at", ["0001-01-01T00:00:00+14:00", "10000-01-01T00:00:00Z"])
def test_instants_that_do_not_exist_in_utc_are_400(api_a, expires_at):
    response = api_a.post("/api/v1/id-tokens/", {"uid": "04A23B1C", "expires_at": expires_at}, format="json")
    assert_error(response, 400, "invalid")
    assert "expires_at" in response.json()["fields"]


# --- schema -----------------------------------------------------------------------------------------------------
def test_the_schema_documents_the_people_endpoints(db):
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/v1/users/", "/api/v1/users/{id}/", "/api/v1/memberships/", "/api/v1/memberships/{id}/",
                 "/api/v1/id-tokens/", "/api/v1/id-tokens/{id}/block/", "/api/v1/id-tokens/{id}/unblock/",
                 "/api/v1/user-groups/", "/api/v1/user-groups/{id}/members/add/",
                 "/api/v1/user-groups/{id}/members/remove/"]:
        assert path in paths, path
    assert "post" in paths["/api/v1/memberships/"]
    assert "patch" in paths["/api/v1/memberships/{id}/"]


def test_a_person_without_membership_is_invisible(api_a):
    stranger = UserFactory()
    assert stranger.pk not in ids(api_a.get("/api/v1/users/"))
    assert_error(api_a.get(f"/api/v1/users/{stranger.pk}/"), 404, "not_found")
