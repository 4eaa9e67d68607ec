"""A resident's own pages in the portal: sessions by month, invoices with the pay link and PDF, removing the saved
card, blocking a lost tag, and bookings (rule errors on the form, cancelling). Nobody else's rows show, and
anyone else's id is a 404."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken
from billing.models import Invoice, InvoiceSeries, Reminder, SessionCost, StripeCustomer
from billing.services.payments import invoice_for_pay_token
from charging.models import Booking, BookingPolicy
from charging.services import stations
from charging.services.bookings import booking_create
from tests.charging.factories import ChargingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def station(brf_a):
    BookingPolicy.objects.create(organization=brf_a.org, max_duration_minutes=120)
    return stations.charge_point_register(identity="RES-1", organization=brf_a.org, evses=2, acting_user=None,
                                          reason="test")


@pytest.fixture
def other_station(brf_b):
    BookingPolicy.objects.create(organization=brf_b.org)
    return stations.charge_point_register(identity="RES-B", organization=brf_b.org, evses=1, acting_user=None,
                                          reason="test")


@pytest.fixture
def me(brf_a):
    return brf_a.residents[0]


@pytest.fixture
def resident_client(client, me):
    client.force_login(me)
    return client


def session(station, user, *, energy_wh=1000, at=datetime(2026, 10, 5, 12, 0, tzinfo=UTC), price=None):
    row = ChargingSessionFactory(charge_point=station, user=user, energy_wh=energy_wh, started_at=at,
                                 stopped_at=at + timedelta(hours=1))
    if price is not None:
        SessionCost.objects.create(session=row, currency="SEK", energy_wh=energy_wh, total_excl_vat=price * 4 / 5,
                                   total_vat=price / 5, total_incl_vat=price, priced_at=at)
    return row


def invoice(org, buyer, *, number, status=Invoice.Status.ISSUED, total="125.00", pdf=False):
    series = InvoiceSeries.objects.get_or_create(seller=org, defaults={"prefix": "1"})[0]
    row = Invoice.objects.create(series=series, number=number, buyer=buyer, organization=org,
                                 period_start=date(2000 + number, 1, 1),
                                 period_end=date(2000 + number, 1, 28),
                                 issue_date=date(2026, 11, 1),
                                 due_date=timezone.localdate() - timedelta(days=1),
                                 currency="SEK", total=Decimal(total), vat=Decimal(total) / 5,
                                 taxable=Decimal(total) * 4 / 5, ocr=f"9{number:05d}", status=status)
    if pdf:
        row.pdf.save(f"inv-{number}.pdf", ContentFile(b"%PDF-1.4 test"), save=True)
    return row


def tomorrow_at(hour):
    day = timezone.localdate() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.get_current_timezone())


# --- pages and roles ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["portal:my_sessions", "portal:my_invoices", "portal:my_tags", "portal:my_bookings"])
def test_resident_pages_render_for_the_resident_and_not_for_the_board(name, resident_client, brf_a, station):
    assert resident_client.get(reverse(name)).status_code == 200
    board = Client()
    board.force_login(brf_a.board)
    assert board.get(reverse(name)).status_code == 404


@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_my_sessions_show_only_my_own_with_energy_and_cost(resident_client, station, me, brf_a):
    session(station, me, energy_wh=12_345, price=Decimal("31.25"))
    session(station, brf_a.residents[1], energy_wh=98_765)
    page = resident_client.get(reverse("portal:my_sessions")).content.decode()
    assert "12,35" in page
    assert "31,25" in page
    assert "98,77" not in page
    assert str(station) in page


def test_my_sessions_filter_by_month(resident_client, station, me):
    session(station, me, energy_wh=11_000, at=datetime(2026, 9, 10, 10, tzinfo=UTC))
    session(station, me, energy_wh=22_000, at=datetime(2026, 10, 10, 10, tzinfo=UTC))
    response = resident_client.get(reverse("portal:my_sessions"), {"month": "2026-10"})
    assert [row.energy_wh for row in response.context["page"]] == [22_000]
    assert resident_client.get(reverse("portal:my_sessions"), {"month": "oktober"}).status_code == 400


def _count(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_queries_are_the_same_for_2_and_20_rows(resident_client, station, me, brf_a):
    urls = [reverse(name) for name in ("portal:my_sessions", "portal:my_invoices", "portal:my_tags",
                                       "portal:my_bookings")]

    def add(start, end):
        for n in range(start, end):
            session(station, me, at=datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=n), price=Decimal("10"))
            invoice(brf_a.org, me, number=n + 1)
            IdToken.objects.create(organization=brf_a.org, user=me, uid=f"AA{n:06d}")
            Booking.objects.create(evse=station.evses.first(), user=me, starts_at=tomorrow_at(0) + timedelta(hours=n),
                                   ends_at=tomorrow_at(0) + timedelta(hours=n, minutes=30))

    add(0, 2)
    few = [_count(resident_client, url) for url in urls]
    add(2, 20)
    many = [_count(resident_client, url) for url in urls]
    assert few == many


# --- invoices and card --------------------------------------------------------------------------------------------

def test_my_invoices_have_status_a_pay_link_and_the_pdf(resident_client, me, brf_a):
    unpaid = invoice(brf_a.org, me, number=1, pdf=True)
    paid = invoice(brf_a.org, me, number=2, status=Invoice.Status.PAID, total="80.00")
    invoice(brf_a.org, me, number=3, status=Invoice.Status.DRAFT, total="999.00")
    invoice(brf_a.org, brf_a.residents[1], number=4, total="555.00")
    Reminder.objects.create(invoice=unpaid, level=2, reminded_on=timezone.localdate(),
                            pay_by=timezone.localdate() + timedelta(days=7), amount_due=unpaid.total)
    response = resident_client.get(reverse("portal:my_invoices"))
    page = response.content.decode()
    assert [row.pk for row in response.context["page"]] == sorted([unpaid.pk, paid.pk], reverse=True)
    pay_prefix = reverse("billing:pay", args=["T"])[:-2]
    tokens = re.findall(re.escape(pay_prefix) + r"([^/\"]+)/", page)  # the token is timestamped: compare what it names
    assert [invoice_for_pay_token(token) for token in tokens] == [unpaid]
    assert "999,00" not in page
    assert "555,00" not in page
    assert "Reminder 2 sent" in page
    shown = {row.pk: (row.payable, row.overdue) for row in response.context["page"]}
    assert shown == {unpaid.pk: (True, True), paid.pk: (False, False)}  # due yesterday
    pdf = resident_client.get(reverse("portal:my_invoice_pdf", args=[unpaid.pk]))
    assert pdf.status_code == 200
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")


def test_someone_elses_invoice_pdf_is_404(resident_client, me, brf_a, brf_b):
    neighbour = invoice(brf_a.org, brf_a.residents[1], number=1, pdf=True)
    foreign = invoice(brf_b.org, brf_b.residents[0], number=2, pdf=True)
    for row in (neighbour, foreign):
        assert resident_client.get(reverse("portal:my_invoice_pdf", args=[row.pk])).status_code == 404


def test_removing_the_saved_card_clears_it_and_is_audited(resident_client, me, brf_a):
    StripeCustomer.objects.create(user=me, customer_id="cus_me", payment_method_id="pm_card",
                                  card_saved_at=timezone.now())
    assert resident_client.get(reverse("portal:my_invoices")).context["card"] is not None
    response = resident_client.post(reverse("portal:my_card_remove"), {"reason": "New card soon"})
    assert response.status_code == 302
    customer = StripeCustomer.objects.get(user=me)
    assert (customer.payment_method_id, customer.card_saved_at) == ("", None)
    entry = AuditLogEntry.objects.get(action="billing.card_removed")
    assert (entry.actor, entry.reason, entry.organization) == (me, "New card soon", brf_a.org)
    assert resident_client.get(reverse("portal:my_invoices")).context["card"] is None


# --- tags ---------------------------------------------------------------------------------------------------------

def test_i_block_my_lost_tag_with_a_reason(resident_client, me, brf_a):
    tag = brf_a.tokens[0]
    response = resident_client.post(reverse("portal:my_tag_block", args=[tag.pk]), {"reason": "Lost it"})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.status, tag.blocked_reason, tag.blocked_by) == (IdToken.Status.BLOCKED, "Lost it", me)
    assert AuditLogEntry.objects.filter(action="id_token.blocked", actor=me, reason="Lost it").count() == 1


def test_blocking_without_a_reason_is_a_form_error(resident_client, brf_a):
    tag = brf_a.tokens[0]
    response = resident_client.post(reverse("portal:my_tag_block", args=[tag.pk]), {"reason": " "})
    assert response.status_code == 400
    assert response.context["block_form"].errors["reason"]
    tag.refresh_from_db()
    assert tag.status == IdToken.Status.ACTIVE


def test_someone_elses_tag_is_404(resident_client, brf_a, brf_b):
    for tag in (brf_a.tokens[1], brf_b.tokens[0]):
        assert resident_client.post(reverse("portal:my_tag_block", args=[tag.pk]),
                                    {"reason": "x"}).status_code == 404
        tag.refresh_from_db()
        assert tag.status == IdToken.Status.ACTIVE
    page = resident_client.get(reverse("portal:my_tags")).content.decode()
    assert brf_a.tokens[0].uid in page
    assert brf_a.tokens[1].uid not in page


# --- bookings -----------------------------------------------------------------------------------------------------

def _form(station, start, end, number=1):
    return {"evse": station.evses.get(evse_id=number).pk, "starts_at": f"{timezone.localtime(start):%Y-%m-%dT%H:%M}",
            "ends_at": f"{timezone.localtime(end):%Y-%m-%dT%H:%M}"}


def test_i_book_a_charging_point(resident_client, station, me):
    response = resident_client.post(reverse("portal:my_bookings"), _form(station, tomorrow_at(10), tomorrow_at(11)))
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.user, booking.starts_at, booking.ends_at) == (me, tomorrow_at(10), tomorrow_at(11))
    assert AuditLogEntry.objects.filter(action="booking.created", actor=me).count() == 1


def test_the_booking_rules_show_as_form_errors(resident_client, station, me):
    response = resident_client.post(reverse("portal:my_bookings"), _form(station, tomorrow_at(10), tomorrow_at(13)))
    assert response.status_code == 400
    assert response.context["form"].errors["ends_at"] == ["A booking may last at most 120 minutes."]
    assert not Booking.objects.exists()


def test_another_associations_evse_cannot_be_booked(resident_client, station, other_station):
    response = resident_client.post(reverse("portal:my_bookings"),
                                    _form(other_station, tomorrow_at(10), tomorrow_at(11)))
    assert response.status_code == 400
    assert response.context["form"].errors["evse"]
    assert not Booking.objects.exists()


def test_i_cancel_my_booking_but_not_someone_elses(resident_client, station, other_station, me, brf_a, brf_b):
    mine = booking_create(evse=station.evses.get(evse_id=1), user=me, starts_at=tomorrow_at(10),
                          ends_at=tomorrow_at(11), acting_user=me, reason="test", now=timezone.now())
    theirs = booking_create(evse=station.evses.get(evse_id=2), user=brf_a.residents[1], starts_at=tomorrow_at(10),
                            ends_at=tomorrow_at(11), acting_user=None, reason="test", now=timezone.now())
    foreign = booking_create(evse=other_station.evses.get(), user=brf_b.residents[0], starts_at=tomorrow_at(10),
                             ends_at=tomorrow_at(11), acting_user=None, reason="test", now=timezone.now())
    for other in (theirs, foreign):
        assert resident_client.post(reverse("portal:my_booking_cancel", args=[other.pk]),
                                    {"reason": "x"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == Booking.Status.BOOKED
    assert resident_client.post(reverse("portal:my_booking_cancel", args=[mine.pk]), {"reason": ""}).status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == (Booking.Status.CANCELLED, Booking.Status.BOOKED)
    assert AuditLogEntry.objects.get(action="booking.cancelled").actor == me
    page = resident_client.get(reverse("portal:my_bookings")).content.decode()
    assert reverse("portal:my_booking_cancel", args=[theirs.pk]) not in page
