"""The billing admin: tariffs and assignments scoped to the board's own organization, the notice rule as a form
error, the fixed currency, the price preview, spot prices per day, and support's gap list; the invoice list's
filters (overdue as dunning defines it, period, organization) and amounts, Stripe customers, Swish payment requests
and the payments' kinds. The invoice actions are in test_invoice_admin_actions."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, Membership
from billing.models import (
    Invoice,
    Payment,
    SpotPriceGap,
    StripeCustomer,
    SwishPaymentRequest,
    Tariff,
    TariffAssignment,
)
from billing.services import dunning
from billing.services.payments import payment_record
from billing.services.spot_prices import gap_record, store
from billing.services.tariffs import tariff_assign, tariff_create
from billing.spot import ElprisetJustNu, local_day_bounds
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.billing import test_invoice_admin_actions as invoice_actions
from tests.billing.test_invoice_admin_actions import at, grant_view_invoices, make_invoice
from tests.charging.factories import ChargePointFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db
world = invoice_actions.world  # the invoices' fixture, shared

D = Decimal
FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def url(model, view, *args):
    return reverse(f"admin:billing_{model._meta.model_name}_{view}", args=args)


def make_tariff(org, price, name=None, **values):
    return tariff_create(organization=org, name=name or f"Tariff {price}", currency="SEK", acting_user=None,
                         reason="test", now=timezone.now() - timedelta(days=90), energy_price_ac=D(price),
                         energy_price_dc=D(price), **values)


@pytest.fixture
def site(brf_a, brf_b):
    """A station of each association; A's has been at 4.00 for 40 days, B's at 2.00."""
    now = timezone.now()
    stations = {}
    for tenant, price in ((brf_a, "4.00"), (brf_b, "2.00")):
        location = LocationFactory(organization=tenant.org, name=f"Garage {tenant.org.name}")
        station = ChargePointFactory(organization=tenant.org, location=location)
        EvseFactory(charge_point=station, evse_id=1)
        tariff_assign(tariff=make_tariff(tenant.org, price, name=f"Boende {tenant.org.name}"),
                      charge_point=station, valid_from=now - timedelta(days=40), acting_user=None, reason="test",
                      now=now - timedelta(days=40))
        stations[tenant.org.name] = station
    return stations


def split(moment):
    local = timezone.localtime(moment)
    return {"valid_from_0": local.strftime("%Y-%m-%d"), "valid_from_1": local.strftime("%H:%M:%S")}


TARIFF_POST = {
    "name": "Boende 2026", "currency": "SEK", "is_active": "on", "energy_price_ac": "4.00",
    "energy_price_dc": "5.00", "time_price_per_minute": "0", "free_minutes": "0", "session_fee": "0",
    "vat_mode": "incl", "vat_rate": "25", "spot_multiplier": "1", "spot_markup": "0", "price_floor": "",
    "price_cap": "", "assignments-TOTAL_FORMS": "0", "assignments-INITIAL_FORMS": "0",
    "change_reason": "Board decision 2026-02",
}


# --- Tenant scoping ---------------------------------------------------------------------------------------------
def test_a_board_sees_only_its_own_tariffs_and_assignments(client, brf_a, brf_b, site):
    client.force_login(brf_a.board)
    tariffs = client.get(url(Tariff, "changelist"))
    assert [tariff.name for tariff in tariffs.context["cl"].result_list] == ["Boende BRF A"]
    assignments = client.get(url(TariffAssignment, "changelist"))
    assert [a.tariff.name for a in assignments.context["cl"].result_list] == ["Boende BRF A"]
    other = Tariff.objects.get(name="Boende BRF B")
    assert client.get(url(Tariff, "change", other.pk)).status_code == 302  # "does not exist" for this board
    other_assignment = TariffAssignment.objects.get(tariff=other)
    assert client.get(url(TariffAssignment, "change", other_assignment.pk)).status_code == 302


def test_a_board_cannot_create_a_tariff_for_another_organization(client, brf_a, brf_b):
    client.force_login(brf_a.board)
    response = client.post(url(Tariff, "add"), {**TARIFF_POST, "organization": brf_b.org.pk})
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Tariff.objects.exists()


def test_a_board_cannot_assign_to_another_organizations_station(client, brf_a, brf_b, site):
    client.force_login(brf_a.board)
    own = Tariff.objects.get(name="Boende BRF A")
    response = client.post(url(TariffAssignment, "add"), {
        "tariff": own.pk, "charge_point": site["BRF B"].pk, **split(timezone.now()), "change_reason": "test"})
    assert response.status_code == 200
    assert "charge_point" in response.context["adminform"].form.errors
    assert TariffAssignment.objects.count() == 2


def test_a_viewer_board_member_cannot_add_tariffs(client, brf_a):
    viewer = MembershipFactory(organization=brf_a.org, role=Membership.Role.ORG_VIEWER,
                               user=UserFactory(is_staff=True)).user
    from accounts.services.organizations import user_grant_admin_access

    user_grant_admin_access(user=viewer, organization=brf_a.org, acting_user=None, reason="test")
    client.force_login(viewer)
    assert client.get(url(Tariff, "changelist")).status_code == 200
    assert client.get(url(Tariff, "add")).status_code == 403


# --- Tariffs ------------------------------------------------------------------------------------------------------
def test_a_tariff_added_in_the_admin_is_audited(client, brf_a):
    client.force_login(brf_a.board)
    response = client.post(url(Tariff, "add"), {**TARIFF_POST, "organization": brf_a.org.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors
    tariff = Tariff.objects.get()
    assert (tariff.energy_price_dc, tariff.currency) == (D("5.00"), "SEK")
    entry = AuditLogEntry.objects.get(action="tariff.created")
    assert (entry.actor, entry.reason) == (brf_a.board, "Board decision 2026-02")
    history = client.get(url(Tariff, "history", tariff.pk)).content.decode()
    assert "Board decision 2026-02" in history


def test_the_currency_is_read_only_once_the_tariff_exists(client, brf_a, site):
    client.force_login(brf_a.board)
    tariff = Tariff.objects.get(name="Boende BRF A")
    page = client.get(url(Tariff, "change", tariff.pk))
    assert "currency" not in page.context["adminform"].form.fields
    response = client.post(url(Tariff, "change", tariff.pk), {
        **TARIFF_POST, "name": tariff.name, "currency": "EUR", "energy_price_ac": "4.00", "energy_price_dc": "4.00",
        "assignments-TOTAL_FORMS": "1", "assignments-INITIAL_FORMS": "1",
        "assignments-0-id": TariffAssignment.objects.get(tariff=tariff).pk, "assignments-0-tariff": tariff.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors
    tariff.refresh_from_db()
    assert tariff.currency == "SEK"


@pytest.mark.parametrize(("price", "saved"), [("4.28", True), ("4.29", False)])
def test_raising_a_tariff_in_force_shows_the_rule_as_a_form_error(client, brf_a, site, price, saved):
    client.force_login(brf_a.board)
    tariff = Tariff.objects.get(name="Boende BRF A")
    response = client.post(url(Tariff, "change", tariff.pk), {
        **TARIFF_POST, "name": tariff.name, "energy_price_ac": price, "energy_price_dc": price,
        "assignments-TOTAL_FORMS": "1", "assignments-INITIAL_FORMS": "1",
        "assignments-0-id": TariffAssignment.objects.get(tariff=tariff).pk, "assignments-0-tariff": tariff.pk})
    tariff.refresh_from_db()
    if saved:
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert tariff.energy_price_ac == D(price)
        return
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "30 days" in errors
    assert tariff.energy_price_ac == D("4.00")


# --- Assignments --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("price", "notice", "saved"), [
    pytest.param("4.28", timedelta(0), True, id="4.28-now"),
    pytest.param("4.29", timedelta(0), False, id="4.29-now"),
    pytest.param("4.29", timedelta(days=30, minutes=5), True, id="4.29-with-30-days-notice"),
])
def test_the_notice_rule_in_the_assignment_form(client, brf_a, site, price, notice, saved):
    client.force_login(brf_a.board)
    tariff = make_tariff(brf_a.org, price, name="New")
    now = timezone.now()
    response = client.post(url(TariffAssignment, "add"), {
        "tariff": tariff.pk, "charge_point": site["BRF A"].pk, **split(now + notice),
        "change_reason": "Price list 2026"})
    created = TariffAssignment.objects.filter(tariff=tariff)
    if saved:
        assert response.status_code == 302, response.context["adminform"].form.errors
        entry = AuditLogEntry.objects.get(action="tariffassignment.created", target_id=str(created.get().pk))
        assert (entry.actor, entry.reason) == (brf_a.board, "Price list 2026")
        return
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["valid_from"]
    earliest = timezone.localtime(now + timedelta(days=30)).strftime("%Y-%m-%d")
    assert earliest in errors[0]
    assert not created.exists()


def test_ending_an_assignment_in_its_form_is_checked_and_audited(client, brf_a, site):
    client.force_login(brf_a.board)
    station = site["BRF A"]
    tariff_assign(tariff=make_tariff(brf_a.org, "5.00", name="Location"), location=station.location,
                  valid_from=timezone.now(), acting_user=None, reason="test", now=timezone.now())
    assignment = TariffAssignment.objects.get(charge_point=station)
    soon = timezone.localtime(timezone.now() + timedelta(days=2))
    data = {"valid_until_0": soon.strftime("%Y-%m-%d"), "valid_until_1": soon.strftime("%H:%M:%S"),
            "change_reason": "Station price ends"}
    response = client.post(url(TariffAssignment, "change", assignment.pk), data)
    # The location's 5.00 would then apply: more than 7 % above 4.00 without notice.
    assert response.status_code == 200
    assert "30 days" in response.context["adminform"].form.errors["valid_until"][0]
    later = timezone.localtime(timezone.now() + timedelta(days=31))
    response = client.post(url(TariffAssignment, "change", assignment.pk), {
        **data, "valid_until_0": later.strftime("%Y-%m-%d"), "valid_until_1": later.strftime("%H:%M:%S")})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assignment.refresh_from_db()
    assert assignment.valid_until is not None
    assert AuditLogEntry.objects.filter(action="tariffassignment.ended", reason="Station price ends").exists()


def test_the_list_filters_by_state(client, operator_staff, brf_a, site):
    tariff_assign(tariff=make_tariff(brf_a.org, "3.00", name="Later"), charge_point=site["BRF A"],
                  valid_from=timezone.now() + timedelta(days=3), acting_user=None, reason="test", now=timezone.now())
    client.force_login(operator_staff)
    scheduled = client.get(url(TariffAssignment, "changelist"), {"state": "scheduled"}).context["cl"].result_list
    in_force = client.get(url(TariffAssignment, "changelist"), {"state": "in_force"}).context["cl"].result_list
    assert [a.tariff.name for a in scheduled] == ["Later"]
    assert sorted(a.tariff.name for a in in_force) == ["Boende BRF A", "Boende BRF B"]


# --- The price preview ----------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_the_preview_shows_the_tariff_and_prices_a_sample_session(client, brf_a, site):
    station = site["BRF A"]
    driver = brf_a.residents[0]
    brf_a.group.members.add(driver)
    tariff_assign(tariff=make_tariff(brf_a.org, "0", name="Fri laddning", free=True), user_group=brf_a.group,
                  charge_point=station, valid_from=timezone.now(), acting_user=None, reason="test",
                  now=timezone.now())
    client.force_login(brf_a.board)
    at = timezone.localtime(timezone.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    evse = station.evses.get()
    page = client.get(url(TariffAssignment, "preview"), {"charge_point": station.pk, "evse": evse.pk, "at": at})
    assert page.status_code == 200
    content = page.content.decode()
    assert "Boende BRF A" in content
    # 10 kWh at 4.00 including VAT.
    assert page.context["summary"]["totals"]["incl"].replace("\xa0", " ") == "40,00 kr"
    assert page.context["preview"].sample.total_vat == D("8.00")
    member = client.get(url(TariffAssignment, "preview"), {"charge_point": station.pk, "driver": driver.pk, "at": at})
    assert member.context["preview"].tariff.name == "Fri laddning"
    assert member.context["preview"].sample.total_incl_vat == D("0.00")


def test_the_preview_of_a_dynamic_tariff_uses_the_fallback_where_no_spot_price_is_stored(client, operator_staff,
                                                                                         brf_a):
    station = ChargePointFactory(organization=brf_a.org, location=LocationFactory(organization=brf_a.org))
    EvseFactory(charge_point=station, evse_id=1)
    spot_tariff = make_tariff(brf_a.org, "0", name="Spot", dynamic=True, spot_markup=D("0.50"),
                              price_cap=D("9.00"))
    tariff_assign(tariff=spot_tariff, charge_point=station, valid_from=timezone.now(), acting_user=None,
                  reason="test", now=timezone.now())
    client.force_login(operator_staff)
    at = timezone.localtime(timezone.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    page = client.get(url(TariffAssignment, "preview"), {"charge_point": station.pk, "at": at})
    assert page.context["summary"]["fallback"] is True
    # Fallback 1.00 excl. VAT → 1.25 incl. + 0.50 markup = 1.75 per kWh; 10 kWh = 17.50.
    assert page.context["preview"].sample.total_incl_vat == D("17.50")
    assert not SpotPriceGap.objects.exists()  # a preview records nothing


def test_a_board_cannot_preview_another_organizations_station(client, brf_a, site):
    client.force_login(brf_a.board)
    at = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    page = client.get(url(TariffAssignment, "preview"), {"charge_point": site["BRF B"].pk, "at": at})
    assert page.status_code == 200
    assert page.context["preview"] is None
    assert "charge_point" in page.context["form"].errors


# --- Spot prices and gaps ---------------------------------------------------------------------------------------
def test_the_spot_price_day_page_shows_every_interval_with_a_bar(client, brf_a):
    body = (FIXTURES / "elprisetjustnu_SE3_2026-03-29.json").read_bytes()
    store(prices=ElprisetJustNu().parse(body, area="SE3"), fetched_at=timezone.now())
    client.force_login(brf_a.board)
    page = client.get(url(__import__("billing.models", fromlist=["SpotPrice"]).SpotPrice, "day"),
                      {"area": "SE3", "day": "2026-03-29", "currency": "SEK"})
    assert page.status_code == 200
    assert len(page.context["rows"]) == 92
    content = page.content.decode()
    assert 'style="width: 100%"' in content
    assert "spot-bar negative" in content
    assert page.context["spot_day"].day == date(2026, 3, 29)


def test_spot_price_gaps_are_for_support_only_and_resolved_with_a_reason(client, operator_staff, brf_a):
    start, end = local_day_bounds(date(2026, 3, 30))
    gap = gap_record(kind=SpotPriceGap.Kind.FETCH, area="SE3", start=start, end=end, now=timezone.now(),
                     source="elprisetjustnu", detail="not published")
    client.force_login(brf_a.board)
    assert client.get(url(SpotPriceGap, "changelist")).status_code == 403
    client.force_login(operator_staff)
    assert client.get(url(SpotPriceGap, "changelist")).status_code == 200
    response = client.post(url(SpotPriceGap, "changelist"), {
        "action": "mark_resolved", "_selected_action": [gap.pk], "apply": "1", "reason": "Priced by hand"})
    assert response.status_code == 302
    gap.refresh_from_db()
    assert gap.resolved_at is not None
    assert AuditLogEntry.objects.get(action="spotpricegap.resolved").reason == "Priced by hand"


def test_support_can_open_every_billing_page(client, operator_staff, brf_a, site):
    start, end = local_day_bounds(date(2026, 3, 30))
    gap = gap_record(kind=SpotPriceGap.Kind.PRICING, area="SE3", start=start, end=end, now=timezone.now(),
                     currency="SEK", fallback_price=D("1"))
    body = (FIXTURES / "elprisetjustnu_SE3_2026-03-29.json").read_bytes()
    store(prices=ElprisetJustNu().parse(body, area="SE3"), fetched_at=timezone.now())
    from billing.models import SpotPrice

    tariff = Tariff.objects.get(name="Boende BRF A")
    assignment = TariffAssignment.objects.get(tariff=tariff)
    client.force_login(operator_staff)
    pages = [url(Tariff, "changelist"), url(Tariff, "add"), url(Tariff, "change", tariff.pk),
             url(Tariff, "history", tariff.pk), url(TariffAssignment, "changelist"), url(TariffAssignment, "add"),
             url(TariffAssignment, "change", assignment.pk), url(TariffAssignment, "preview"),
             url(SpotPrice, "changelist"), url(SpotPrice, "day"), url(SpotPriceGap, "changelist"),
             url(SpotPriceGap, "change", gap.pk), url(SpotPrice, "change", SpotPrice.objects.first().pk)]
    for page in pages:
        assert client.get(page).status_code == 200, page
    preview_link = client.get(url(TariffAssignment, "changelist")).content.decode()
    assert url(TariffAssignment, "preview") in preview_link


# --- Invoices, payments, Stripe customers, Swish requests -----------------------------------------------------------
def listed(client, model, **params):
    response = client.get(url(model, "changelist"), params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def filter_specs(response) -> dict:
    return {getattr(spec, "field_path", None) or spec.parameter_name: spec
            for spec in response.context["cl"].filter_specs}


def test_the_overdue_filter_uses_dunnings_definition(client, world):
    today = timezone.localdate()
    overdue = make_invoice(world, world.a, due=today - timedelta(days=1))
    partly_paid = make_invoice(world, world.a, resident=1, due=today - timedelta(days=30))
    payment_record(invoice=partly_paid, channel="bankgiro", amount=D("149.99"), currency="SEK", paid_at=at(today),
                   external_id="bg-partly")
    paid = make_invoice(world, world.b, due=today - timedelta(days=30))
    payment_record(invoice=paid, channel="bankgiro", amount=D("150.00"), currency="SEK", paid_at=at(today),
                   external_id="bg-paid")
    due_today = make_invoice(world, world.b, resident=1, due=today)
    credited = make_invoice(world, world.a, due=today - timedelta(days=30), month=2,
                            status=Invoice.Status.CREDITED)
    note = make_invoice(world, world.a, due=today - timedelta(days=30), month=2, total="-150.00",
                        kind=Invoice.Kind.CREDIT_NOTE, credits=credited)
    client.force_login(world.staff)
    assert set(listed(client, Invoice, overdue="yes")) == {overdue, partly_paid}
    assert set(listed(client, Invoice, overdue="no")) == {paid, due_today, credited, note}
    assert set(dunning.overdue_invoices(today=today)) == {overdue, partly_paid}
    # The annotated reminder level joins the reminders; the paid sum must not multiply with them.
    dunning.dunning_run(today=today, now=timezone.now())
    assert set(listed(client, Invoice, overdue="yes")) == {overdue, partly_paid}


def test_the_period_and_organization_filters_are_scoped_to_the_user(client, world):
    january = make_invoice(world, world.a, month=1)
    february = make_invoice(world, world.a, month=2)
    other = make_invoice(world, world.b, month=3)
    grant_view_invoices(world.a.board)
    client.force_login(world.a.board)
    response = client.get(url(Invoice, "changelist"))
    specs = filter_specs(response)
    assert [value for value, _label in specs["period"].lookup_choices] == ["2026-02", "2026-01"]
    # One visible association: the filter has nothing to offer (Django hides it) and names no other.
    assert "organization" not in specs
    assert "BRF B" not in response.content.decode()
    assert listed(client, Invoice, period="2026-01") == [january]
    assert listed(client, Invoice, period="2026-03") == []
    assert listed(client, Invoice, organization__id__exact=world.a.org.pk) == [february, january]
    assert other not in listed(client, Invoice, organization__id__exact=world.b.org.pk)
    assert client.get(url(Invoice, "changelist"), {"period": "2026-13"}).status_code == 302  # ?e=1
    client.force_login(world.staff)
    staff_specs = filter_specs(client.get(url(Invoice, "changelist")))
    assert sorted(label for _pk, label in staff_specs["organization"].lookup_choices) == ["BRF A", "BRF B"]


def test_the_invoice_list_costs_the_same_queries_for_more_invoices(client, world):
    client.force_login(world.staff)
    make_invoice(world, world.a)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url(Invoice, "changelist")).status_code == 200
        return len(queries)

    few = count()
    for month in range(2, 8):
        make_invoice(world, world.b, month=month)
    assert count() == few


@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_the_invoice_page_shows_what_was_paid_and_what_is_still_due(client, world):
    invoice = make_invoice(world, world.a)
    payment_record(invoice=invoice, channel="bankgiro", amount=D("60.50"), currency="SEK",
                   paid_at=timezone.now(), external_id="bg-1")
    client.force_login(world.staff)
    page = client.get(url(Invoice, "change", invoice.pk)).content.decode().replace("\xa0", " ")
    assert '<div class="readonly">60,50 kr</div>' in page
    assert '<div class="readonly">89,50 kr</div>' in page


def test_stripe_customers_are_for_operator_staff_only(client, world):
    buyer = world.a.residents[0]
    StripeCustomer.objects.create(user=buyer, customer_id="cus_saved", payment_method_id="pm_1",
                                  card_saved_at=timezone.now())
    StripeCustomer.objects.create(user=world.a.residents[1], customer_id="cus_none")
    client.force_login(world.staff)
    rows = {customer.customer_id for customer in listed(client, StripeCustomer)}
    assert rows == {"cus_saved", "cus_none"}
    assert [c.customer_id for c in listed(client, StripeCustomer, card="yes")] == ["cus_saved"]
    content = client.get(url(StripeCustomer, "changelist")).content.decode()
    assert "pm_1" not in content
    assert 'alt="True"' in content and 'alt="False"' in content  # noqa: PT018
    customer = StripeCustomer.objects.get(customer_id="cus_saved")
    assert client.get(url(StripeCustomer, "change", customer.pk)).status_code == 200
    world.a.board.user_permissions.add(*__import__("django.contrib.auth.models", fromlist=["Permission"])
                                       .Permission.objects.filter(codename="view_stripecustomer"))
    client.force_login(world.a.board)
    assert client.get(url(StripeCustomer, "changelist")).status_code == 403


def test_swish_requests_are_scoped_to_the_invoices_association_and_link_their_payment(client, world):
    from django.contrib.auth.models import Permission

    own, other = make_invoice(world, world.a), make_invoice(world, world.b)
    payment, _created = payment_record(invoice=own, channel="swish", amount=D("150.00"), currency="SEK",
                                       paid_at=timezone.now(), external_id="swish-1")
    paid = SwishPaymentRequest.objects.create(invoice=own, instruction_uuid="A" * 32, request_id="swish-1",
                                              amount=D("150.00"), currency="SEK", status="PAID", payment=payment)
    SwishPaymentRequest.objects.create(invoice=other, instruction_uuid="B" * 32, amount=D("150.00"),
                                       currency="SEK")
    world.a.board.user_permissions.add(Permission.objects.get(codename="view_swishpaymentrequest"))
    client.force_login(world.a.board)
    assert listed(client, SwishPaymentRequest) == [paid]
    content = client.get(url(SwishPaymentRequest, "changelist")).content.decode()
    assert url(Payment, "change", payment.pk) in content
    assert client.get(url(SwishPaymentRequest, "change", paid.pk)).status_code == 200
    client.force_login(world.staff)
    assert len(listed(client, SwishPaymentRequest)) == 2
    assert [r.pk for r in listed(client, SwishPaymentRequest, status__exact="CREATED")] == [
        SwishPaymentRequest.objects.get(invoice=other).pk]


def test_payments_show_and_filter_their_kind(client, world):
    invoice = make_invoice(world, world.a)
    payment, _created = payment_record(invoice=invoice, channel="bankgiro", amount=D("200.00"), currency="SEK",
                                       paid_at=timezone.now() - timedelta(minutes=1), external_id="bg-1")
    refund = Payment.objects.create(invoice=invoice, buyer=invoice.buyer, kind=Payment.Kind.REFUND,
                                    channel=Payment.Channel.BANKGIRO, amount=D("-50.00"), applied=D("0.00"),
                                    credited=D("-50.00"), currency="SEK", paid_at=timezone.now(), refund_of=payment)
    client.force_login(world.staff)
    assert [p.kind for p in listed(client, Payment)] == ["refund", "payment"]
    assert listed(client, Payment, kind__exact="refund") == [refund]
    content = client.get(url(Payment, "changelist")).content.decode()
    assert 'class="field-kind"' in content
    assert "kind__exact=credit_use" in content
