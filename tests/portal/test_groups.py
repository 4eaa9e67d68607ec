"""The portal's "Groups & prices" pages: user groups, the price each group pays (now or scheduled, the 7 % / 30 days'
notice rule explained in words) and the monthly fees on residents' invoices — for admins, read-only for viewers,
404 across organizations, audited."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone

from accounts.models import AuditLogEntry, UserGroup
from billing.models import RecurringFee, Tariff, TariffAssignment
from billing.services.tariffs import tariff_assign, tariff_create
from csms.portal.views.groups import first_notice_day
from tests.accounts.factories import UserGroupFactory
from tests.charging.factories import ChargePointFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def viewer_client(client, viewer_a):
    client.force_login(viewer_a)
    return client


def make_tariff(org, price, name=None, **values):
    return tariff_create(organization=org, name=name or f"Tariff {price}", currency="SEK", acting_user=None,
                         reason="test", now=timezone.now() - timedelta(days=90), energy_price_ac=D(price),
                         energy_price_dc=D(price), **values)


@pytest.fixture
def station(brf_a):
    """A station of BRF A at 4.00 per kWh since 40 days."""
    charge_point = ChargePointFactory(organization=brf_a.org, location=LocationFactory(organization=brf_a.org))
    EvseFactory(charge_point=charge_point, evse_id=1)
    since = timezone.now() - timedelta(days=40)
    tariff_assign(tariff=make_tariff(brf_a.org, "4.00"), charge_point=charge_point, valid_from=since,
                  acting_user=None, reason="test", now=since)
    return charge_point


def day(value):
    return value.strftime("%Y-%m-%d")


# --- Pages ----------------------------------------------------------------------------------------------------------
def test_the_list_shows_the_groups_and_prices_of_the_organization_only(board_client, brf_a, brf_b):
    make_tariff(brf_a.org, "2.50", name="Members A")
    make_tariff(brf_b.org, "9.00", name="Members B")
    response = board_client.get(reverse("portal:groups"))
    assert response.status_code == 200
    page = response.content.decode()
    assert brf_a.group.name in page
    assert "Members A" in page
    assert reverse("portal:groups_new") in page
    assert brf_b.group.name not in page
    assert "Members B" not in page


def test_a_viewer_sees_the_pages_without_the_buttons_to_change(viewer_client, brf_a):
    page = viewer_client.get(reverse("portal:groups")).content.decode()
    assert brf_a.group.name in page
    assert reverse("portal:groups_new") not in page
    response = viewer_client.get(reverse("portal:groups_group", args=[brf_a.group.pk]))
    assert response.status_code == 200
    assert reverse("portal:groups_price", args=[brf_a.group.pk]) not in response.content.decode()
    assert viewer_client.get(reverse("portal:groups_fees")).status_code == 200


def _add_groups(tenant, station, count):
    tariff = Tariff.objects.get(organization=tenant.org, name="Tariff 4.00")
    for _ in range(count):
        group = UserGroupFactory(organization=tenant.org)
        group.members.add(*tenant.residents)
        tariff_assign(tariff=tariff, charge_point=station, user_group=group, valid_from=timezone.now(),
                      acting_user=None, reason="test", now=timezone.now())


def test_the_list_needs_the_same_queries_for_2_and_20_groups(board_client, brf_a, station):
    _add_groups(brf_a, station, 1)
    with CaptureQueriesContext(connection) as few:
        board_client.get(reverse("portal:groups"))
    _add_groups(brf_a, station, 18)
    with CaptureQueriesContext(connection) as many:
        response = board_client.get(reverse("portal:groups"))
    assert len(response.context["page"]) == 20
    assert len(many) == len(few)


def test_the_fee_list_needs_the_same_queries_for_2_and_20_fees(board_client, brf_a):
    for index in range(2):
        RecurringFee.objects.create(organization=brf_a.org, name=f"Fee {index}", amount=D("10"))
    with CaptureQueriesContext(connection) as few:
        board_client.get(reverse("portal:groups_fees"))
    for index in range(2, 20):
        RecurringFee.objects.create(organization=brf_a.org, name=f"Fee {index}", amount=D("10"))
    with CaptureQueriesContext(connection) as many:
        response = board_client.get(reverse("portal:groups_fees"))
    assert len(response.context["page"]) == 20
    assert len(many) == len(few)


# --- Groups ---------------------------------------------------------------------------------------------------------
def test_an_admin_creates_and_renames_a_group_with_audit_rows(board_client, brf_a):
    response = board_client.post(reverse("portal:groups_new"), {"name": "Garage B", "reason": "New garage"})
    group = UserGroup.objects.get(organization=brf_a.org, name="Garage B")
    assert response["Location"] == reverse("portal:groups_group", args=[group.pk])
    board_client.post(reverse("portal:groups_rename", args=[group.pk]),
                      {"name": "Garage Bergen", "description": "", "reason": "Renamed by the board"})
    group.refresh_from_db()
    assert group.name == "Garage Bergen"
    entry = AuditLogEntry.objects.get(action="usergroup.changed", target_id=str(group.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Renamed by the board")
    assert AuditLogEntry.objects.get(action="usergroup.created", target_id=str(group.pk)).actor == brf_a.board


def test_a_duplicate_group_name_is_a_form_error(board_client, brf_a):
    response = board_client.post(reverse("portal:groups_new"), {"name": brf_a.group.name, "reason": "x"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert UserGroup.objects.filter(organization=brf_a.org).count() == 1


def test_a_viewer_changes_nothing(viewer_client, brf_a, station):
    tariff = make_tariff(brf_a.org, "2.00")
    fee = RecurringFee.objects.create(organization=brf_a.org, name="Parking", amount=D("300"))
    posts = [
        (reverse("portal:groups_new"), {"name": "X", "reason": "x"}),
        (reverse("portal:groups_rename", args=[brf_a.group.pk]), {"name": "X", "reason": "x"}),
        (reverse("portal:groups_price", args=[brf_a.group.pk]),
         {"tariff": tariff.pk, "valid_from": day(timezone.localdate()), "reason": "x"}),
        (reverse("portal:groups_tariff_new"), {"name": "T", "energy_price": "1", "currency": "SEK", "reason": "x"}),
        (reverse("portal:groups_fees"), {"name": "F", "amount": "1", "vat_rate": "25", "reason": "x"}),
        (reverse("portal:groups_fee_end", args=[fee.pk]), {"reason": "x"}),
    ]
    for url, data in posts:
        assert viewer_client.post(url, data).status_code == 403, url
    assert list(UserGroup.objects.filter(organization=brf_a.org)) == [brf_a.group]
    assert not TariffAssignment.objects.filter(user_group=brf_a.group).exists()
    assert not Tariff.objects.filter(name="T").exists()
    assert not RecurringFee.objects.filter(name="F").exists()
    fee.refresh_from_db()
    assert fee.is_active


def test_another_organizations_ids_are_404(board_client, brf_a, brf_b):
    other_tariff = make_tariff(brf_b.org, "2.00")
    other_price = tariff_assign(tariff=other_tariff, user_group=brf_b.group, valid_from=timezone.now(),
                                acting_user=None, reason="test", now=timezone.now())
    other_fee = RecurringFee.objects.create(organization=brf_b.org, name="Parking", amount=D("300"))
    assert board_client.get(reverse("portal:groups_group", args=[brf_b.group.pk])).status_code == 404
    posts = [
        (reverse("portal:groups_rename", args=[brf_b.group.pk]), {"name": "X", "reason": "x"}),
        (reverse("portal:groups_price", args=[brf_b.group.pk]),
         {"tariff": other_tariff.pk, "valid_from": day(timezone.localdate()), "reason": "x"}),
        (reverse("portal:groups_price_end", args=[other_price.pk]),
         {"valid_until": day(timezone.localdate() + timedelta(days=40)), "reason": "x"}),
        (reverse("portal:groups_fee_end", args=[other_fee.pk]), {"reason": "x"}),
    ]
    for url, data in posts:
        assert board_client.post(url, data).status_code == 404, url
    brf_b.group.refresh_from_db()
    other_price.refresh_from_db()
    other_fee.refresh_from_db()
    assert brf_b.group.name != "X"
    assert other_price.valid_until is None
    assert other_fee.is_active


def test_another_organizations_tariff_is_not_a_choice(board_client, brf_a, brf_b):
    response = board_client.post(reverse("portal:groups_price", args=[brf_a.group.pk]), {
        "tariff": make_tariff(brf_b.org, "1.00").pk, "valid_from": day(timezone.localdate()), "reason": "x"})
    assert response.status_code == 200
    assert response.context["price_form"].errors["tariff"]


# --- Prices ---------------------------------------------------------------------------------------------------------
def test_an_admin_creates_a_free_price_and_gives_it_to_a_group_at_once(board_client, brf_a, station):
    response = board_client.post(reverse("portal:groups_tariff_new"), {
        "name": "Board members", "free": "on", "currency": "SEK", "reason": "Board decision 3"})
    assert response.status_code == 302
    tariff = Tariff.objects.get(organization=brf_a.org, name="Board members")
    assert tariff.free
    response = board_client.post(reverse("portal:groups_price", args=[brf_a.group.pk]), {
        "tariff": tariff.pk, "valid_from": day(timezone.localdate()), "reason": "Board decision 3"})
    assert response.status_code == 302
    assignment = TariffAssignment.objects.get(user_group=brf_a.group)
    assert assignment.charge_point is None
    assert assignment.valid_from <= timezone.now()
    entry = AuditLogEntry.objects.get(action="tariffassignment.created", target_id=str(assignment.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Board decision 3")
    page = board_client.get(reverse("portal:groups_group", args=[brf_a.group.pk])).content.decode()
    assert "Board members" in page
    assert "In force" in page


def test_a_price_without_an_amount_is_a_form_error(board_client, brf_a):
    response = board_client.post(reverse("portal:groups_tariff_new"), {
        "name": "Nothing", "energy_price": "", "currency": "SEK", "reason": "x"})
    assert response.context["form"].errors["energy_price"]
    assert not Tariff.objects.filter(name="Nothing").exists()


def test_a_rise_over_7_percent_needs_30_days_notice_and_passes_with_a_later_date(board_client, brf_a, station):
    dearer = make_tariff(brf_a.org, "4.50", name="Members 4.50")  # +12.5 % on the 4.00 the group pays today
    url = reverse("portal:groups_price", args=[brf_a.group.pk])
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = board_client.post(url, {"tariff": dearer.pk, "charge_point": station.pk,
                                       "valid_from": day(tomorrow), "reason": "Board decision 7"})
    assert response.status_code == 200
    first_day = first_notice_day(timezone.now())
    expected = ("A price increase of more than 7 % must be announced 30 days ahead: choose a date from "
                f"{formats.date_format(first_day, 'j M Y')}.")
    assert response.context["price_form"].errors["valid_from"] == [expected]  # not repeated in the service's words
    assert expected in response.content.decode().replace("&nbsp;", " ")
    assert not TariffAssignment.objects.filter(user_group=brf_a.group).exists()
    assert not AuditLogEntry.objects.filter(action="tariffassignment.created", reason="Board decision 7").exists()

    response = board_client.post(url, {"tariff": dearer.pk, "charge_point": station.pk,
                                       "valid_from": day(first_day), "reason": "Board decision 7"})
    assert response.status_code == 302
    scheduled = TariffAssignment.objects.get(user_group=brf_a.group)
    assert timezone.localtime(scheduled.valid_from).date() == first_day
    assert scheduled.valid_from >= timezone.now() + timedelta(days=30)
    assert AuditLogEntry.objects.get(action="tariffassignment.created", reason="Board decision 7")
    page = board_client.get(reverse("portal:groups_group", args=[brf_a.group.pk])).content.decode()
    assert "Scheduled" in page


def test_a_rise_within_7_percent_applies_at_once(board_client, brf_a, station):
    slightly = make_tariff(brf_a.org, "4.20", name="Members 4.20")  # +5 %
    response = board_client.post(reverse("portal:groups_price", args=[brf_a.group.pk]), {
        "tariff": slightly.pk, "charge_point": station.pk, "valid_from": day(timezone.localdate()), "reason": "x"})
    assert response.status_code == 302
    assert TariffAssignment.objects.filter(user_group=brf_a.group).count() == 1


def test_a_past_date_is_a_form_error_and_not_the_notice_text(board_client, brf_a, station):
    response = board_client.post(reverse("portal:groups_price", args=[brf_a.group.pk]), {
        "tariff": make_tariff(brf_a.org, "3.00").pk, "valid_from": day(timezone.localdate() - timedelta(days=2)),
        "reason": "x"})
    errors = response.context["price_form"].errors["valid_from"]
    assert errors
    assert not any("7 %" in error for error in errors)


def test_ending_a_group_price_is_audited(board_client, brf_a, station):
    cheap = make_tariff(brf_a.org, "4.00", name="Same")
    price = tariff_assign(tariff=cheap, user_group=brf_a.group, valid_from=timezone.now(), acting_user=None,
                          reason="test", now=timezone.now())
    end = timezone.localdate() + timedelta(days=10)
    response = board_client.post(reverse("portal:groups_price_end", args=[price.pk]),
                                 {"valid_until": day(end), "reason": "Group dissolved"})
    assert response.status_code == 302
    price.refresh_from_db()
    assert timezone.localtime(price.valid_until).date() == end
    assert AuditLogEntry.objects.get(action="tariffassignment.ended", target_id=str(price.pk)).reason == \
        "Group dissolved"


def test_ending_without_a_reason_is_a_form_error(board_client, brf_a, station):
    price = tariff_assign(tariff=make_tariff(brf_a.org, "4.00", name="Same"), user_group=brf_a.group,
                          valid_from=timezone.now(), acting_user=None, reason="test", now=timezone.now())
    response = board_client.post(reverse("portal:groups_price_end", args=[price.pk]),
                                 {"valid_until": day(timezone.localdate() + timedelta(days=3)), "reason": ""})
    assert response.status_code == 200
    assert response.context["end_form"].errors["reason"]
    price.refresh_from_db()
    assert price.valid_until is None


# --- Monthly fees ---------------------------------------------------------------------------------------------------
def test_an_admin_adds_and_ends_a_monthly_fee_with_audit_rows(board_client, brf_a):
    response = board_client.post(reverse("portal:groups_fees"), {
        "name": "Parking", "amount": "350.00", "vat_rate": "25", "reason": "Annual meeting"})
    assert response.status_code == 302
    fee = RecurringFee.objects.get(organization=brf_a.org)
    assert (fee.name, fee.amount, fee.is_active, fee.applies_to_residents) == ("Parking", D("350.00"), True, True)
    entry = AuditLogEntry.objects.get(action="recurringfee.created", target_id=str(fee.pk))
    assert (entry.actor, entry.reason, entry.organization) == (brf_a.board, "Annual meeting", brf_a.org)
    page = board_client.get(reverse("portal:groups_fees")).content.decode()
    assert "Parking" in page
    assert "350" in page

    board_client.post(reverse("portal:groups_fee_end", args=[fee.pk]), {"reason": "Garage closed"})
    fee.refresh_from_db()
    assert not fee.is_active
    assert AuditLogEntry.objects.get(action="recurringfee.ended", target_id=str(fee.pk)).reason == "Garage closed"


def test_a_fee_form_error_is_shown(board_client, brf_a):
    response = board_client.post(reverse("portal:groups_fees"), {"name": "Parking", "amount": "-1", "vat_rate": "25",
                                                                 "reason": "x"})
    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    response = board_client.post(reverse("portal:groups_fees"), {"name": "Parking", "amount": "1", "vat_rate": "25",
                                                                 "reason": ""})
    assert response.context["form"].errors["reason"]
    assert not RecurringFee.objects.exists()


@pytest.mark.parametrize("name", ["portal:groups", "portal:groups_new", "portal:groups_tariff_new",
                                  "portal:groups_fees"])
def test_every_page_renders_for_an_admin_and_a_viewer(client, brf_a, viewer_a, name):
    for user in (brf_a.board, viewer_a):
        client.force_login(user)
        response = client.get(reverse(name))
        assert response.status_code == 200, (name, user)
        assert b"<h1>" in response.content
