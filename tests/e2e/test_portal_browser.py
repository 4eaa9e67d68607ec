"""The tenant portal in a real browser (issue 11's acceptance): a board member of Brf Solgläntan signs in, adds a
resident by mobile number, gives the resident a tag, sets a group price that the 7 % / 30 days' notice rule refuses
and then accepts with a later date, changes a station's weekly schedule, opens the utilization heatmap and downloads
the sessions CSV. A board member of Brf Tallen opens the same addresses and gets 404s.

The run saves screenshots of the pages people look at (sign-in, dashboard on a desktop and a phone, users, a
person, the refused price, the access page, the heatmap, the invoices) into CSMS_SCREENSHOTS (default
artifacts/screenshots), which CI keeps and docs/guide-board.md shows.
"""

import csv
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import formats, timezone

from accounts.models import AuditLogEntry, IdToken, Membership
from billing.models import BillingProfile, FeePlan, Invoice, Payment, SessionCost, Statement, TariffAssignment
from billing.services.invoicing import invoice_run
from billing.services.payments import payment_record
from billing.services.session_pricing import session_price
from billing.services.statements import statement_run
from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargePoint, ChargingSession
from charging.services import stations
from csms.portal.views.groups import first_notice_day
from tests.accounts.factories import (
    IdTokenFactory,
    MembershipFactory,
    OperatorFactory,
    OrganizationFactory,
    UserFactory,
    UserGroupFactory,
)
from tests.charging.factories import LocationFactory
from tests.e2e.conftest import screenshot

BOARD_PASSWORD = "Styrelsen-2026!"
RESIDENTS = [("Anna", "Lindqvist"), ("Erik", "Holm"), ("Maria", "Sandberg"), ("Johan", "Ekström"),
             ("Karin", "Wallin"), ("Nils", "Forsberg")]


def in_thread(function, *args):
    """Run ORM code while a page is open: Playwright's loop makes this thread refuse synchronous queries."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def _association(name: str, slug: str, board_email: str, identities: list[str], location_name: str):
    org = OrganizationFactory(name=name, slug=slug)
    board = UserFactory(email=board_email, first_name="Karin", last_name="Styrelse", password=BOARD_PASSWORD)
    MembershipFactory(user=board, organization=org, role=Membership.Role.ORG_ADMIN)
    location = LocationFactory(organization=org, name=location_name)
    points = [stations.charge_point_register(identity=identity, organization=org, evses=2,
                                             display_name=f"Laddplats {number}", location=location,
                                             acting_user=None, reason="test")
              for number, identity in enumerate(identities, start=1)]
    return org, board, points


def _history(org, points, residents, now):
    """A year of evening charging at 4.00 kr/kWh up to today, each session priced; the previous month invoiced,
    four of its invoices paid by Bankgiro, and the association's self-billing statement for it."""
    since = now - timedelta(days=400)
    ordinary = tariff_create(organization=org, name="Ordinarie 4,00 kr/kWh", currency="SEK", acting_user=None,
                             reason="test", now=since, energy_price_ac=Decimal("4.00"),
                             energy_price_dc=Decimal("4.00"))
    for point in points:
        tariff_assign(tariff=ordinary, charge_point=point, valid_from=since, acting_user=None, reason="test",
                      now=since)
    local_today = timezone.localdate(now)
    for months_back in range(12, -1, -1):
        year, month = divmod(local_today.year * 12 + local_today.month - 1 - months_back, 12)
        for number, point in enumerate(points):
            evses = list(point.evses.order_by("evse_id"))
            # Busier in winter and at the first stations: the heatmap has something to show.
            nights = 8 + (6 if month + 1 in (11, 12, 1, 2) else 0) + 4 * (len(points) - number)
            for night in range(min(nights, 28)):
                resident = residents[(night + number) % len(residents)]
                started = timezone.make_aware(datetime.combine(date(year, month + 1, 1 + night), time(17, 30)))
                hours = 5 + (night * 7 + number) % 7
                if started + timedelta(hours=hours) > now:
                    break
                energy = 900 * hours
                session = ChargingSession.objects.create(
                    charge_point=point, evse=evses[night % 2], organization=org, user=resident.user,
                    id_token=resident.token, started_at=started, stopped_at=started + timedelta(hours=hours),
                    meter_start_wh=0, meter_stop_wh=energy, energy_wh=energy,
                    status=ChargingSession.Status.COMPLETED, stop_reason="EVDisconnected")
                session_price(session=session, now=now)
    previous = local_today.replace(day=1) - timedelta(days=1)
    invoice_run(period=(previous.year, previous.month), organization=org, now=now)
    for invoice in Invoice.objects.filter(organization=org).order_by("pk")[:4]:
        payment_record(invoice=invoice, channel=Payment.Channel.BANKGIRO, amount=invoice.total,
                       currency=invoice.currency, paid_at=now - timedelta(days=1), external_id=f"BG-{invoice.pk}")
    BillingProfile.objects.create(organization=org, fee_plan=FeePlan.objects.create(
        name="Standard 0,39 kr/kWh", per_kwh=Decimal("0.39")))
    statement_run(period=(previous.year, previous.month), organization=org, now=now)


class Resident:
    def __init__(self, org, first_name, last_name, number):
        self.user = UserFactory(first_name=first_name, last_name=last_name,
                                email=f"{first_name.lower()}.{number}@solglantan.example")
        MembershipFactory(user=self.user, organization=org, reference=f"Lgh {1100 + number}")
        self.token = IdTokenFactory(organization=org, user=self.user, uid=f"04A2B3C4D5{number:02X}",
                                    visual_number=f"SOL-{number:03d}")


@pytest.fixture
def world(transactional_db, settings):
    """Brf Solgläntan (three stations with a year of priced sessions, invoices, a tripped fuse) and Brf Tallen."""
    # PBKDF2 so that the live server's request thread checks the same hashes (the tests' MD5 hasher is faster).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    now = timezone.now()
    OperatorFactory(name="Laddnät Norden AB")
    org_a, board_a, points = _association("Brf Solgläntan", "brf-solglantan", "styrelsen@solglantan.example",
                                          ["SOL-01", "SOL-02", "SOL-03"], "Solgläntans garage")
    residents = [Resident(org_a, first, last, number) for number, (first, last) in enumerate(RESIDENTS, start=1)]
    group = UserGroupFactory(organization=org_a, name="Medlemmar", description="Boende med egen parkeringsplats")
    members = tariff_create(organization=org_a, name="Medlemmar 4,50 kr/kWh", currency="SEK", acting_user=None,
                            reason="test", now=now - timedelta(days=1), energy_price_ac=Decimal("4.50"),
                            energy_price_dc=Decimal("4.50"))
    _history(org_a, points, residents, now)
    for number, point in enumerate(points):
        ChargePoint.objects.filter(pk=point.pk).update(is_connected=number < 2, last_seen_at=now)
        for evse_id in (1, 2):
            status = "Charging" if (number, evse_id) == (0, 1) else "Available"
            stations.status_report(charge_point=point, evse_id=evse_id, connector_id=1, status=status, at=now)
    # Anna's car is charging at Laddplats 1 right now (started today, 6.9 kWh so far).
    started = max(now - timedelta(minutes=90), timezone.localtime(now).replace(hour=0, minute=5, second=0))
    ChargingSession.objects.create(charge_point=points[0], evse=points[0].evses.get(evse_id=1), organization=org_a,
                                   user=residents[0].user, id_token=residents[0].token, started_at=started,
                                   meter_start_wh=0, energy_wh=6_900, status=ChargingSession.Status.ACTIVE)
    stations.status_report(charge_point=points[1], evse_id=2, connector_id=1, status="Faulted",
                           error_code="GroundFailure", vendor_error_code="E12", at=now)
    org_b, board_b, _points_b = _association("Brf Tallen", "brf-tallen", "styrelsen@tallen.example", ["TAL-01"],
                                             "Tallens parkering")
    invoices = Invoice.objects.filter(organization=org_a)
    assert invoices.exists()
    assert Statement.objects.filter(organization=org_a).exists()
    assert SessionCost.objects.filter(session__organization=org_a).count() > 100
    return {"board_a": board_a, "board_b": board_b, "station": points[0], "group": group, "members": members,
            "person": Membership.objects.get(user=residents[0].user, organization=org_a),
            "first_notice_day": first_notice_day(now), "org_a": org_a}


def sign_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/portal/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(BOARD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/portal/overview/")


def field_errors(page) -> str:
    return " ".join(page.locator(".errors, .errorlist").all_inner_texts())


def test_a_board_member_runs_the_association_and_another_board_sees_none_of_it(live_server, world, page):
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{base}/portal/login/")
    screenshot(page, "portal-login")
    sign_in(page, base, "styrelsen@solglantan.example")

    # Dashboard: the stations with their live status, the tripped fuse, the month's revenue.
    assert page.get_by_role("heading", name="Overview").is_visible()
    body = page.locator("main").inner_text()
    assert "Laddplats 1" in body
    assert "Laddplats 3" in body
    assert "GroundFailure" in body or "ground" in body.lower()
    screenshot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "dashboard-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # A new resident, invited by mobile number only.
    page.get_by_role("link", name="Users & tags").first.click()
    screenshot(page, "people")
    page.get_by_role("link", name="Add a person").click()
    page.get_by_label("First name").fill("Olof")
    page.get_by_label("Last name").fill("Berg")
    page.get_by_label("Mobile number").fill("070-123 45 67")
    page.get_by_label("Apartment / reference").fill("Lgh 1207")
    page.get_by_role("button", name=re.compile("Invite|Add", re.I)).click()
    page.wait_for_url(re.compile(r".*/portal/people/\d+/$"))
    assert "Olof Berg is invited." in page.locator("body").inner_text()
    assert "+46701234567" in page.locator("main").inner_text()
    new_person_url = page.url

    # A tag for Olof, by its uid as a reader shows it.
    page.get_by_label("Tag uid").fill("04:b7:1c:2a:91:5e:80")
    page.get_by_role("button", name="Give the tag").click()
    page.wait_for_url(new_person_url)
    tags = page.locator("main table").first.inner_text()
    assert "04B71C2A915E80" in tags
    assert "Active" in tags
    screenshot(page, "person")

    # Members should pay 4,50 kr from tomorrow: +12.5 % on 4,00, refused with the notice rule in words…
    page.goto(f"{base}/portal/groups/{world['group'].pk}/")
    page.get_by_label("Price (tariff)").select_option(value=str(world["members"].pk))
    page.get_by_label("Station").select_option(value=str(world["station"].pk))
    tomorrow = timezone.localdate() + timedelta(days=1)
    page.get_by_label("Valid from").fill(tomorrow.isoformat())
    page.locator("#price-form, form:has(button:has-text('Save the price'))").get_by_label("Reason").first.fill(
        "Styrelsebeslut 2026-11-20 §4")
    page.get_by_role("button", name="Save the price").click()
    first_day = world["first_notice_day"]
    expected = ("A price increase of more than 7 % must be announced 30 days ahead: choose a date from "
                f"{formats.date_format(first_day, 'j M Y')}.")
    assert expected in field_errors(page).replace("\xa0", " ")
    screenshot(page, "group-price-refused")
    # …and accepted from the first day the notice allows.
    page.get_by_label("Valid from").fill(first_day.isoformat())
    page.get_by_role("button", name="Save the price").click()
    page.wait_for_url(f"{base}/portal/groups/{world['group'].pk}/")
    assert "The group's price is saved." in page.locator("body").inner_text()
    assert "Scheduled" in page.locator("main").inner_text()

    # Laddplats 1 becomes public on weekdays 07–17 and private otherwise, for the members only.
    page.goto(f"{base}/portal/stations/{world['station'].pk}/")
    page.get_by_label("Mode outside the schedule").select_option("private")
    schedule = page.locator("#id_access_schedule")
    for day in range(5):
        schedule.locator(f"input[name='access_schedule-0-weekdays'][value='{day}']").check()
    schedule.locator("#access_schedule-0-start").fill("07:00")
    schedule.locator("#access_schedule-0-end").fill("17:00")
    schedule.locator("#access_schedule-0-mode").select_option("public")
    page.get_by_label("Medlemmar").check()
    page.get_by_label("Reason (stored in the audit log)").last.fill("Besöksparkering dagtid, styrelsebeslut §5")
    page.get_by_role("button", name="Save access settings").click()
    page.wait_for_url(re.compile(rf".*/portal/stations/{world['station'].pk}/$"))
    access = page.locator("main").inner_text()
    assert "07:00" in access
    assert "17:00" in access
    screenshot(page, "station-access")

    # The heatmap: a cell per charge point and month, the busiest in the darkest band.
    page.get_by_role("link", name="Reports").first.click()
    page.goto(f"{base}/portal/reports/utilization/")
    assert page.get_by_role("heading", name="Utilization per charge point and month").is_visible()
    assert page.locator("figure svg rect").count() >= 3 * 12
    rows = page.locator("table tbody tr")
    assert rows.count() == 3
    shares = [float(cell.replace(",", ".")) for cell in rows.first.locator("td").all_inner_texts()]
    assert len(shares) == 12
    assert sum(shares) > 0
    screenshot(page, "heatmap")

    # The sessions CSV: one row per session, the header a spreadsheet understands.
    page.goto(f"{base}/portal/reports/sessions/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    download = download_info.value
    text = download.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";" if text.count(";") > text.count(",") else ","))
    header, data = rows[0], rows[1:]
    assert any("start" in column.lower() for column in header)
    assert any("kwh" in column.lower() or "energy" in column.lower() for column in header)
    expected_sessions = in_thread(lambda: ChargingSession.objects.filter(organization=world["org_a"]).count())
    assert len(data) == expected_sessions

    # Invoices of the residents, issued by last month's run.
    page.goto(f"{base}/portal/invoices/")
    invoices = page.locator("main").inner_text()
    assert "Anna Lindqvist" in invoices
    assert "Paid" in invoices
    assert "Unpaid" in invoices
    screenshot(page, "invoices")

    def recorded():
        olof = Membership.objects.get(organization=world["org_a"], user__mobile_number="+46701234567")
        return {
            "tag": IdToken.objects.get(uid="04B71C2A915E80").user_id == olof.user_id,
            "price": TariffAssignment.objects.get(user_group=world["group"]).tariff_id == world["members"].pk,
            "audited": set(AuditLogEntry.objects.filter(actor=world["board_a"]).values_list("action", flat=True)),
            "person_pk": olof.pk,
        }

    done = in_thread(recorded)
    assert done["tag"]
    assert done["price"]
    assert {"tariffassignment.created", "chargepoint.access_changed"} <= done["audited"]

    # Brf Tallen's board: every one of those addresses is a 404, the lists hold nothing of Solgläntan.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/portal/login/.*"))
    sign_in(page, base, "styrelsen@tallen.example")
    for path in (f"/portal/people/{done['person_pk']}/", f"/portal/people/{world['person'].pk}/",
                 f"/portal/groups/{world['group'].pk}/", f"/portal/stations/{world['station'].pk}/",
                 f"/portal/stations/{world['station'].pk}/stickers.pdf"):
        response = page.request.get(f"{base}{path}")
        assert response.status == 404, path
    for path in ("/portal/people/", "/portal/stations/", "/portal/reports/utilization/", "/portal/invoices/"):
        page.goto(f"{base}{path}")
        text = page.locator("main").inner_text()
        for marker in ("Solgläntan", "SOL-0", "Olof"):
            assert marker not in text, path
