"""The portal's frame: sign-in, roles per organization, the switcher, 404 for what a role may not see, passwords,
and money and energy written the reader's way."""

from decimal import Decimal

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from accounts.models import Membership
from csms.portal import access
from csms.portal.templatetags.portal import kwh, money
from tests.accounts.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_the_portal_login(client):
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_a_board_member_signs_in_with_e_mail_and_password(client, brf_a):
    brf_a.board.set_password("a long secret 123")
    brf_a.board.save()
    response = client.post(reverse("portal:login"), {"username": brf_a.board.email, "password": "a long secret 123"})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert client.get(reverse("portal:login")).status_code == 302  # already signed in


def test_a_wrong_password_is_a_form_error(client, brf_a):
    response = client.post(reverse("portal:login"), {"username": brf_a.board.email, "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_roles_come_from_the_membership(brf_a, viewer_a, operator_staff):
    assert [(c.organization, c.role) for c in access.choices_for(brf_a.board)] == [(brf_a.org, access.ADMIN)]
    assert [(c.organization, c.role) for c in access.choices_for(viewer_a)] == [(brf_a.org, access.VIEWER)]
    assert access.choices_for(operator_staff) == ()  # support staff work in the admin
    assert [(c.organization, c.role) for c in access.choices_for(brf_a.residents[0])] == [
        (brf_a.org, access.RESIDENT)]


def test_a_person_without_a_membership_gets_404(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(email="nobody@example.com", password="x"))
    assert client.get(reverse("portal:home")).status_code == 404


def test_the_switcher_only_offers_and_accepts_the_persons_organizations(board_client, brf_a, brf_b):
    MembershipFactory(organization=brf_b.org, role=Membership.Role.ORG_VIEWER, user=brf_a.board)
    request_choices = access.choices_for(brf_a.board)
    assert [c.organization for c in request_choices] == [brf_a.org, brf_b.org]
    response = board_client.post(reverse("portal:switch_organization"), {"organization": brf_b.org.pk})
    assert response.status_code == 302
    assert board_client.session[access.SESSION_KEY] == brf_b.org.pk


def test_switching_to_a_foreign_organization_is_404_and_changes_nothing(board_client, brf_a, brf_b):
    response = board_client.post(reverse("portal:switch_organization"), {"organization": brf_b.org.pk})
    assert response.status_code == 404
    assert access.SESSION_KEY not in board_client.session
    assert board_client.post(reverse("portal:switch_organization"), {"organization": "x"}).status_code == 404


def test_a_viewer_may_look_but_not_change(brf_a, viewer_a, rf):
    request = rf.get("/")
    request.user = viewer_a
    request.session = {}
    portal = access.resolve(request)
    assert portal.is_board
    assert not portal.can_change
    with pytest.raises(access.PermissionDenied):
        portal.require_change()


def test_password_reset_mails_a_link_that_sets_a_new_password(client, brf_a):
    response = client.post(reverse("portal:password_reset"), {"email": brf_a.board.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/portal/password/reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "Ny lösenfras 2026!", "new_password2": "Ny lösenfras 2026!"})
    assert response.status_code == 302
    brf_a.board.refresh_from_db()
    assert brf_a.board.check_password("Ny lösenfras 2026!")


def test_a_signed_in_person_changes_the_password(board_client, brf_a):
    brf_a.board.set_password("old secret 123")
    brf_a.board.save()
    board_client.force_login(brf_a.board)
    response = board_client.post(reverse("portal:password_change"), {
        "old_password": "old secret 123", "new_password1": "Ny lösenfras 2026!", "new_password2": "Ny lösenfras 2026!"})
    assert response.status_code == 302
    brf_a.board.refresh_from_db()
    assert brf_a.board.check_password("Ny lösenfras 2026!")


@override_settings(USE_THOUSAND_SEPARATOR=True)
def test_money_and_energy_are_written_the_readers_way():
    with translation.override("sv"):
        assert money(Decimal("3324.7")) == "3\u00a0324,70\u00a0kr"
        assert kwh(930050) == "930,05"
    with translation.override("en"):
        assert money(Decimal("3324.7")) == "SEK\u00a03,324.70"
        assert kwh(1234567, 1) == "1,234.6"
    assert money(None) == ""
