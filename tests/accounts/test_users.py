import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.forms import InviteUserForm
from accounts.models import AuditLogEntry, Membership, Organization, User
from accounts.services.users import user_invite
from tests.accounts.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _link(text: str) -> str:
    return re.search(r"https://csms\.test(/\S+)", text).group(1)


def test_inviting_by_email_creates_the_user_and_mails_a_password_link(django_capture_on_commit_callbacks):
    org = OrganizationFactory(name="BRF Solrosen")
    board = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        invitation = user_invite(organization=org, email=" Anna@Example.COM ", first_name="Anna",
                                 acting_user=board, reason="New resident in 1102")
    user = invitation.user
    assert invitation.user_created
    assert user.email == "anna@example.com"
    assert not user.has_usable_password()
    assert invitation.membership.role == Membership.Role.RESIDENT
    assert len(mail.outbox) == 1
    assert "BRF Solrosen" in mail.outbox[0].subject
    assert _link(mail.outbox[0].body).startswith("/accounts/invitation/")
    actions = set(AuditLogEntry.objects.filter(actor=board).values_list("action", "reason"))
    assert actions == {("user.created", "New resident in 1102"), ("membership.created", "New resident in 1102")}


def test_inviting_by_mobile_number_texts_the_link(django_capture_on_commit_callbacks, sms_outbox):
    org = OrganizationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        invitation = user_invite(organization=org, mobile_number="070-174 06 05", acting_user=None, reason="x")
    assert invitation.user.mobile_number == "+46701740605"
    assert invitation.user.email is None
    assert [m.to for m in sms_outbox] == ["+46701740605"]
    assert "/accounts/invitation/" in sms_outbox[0].body
    assert mail.outbox == []


def test_inviting_an_existing_person_adds_a_membership_instead_of_a_second_account():
    existing = UserFactory(email="per@example.com", mobile_number="+46701740606")
    other_org = OrganizationFactory()
    invitation = user_invite(organization=other_org, mobile_number="0701740606", acting_user=None, reason="x")
    assert invitation.user == existing
    assert not invitation.user_created
    assert User.objects.count() == 1
    assert existing.memberships.get().organization == other_org


def test_an_email_and_a_mobile_of_two_different_people_are_refused():
    UserFactory(email="a@example.com")
    UserFactory(email="b@example.com", mobile_number="+46701740607")
    with pytest.raises(ValidationError, match="two different users"):
        user_invite(organization=OrganizationFactory(), email="a@example.com", mobile_number="+46701740607",
                    acting_user=None, reason="x")


def test_a_bad_mobile_number_is_a_clear_service_error():
    with pytest.raises(ValidationError) as exc:
        user_invite(organization=OrganizationFactory(), mobile_number="08-123 456 78", acting_user=None, reason="x")
    assert exc.value.message_dict["mobile_number"] == [
        "'08-123 456 78' is not a mobile number; text messages need a mobile number."]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("mobile", "error"),
    [("070-12", "not a valid phone number"), ("abc", "not a phone number"), ("08-123 456 78", "not a mobile")],
    ids=["too-short", "letters", "landline"],
)
def test_a_bad_mobile_number_is_a_form_error(mobile, error):
    org = OrganizationFactory()
    form = InviteUserForm(data={"organization": org.pk, "mobile_number": mobile, "role": "resident",
                                "reason": "x"}, organizations=Organization.objects.all())
    assert not form.is_valid()
    assert error in form.errors["mobile_number"][0]


def test_the_invite_form_needs_an_email_or_a_mobile_number():
    org = OrganizationFactory()
    form = InviteUserForm(data={"organization": org.pk, "role": "resident", "reason": "x"},
                          organizations=Organization.objects.all())
    assert not form.is_valid()
    assert "e-mail address or a mobile number" in form.non_field_errors()[0]


def test_two_users_cannot_share_a_mobile_number():
    from django.db import IntegrityError

    UserFactory(mobile_number="+46701740608")
    with pytest.raises(IntegrityError):
        UserFactory(mobile_number="+46701740608")


def test_the_invitation_link_sets_a_password_once(client, django_capture_on_commit_callbacks):
    org = OrganizationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        user_invite(organization=org, mobile_number="+46701740609", acting_user=None, reason="x")
    from accounts.sms import LocmemSmsBackend

    link = _link(LocmemSmsBackend.outbox[0].body)
    assert client.get(link).status_code == 200
    response = client.post(link, {"email": "Mobil@Example.com", "password1": "Laddstolpe-2026!",
                                  "password2": "Laddstolpe-2026!"})
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "mobil@example.com"
    assert user.check_password("Laddstolpe-2026!")
    assert client.login(username="MOBIL@example.com", password="Laddstolpe-2026!")
    client.logout()
    assert client.get(link).status_code == 400


def test_the_invitation_page_rejects_mismatched_or_weak_passwords(client):
    user = user_invite(organization=OrganizationFactory(), email="x@example.com", acting_user=None, reason="x",
                       send=False).user
    from accounts.services.users import invitation_url

    link = invitation_url(user).removeprefix("https://csms.test")
    response = client.post(link, {"password1": "Laddstolpe-2026!", "password2": "other"})
    assert "The two passwords differ." in response.content.decode()
    response = client.post(link, {"password1": "123", "password2": "123"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert not user.has_usable_password()


def test_a_forged_invitation_link_is_refused(client):
    url = reverse("accounts:invitation", kwargs={"uidb64": "MQ", "token": "abc-def"})
    assert client.get(url).status_code == 400


def test_operator_support_is_only_a_role_in_the_operator_organization():
    membership = MembershipFactory.build(organization=OrganizationFactory(), user=UserFactory(),
                                         role=Membership.Role.OPERATOR_SUPPORT)
    with pytest.raises(ValidationError):
        membership.full_clean()
