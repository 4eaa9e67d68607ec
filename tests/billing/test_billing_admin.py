"""The billing admin: tariffs and assignments scoped to the board's own organization, the notice rule as a form
error, the fixed currency, the price preview, spot prices per day, and support's gap list."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, Membership
from billing.models import SpotPriceGap, Tariff, TariffAssignment
from billing.services.spot_prices import gap_record, store
from billing.services.tariffs import tariff_assign, tariff_create
from billing.spot import ElprisetJustNu, local_day_bounds
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.charging.factories import ChargePointFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db

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
