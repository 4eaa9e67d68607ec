"""The portal's "Users & tags" pages: the searchable list, inviting people, tags (issue, block, unblock), moving
people between groups and the CSV import of residents — for admins, read-only for viewers, 404 across
organizations, audited."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditLogEntry, IdToken, Membership, User
from accounts.sms import LocmemSmsBackend
from tests.accounts.factories import IdTokenFactory, MembershipFactory, UserFactory, UserGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, viewer_a):
    client.force_login(viewer_a)
    return client


def person_url(tenant, index=0):
    membership = Membership.objects.get(organization=tenant.org, user=tenant.residents[index])
    return reverse("portal:people_person", args=[membership.pk]), membership


# --- The list -------------------------------------------------------------------------------------------------------
def test_the_list_shows_people_with_tags_and_groups_to_an_admin(board_client, brf_a, brf_b):
    brf_a.group.members.add(brf_a.residents[0])
    response = board_client.get(reverse("portal:people"))
    assert response.status_code == 200
    page = response.content.decode()
    assert brf_a.residents[0].email in page
    assert brf_a.tokens[0].uid in page
    assert brf_a.group.name in page
    assert brf_b.residents[0].email not in page
    assert brf_b.tokens[0].uid not in page
    assert reverse("portal:people_invite") in page


def test_a_viewer_sees_the_list_without_the_buttons_to_change(viewer_client, brf_a):
    response = viewer_client.get(reverse("portal:people"))
    assert response.status_code == 200
    assert brf_a.residents[1].email in response.content.decode()
    assert reverse("portal:people_invite") not in response.content.decode()
    response = viewer_client.get(person_url(brf_a)[0])
    assert response.status_code == 200
    assert reverse("portal:people_tag_block", args=[brf_a.tokens[0].pk]) not in response.content.decode()


def test_a_resident_does_not_get_the_page(client, brf_a):
    client.force_login(brf_a.residents[0])
    assert client.get(reverse("portal:people")).status_code == 404


@pytest.mark.parametrize("query", ["Anna", "anna.s@", "0701234567", "04:aa:bb:cc", "no 17", "1101"])
def test_search_finds_by_name_e_mail_mobile_tag_uid_printed_number_and_apartment(board_client, brf_a, query):
    anna = MembershipFactory(organization=brf_a.org, reference="1101", user=UserFactory(
        first_name="Anna", last_name="Svensson", email="anna.s@example.se", mobile_number="+46701234567")).user
    IdTokenFactory(organization=brf_a.org, user=anna, uid="04AABBCC", visual_number="No 17")
    response = board_client.get(reverse("portal:people"), {"q": query})
    people = [membership.user for membership in response.context["page"]]
    assert people == [anna]


def test_the_list_is_paginated(board_client, brf_a):
    for _ in range(50):
        MembershipFactory(organization=brf_a.org)
    first = board_client.get(reverse("portal:people"))
    assert len(first.context["page"]) == 50
    second = board_client.get(reverse("portal:people"), {"page": 2})
    assert len(second.context["page"]) == 3  # 52 people + the board member


def _add_people(tenant, count):
    for _ in range(count):
        user = MembershipFactory(organization=tenant.org).user
        IdTokenFactory(organization=tenant.org, user=user)
        tenant.group.members.add(user)


def test_the_list_needs_the_same_queries_for_2_and_20_people(board_client, brf_a):
    _add_people(brf_a, 2)
    with CaptureQueriesContext(connection) as few:
        board_client.get(reverse("portal:people"))
    _add_people(brf_a, 18)
    with CaptureQueriesContext(connection) as many:
        response = board_client.get(reverse("portal:people"))
    assert len(response.context["page"]) == 23
    assert len(many) == len(few)


# --- Inviting -------------------------------------------------------------------------------------------------------
def test_an_admin_adds_a_person_by_mobile_number_and_the_invitation_goes_by_sms(
        board_client, brf_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = board_client.post(reverse("portal:people_invite"), {
            "first_name": "Bo", "last_name": "Berg", "mobile_number": "070-765 43 21", "reference": "1204",
            "reason": "Moved in"})
    user = User.objects.get(mobile_number="+46707654321")
    membership = Membership.objects.get(user=user, organization=brf_a.org)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:people_person",
                                                                           args=[membership.pk])
    assert (membership.role, membership.reference) == (Membership.Role.RESIDENT, "1204")
    assert [message.to for message in LocmemSmsBackend.outbox] == ["+46707654321"]
    entry = AuditLogEntry.objects.get(action="membership.created", target_id=str(membership.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Moved in")


def test_an_invitation_by_e_mail_goes_by_e_mail(board_client, brf_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        board_client.post(reverse("portal:people_invite"), {"email": "new@example.se", "reason": "Moved in"})
    assert Membership.objects.filter(organization=brf_a.org, user__email="new@example.se").exists()
    assert [message.to for message in mail.outbox] == [["new@example.se"]]


def test_an_invitation_without_contact_is_a_form_error(board_client, brf_a):
    count = User.objects.count()
    response = board_client.post(reverse("portal:people_invite"), {"first_name": "X", "reason": "Moved in"})
    assert response.status_code == 200
    assert "Give an e-mail address or a mobile number." in response.context["form"].errors["email"]
    response = board_client.post(reverse("portal:people_invite"), {"mobile_number": "12", "reason": "Moved in"})
    assert response.context["form"].errors["mobile_number"]
    assert User.objects.count() == count


def test_a_viewer_cannot_invite(viewer_client, brf_a):
    count = User.objects.count()
    response = viewer_client.post(reverse("portal:people_invite"), {"email": "x@example.se", "reason": "r"})
    assert response.status_code == 403
    assert User.objects.count() == count


# --- Tags -----------------------------------------------------------------------------------------------------------
def test_an_admin_gives_a_tag_with_the_uid_normalised(board_client, brf_a):
    url, membership = person_url(brf_a)
    response = board_client.post(reverse("portal:people_tag_assign", args=[membership.pk]),
                                 {"uid": "04:a2:3b:1c", "visual_number": "42", "reason": "Handed out"})
    assert response.status_code == 302
    assert response["Location"] == url
    token = IdToken.objects.get(uid="04A23B1C")
    assert (token.user, token.organization, token.visual_number) == (membership.user, brf_a.org, "42")
    entry = AuditLogEntry.objects.get(action="id_token.issued", target_id=str(token.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Handed out")


def test_a_uid_in_use_elsewhere_is_a_form_error_that_does_not_say_whose(board_client, brf_a, brf_b):
    _url, membership = person_url(brf_a)
    other = brf_b.tokens[0]
    response = board_client.post(reverse("portal:people_tag_assign", args=[membership.pk]),
                                 {"uid": other.uid.lower(), "reason": "Handed out"})
    assert response.status_code == 200
    errors = response.context["tag_form"].errors["uid"]
    assert errors
    assert other.uid in errors[0]
    page = response.content.decode()
    assert brf_b.org.name not in page
    assert brf_b.residents[0].email not in page
    assert IdToken.objects.filter(uid=other.uid).get().organization == brf_b.org


def test_an_admin_gives_an_unassigned_tag_by_its_printed_number(board_client, brf_a):
    _url, membership = person_url(brf_a)
    stock = IdTokenFactory(organization=brf_a.org, uid="04DDEEFF", visual_number="A-17")
    url = reverse("portal:people_tag_assign", args=[membership.pk])
    response = board_client.post(url, {"uid": "", "visual_number": "a-17", "reason": "Handed out"})
    assert response.status_code == 302
    stock.refresh_from_db()
    assert stock.user == membership.user
    entry = AuditLogEntry.objects.get(action="id_token.assigned", target_id=str(stock.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Handed out")

    response = board_client.post(url, {"uid": "", "visual_number": "A-17", "reason": "again"})
    assert response.context["tag_form"].errors["visual_number"] == ["The tag 04DDEEFF is already in use."]
    response = board_client.post(url, {"uid": "", "visual_number": "Z-99", "reason": "x"})
    assert "Z-99" in response.context["tag_form"].errors["visual_number"][0]
    response = board_client.post(url, {"uid": "", "visual_number": "", "reason": "x"})
    assert response.context["tag_form"].errors["uid"]


def test_a_tag_of_another_resident_is_in_use_without_saying_whose(board_client, brf_a):
    _url, membership = person_url(brf_a, 1)
    taken = brf_a.tokens[0]
    response = board_client.post(reverse("portal:people_tag_assign", args=[membership.pk]),
                                 {"uid": taken.uid, "reason": "x"})
    assert response.context["tag_form"].errors["uid"] == [f"The tag {taken.uid} is already in use."]
    taken.refresh_from_db()
    assert taken.user == brf_a.residents[0]


def test_blocking_needs_a_reason_and_is_audited_and_unblocking_too(board_client, brf_a):
    token = brf_a.tokens[0]
    url, _membership = person_url(brf_a)
    response = board_client.post(reverse("portal:people_tag_block", args=[token.pk]), {"reason": ""})
    assert response.status_code == 200
    assert response.context["block_form"].errors["reason"]
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE

    response = board_client.post(reverse("portal:people_tag_block", args=[token.pk]), {"reason": "Lost"})
    assert response["Location"] == url
    token.refresh_from_db()
    assert (token.status, token.blocked_reason, token.blocked_by) == (IdToken.Status.BLOCKED, "Lost", brf_a.board)
    assert "Lost" in board_client.get(url).content.decode()

    board_client.post(reverse("portal:people_tag_unblock", args=[token.pk]), {"reason": "Found again"})
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE
    assert AuditLogEntry.objects.get(action="id_token.unblocked", target_id=str(token.pk)).reason == "Found again"


def test_a_viewer_cannot_block_or_give_tags(viewer_client, brf_a):
    token = brf_a.tokens[0]
    _url, membership = person_url(brf_a)
    assert viewer_client.post(reverse("portal:people_tag_block", args=[token.pk]), {"reason": "x"}).status_code == 403
    assert viewer_client.post(reverse("portal:people_tag_assign", args=[membership.pk]),
                              {"uid": "04AA", "reason": "x"}).status_code == 403
    assert viewer_client.post(reverse("portal:people_groups", args=[membership.pk]),
                              {"group": brf_a.group.pk, "action": "add", "reason": "x"}).status_code == 403
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE
    assert not IdToken.objects.filter(uid="04AA").exists()
    assert not brf_a.group.members.exists()


def test_another_organizations_ids_are_404(board_client, brf_a, brf_b):
    _url, other_membership = person_url(brf_b)
    other_token = brf_b.tokens[0]
    assert board_client.get(reverse("portal:people_person", args=[other_membership.pk])).status_code == 404
    posts = [
        (reverse("portal:people_tag_assign", args=[other_membership.pk]), {"uid": "04BB", "reason": "x"}),
        (reverse("portal:people_groups", args=[other_membership.pk]),
         {"group": brf_b.group.pk, "action": "add", "reason": "x"}),
        (reverse("portal:people_tag_block", args=[other_token.pk]), {"reason": "x"}),
        (reverse("portal:people_tag_unblock", args=[other_token.pk]), {"reason": "x"}),
    ]
    for url, data in posts:
        assert board_client.post(url, data).status_code == 404, url
    other_token.refresh_from_db()
    assert other_token.status == IdToken.Status.ACTIVE
    assert not IdToken.objects.filter(uid="04BB").exists()
    assert not brf_b.group.members.exists()


# --- Groups ---------------------------------------------------------------------------------------------------------
def test_an_admin_moves_a_person_into_and_out_of_a_group(board_client, brf_a):
    _url, membership = person_url(brf_a)
    other_group = UserGroupFactory(organization=brf_a.org, name="Garage B")
    url = reverse("portal:people_groups", args=[membership.pk])
    board_client.post(url, {"group": brf_a.group.pk, "action": "remove", "reason": "x"})
    board_client.post(url, {"group": other_group.pk, "action": "add", "reason": "Got a place in B"})
    assert list(other_group.members.all()) == [membership.user]
    entry = AuditLogEntry.objects.get(action="usergroup.members_added", target_id=str(other_group.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Got a place in B")
    board_client.post(url, {"group": other_group.pk, "action": "remove", "reason": "Moved out"})
    assert not other_group.members.exists()
    assert AuditLogEntry.objects.get(action="usergroup.members_removed").reason == "Moved out"


def test_another_organizations_group_is_not_a_choice(board_client, brf_a, brf_b):
    _url, membership = person_url(brf_a)
    response = board_client.post(reverse("portal:people_groups", args=[membership.pk]),
                                 {"group": brf_b.group.pk, "action": "add", "reason": "x"})
    assert response.status_code == 200
    assert response.context["group_form"].errors["group"]
    assert not brf_b.group.members.exists()


# --- CSV import -----------------------------------------------------------------------------------------------------
def upload(text, name="residents.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


GOOD_CSV = ("name,email,mobile,reference,tag_uid,group\n"
            "Anna Andersson,anna@example.se,,1101,04:c1:c2:c3,{group}\n"
            "Bo Berg,,0707654321,1102,,\n")


def test_a_dry_run_lists_every_row_error_and_writes_nothing(board_client, brf_a, brf_b):
    text = ("name;email;mobile;reference;tag_uid;group\n"
            ";anna@example.se;;1101;;\n"
            "Bo;not-an-address;;;;\n"
            "Cy;;;;;\n"
            f"Di;di@example.se;;;{brf_b.tokens[0].uid};No such group\n")
    users, tokens = User.objects.count(), IdToken.objects.count()
    response = board_client.post(reverse("portal:people_import"), {"file": upload(text), "reason": "Import",
                                                                   "confirm": "on"})
    assert response.status_code == 200
    problems = [(error.line, error.message) for error in response.context["row_errors"]]
    assert [line for line, _message in problems] == [2, 3, 4, 5, 5]
    assert "already in use" in problems[3][1]
    assert brf_b.org.name not in response.content.decode()
    assert (User.objects.count(), IdToken.objects.count()) == (users, tokens)


def test_a_good_file_is_checked_first_then_imported_through_the_services(board_client, brf_a):
    text = GOOD_CSV.format(group=brf_a.group.name)
    users = User.objects.count()
    response = board_client.post(reverse("portal:people_import"), {"file": upload(text), "reason": "Import"})
    assert response.status_code == 200
    assert response.context["row_errors"] == []
    assert len(response.context["rows"]) == 2
    assert User.objects.count() == users

    response = board_client.post(reverse("portal:people_import"), {"file": upload(text), "reason": "Spring import",
                                                                   "confirm": "on"})
    assert response.status_code == 302
    anna = User.objects.get(email="anna@example.se")
    assert (anna.first_name, anna.last_name) == ("Anna", "Andersson")
    assert Membership.objects.get(user=anna, organization=brf_a.org).reference == "1101"
    assert IdToken.objects.get(uid="04C1C2C3").user == anna
    assert list(brf_a.group.members.all()) == [anna]
    assert User.objects.filter(mobile_number="+46707654321").exists()
    assert AuditLogEntry.objects.filter(action="membership.created", reason="Spring import").count() == 2


def test_a_file_without_the_columns_is_a_form_error(board_client, brf_a):
    response = board_client.post(reverse("portal:people_import"), {"file": upload("foo,bar\n1,2\n"),
                                                                   "reason": "Import"})
    assert "mobile" in response.context["form"].errors["file"][0]


def test_a_viewer_cannot_import_but_gets_the_sample(viewer_client, brf_a):
    users = User.objects.count()
    response = viewer_client.post(reverse("portal:people_import"), {
        "file": upload(GOOD_CSV.format(group="")), "reason": "Import", "confirm": "on"})
    assert response.status_code == 403
    assert User.objects.count() == users
    sample = viewer_client.get(reverse("portal:people_import_sample"))
    assert sample.status_code == 200
    assert sample["Content-Type"].startswith("text/csv")
    assert sample.content.decode().startswith("name,email,mobile,reference,tag_uid,group")


@pytest.mark.parametrize("name", ["portal:people", "portal:people_invite", "portal:people_import"])
def test_every_page_renders_for_an_admin_and_a_viewer(client, brf_a, viewer_a, name):
    for user in (brf_a.board, viewer_a):
        client.force_login(user)
        response = client.get(reverse(name))
        assert response.status_code == 200, (name, user)
        assert b"<h1>" in response.content
