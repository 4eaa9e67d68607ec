"""The monthly self-billing statement from raw sessions and invoices: the brochure's S-1257 figures, fee plans, the
roaming share, unpaid then late-paid invoices paid out once, idempotence, numbering under parallel runs on
PostgreSQL, the payout it schedules, the e-mailed PDF and the command."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, connections

from billing.invoice_math import round_money
from billing.models import (
    BillingProfile,
    FeePlan,
    Invoice,
    InvoiceSeries,
    Payout,
    Statement,
    StatementInvoice,
    StatementSession,
)
from billing.services.invoicing import invoice_run
from billing.services.payments import payment_record
from billing.services.session_pricing import session_price
from billing.services.statements import StatementError, statement_document, statement_run
from billing.services.tariffs import tariff_assign, tariff_create
from billing.statement_pdf import render
from tests.accounts.factories import MembershipFactory, OperatorFactory, OrganizationFactory, UserFactory
from tests.billing.test_invoice_pdf import pdf_text
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory

D = Decimal
MARCH = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
INVOICE_RUN = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)
PAID_IN_APRIL = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)
STATEMENT_RUN = datetime(2026, 4, 30, 5, 30, tzinfo=UTC)
APRIL_INVOICE_RUN = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)
MAY_STATEMENT_RUN = datetime(2026, 5, 31, 5, 30, tzinfo=UTC)


def station_with_price(brf, price, *, name):
    station = ChargePointFactory(organization=brf, display_name=name)
    EvseFactory(charge_point=station, evse_id=1)
    tariff = tariff_create(organization=brf, name=f"Pris {price}", currency="SEK", acting_user=None, reason="test",
                           now=MARCH - timedelta(days=120), energy_price_ac=D(price))
    tariff_assign(tariff=tariff, charge_point=station, valid_from=MARCH - timedelta(days=60), acting_user=None,
                  reason="test", now=MARCH - timedelta(days=91))
    return station


@pytest.fixture
def brf(db):
    OperatorFactory(name="RE&GO AB", org_number="556677-8899", vat_number="SE556677889901", slug="rego")
    association = OrganizationFactory(name="BRF Solrosen", slug="brf-solrosen", org_number="769600-1234",
                                      vat_number="SE769600123401", billing_email="styrelsen@solrosen.se",
                                      payout_reference="Laddstolpar", street_address="Fack 97829188",
                                      postal_code="10637", city="Stockholm")
    plan = FeePlan.objects.create(name="Standard 0,39", per_kwh=D("0.39"))
    BillingProfile.objects.create(organization=association, fee_plan=plan)
    return association


@pytest.fixture
def stations(brf):
    return {"resident": station_with_price(brf, "4.00", name="Laddplats 01"),
            "public": station_with_price(brf, "6.00", name="Laddplats 12")}


def session(station, *, energy_wh, user=None, started_at=MARCH, roaming_party=""):
    charged = ChargingSessionFactory(charge_point=station, evse=station.evses.get(), user=user,
                                     started_at=started_at, stopped_at=started_at + timedelta(hours=2),
                                     energy_wh=energy_wh, meter_start_wh=0, meter_stop_wh=energy_wh,
                                     roaming_party=roaming_party)
    session_price(session=charged, now=started_at + timedelta(hours=3))
    return charged


def resident(brf, name):
    user = UserFactory(first_name=name, email=f"{name.lower()}@example.se")
    MembershipFactory(user=user, organization=brf)
    return user


def brochure_month(brf, stations):
    """March 2026 as in the brochure: three residents' 901 110 Wh at 4.00 and a guest's 28 943 Wh at 6.00."""
    for day, (name, wh) in enumerate((("Anna", 300_000), ("Bertil", 300_000), ("Cecilia", 301_110))):
        session(stations["resident"], energy_wh=wh, user=resident(brf, name), started_at=MARCH + timedelta(days=day))
    session(stations["public"], energy_wh=28_943, started_at=MARCH + timedelta(days=4))
    invoice_run(period=(2026, 3), now=INVOICE_RUN)
    for number, invoice in enumerate(Invoice.objects.order_by("number"), start=1):
        payment_record(invoice=invoice, channel="bankgiro", amount=invoice.total, currency="SEK",
                       paid_at=PAID_IN_APRIL, external_id=f"bg-{number}")


def test_the_brochure_statement_is_reproduced_from_raw_sessions(brf, stations, django_capture_on_commit_callbacks):
    brochure_month(brf, stations)
    with django_capture_on_commit_callbacks(execute=True):
        summary = statement_run(period=(2026, 3), now=STATEMENT_RUN)
    statement = Statement.objects.get()
    assert len(summary.statements) == 1
    assert (statement.personal_wh, statement.personal_amount) == (901_110, D("3604.44"))
    assert (statement.public_wh, statement.public_amount) == (28_943, D("173.66"))
    assert (statement.total_wh, statement.total_amount) == (930_053, D("3778.10"))
    assert (statement.fee_excl, statement.fee_vat, statement.fee_incl) == (D("362.72"), D("90.68"), D("453.40"))
    assert (statement.payout_incl, statement.payout_excl, statement.payout_vat) == (
        D("3324.70"), D("2659.76"), D("664.94"))
    assert (statement.issue_date, statement.payout_date) == (date(2026, 4, 30), date(2026, 5, 30))
    assert statement.display_number == "S-1"
    assert statement.series.seller == brf
    assert statement.payout_reference == "Laddstolpar"
    assert statement.invoices.filter(category=StatementInvoice.Category.PAID).count() == 3
    assert statement.sessions.get().origin == StatementSession.Origin.OWN
    payout = Payout.objects.get()
    assert (payout.amount, payout.status, payout.due_date, payout.method) == (
        D("3324.70"), Payout.Status.SCHEDULED, date(2026, 5, 30), BillingProfile.Method.BANK_FILE)
    (message,) = mail.outbox
    assert message.to == ["styrelsen@solrosen.se"]
    assert "Självfaktura S-1" in message.subject
    ((name, content, _mimetype),) = message.attachments
    assert name == "S-1.pdf"
    text = pdf_text(content)
    for expected in ("Självfaktura", "självfakturering", "901,11", "3 604,44", "173,66", "930,05", "3 778,10",
                     "453,40", "2 659,76", "664,94", "3 324,70", "2026-05-30", "Laddstolpar"):
        assert expected in text, expected


def test_a_twelve_percent_fee_plan_does_not_give_the_brochure_fee(brf, stations):
    brochure_month(brf, stations)
    FeePlan.objects.filter(profiles__organization=brf).update(per_kwh=0, percentage=D("12"))
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    statement = Statement.objects.get()
    assert statement.fee_incl == D("453.37")
    assert statement.fee_incl != D("453.40")
    assert statement.payout_incl == D("3778.10") - D("453.37")


def test_roaming_sessions_are_paid_out_at_the_share_and_own_public_sessions_in_full(brf, stations):
    session(stations["resident"], energy_wh=25_000, roaming_party="DEABC")  # 100.00 through a foreign eMSP
    session(stations["resident"], energy_wh=25_000)  # 100.00 ad hoc, no user
    FeePlan.objects.filter(profiles__organization=brf).update(per_kwh=0)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    statement = Statement.objects.get()
    assert statement.roaming_amount == D("100.00")
    assert statement.public_amount == D("190.00")  # 90.00 + 100.00
    assert statement.payout_incl == D("190.00")
    assert sorted(statement.sessions.values_list("origin", flat=True)) == ["own", "roaming"]


def test_an_invoice_unpaid_in_march_is_paid_late_in_april_and_paid_out_once(brf, stations):
    anna, bertil = resident(brf, "Anna"), resident(brf, "Bertil")
    session(stations["resident"], energy_wh=25_000, user=anna)
    session(stations["resident"], energy_wh=50_000, user=bertil)
    invoice_run(period=(2026, 3), now=INVOICE_RUN)
    annas, bertils = Invoice.objects.get(buyer=anna), Invoice.objects.get(buyer=bertil)
    payment_record(invoice=annas, channel="bankgiro", amount=D("100.00"), currency="SEK", paid_at=PAID_IN_APRIL,
                   external_id="bg-1")
    FeePlan.objects.filter(profiles__organization=brf).update(per_kwh=0)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    march = Statement.objects.get()
    assert dict(march.invoices.values_list("invoice_id", "category")) == {annas.pk: "paid", bertils.pk: "unpaid"}
    assert march.payout_incl == D("100.00")
    payment_record(invoice=bertils, channel="swish", amount=D("200.00"), currency="SEK",
                   paid_at=MAY_STATEMENT_RUN - timedelta(days=10), external_id="sw-1")
    invoice_run(period=(2026, 4), now=APRIL_INVOICE_RUN)  # nothing in April
    statement_run(period=(2026, 4), now=MAY_STATEMENT_RUN)
    april = Statement.objects.get(period_start=date(2026, 4, 1))
    assert dict(april.invoices.values_list("invoice_id", "category")) == {bertils.pk: "paid_late"}
    assert april.payout_incl == D("200.00")
    assert april.display_number == "S-2"
    assert sum(Payout.objects.values_list("amount", flat=True)) == D("300.00")
    # A third month pays out neither again.
    statement_run(period=(2026, 5), now=datetime(2026, 6, 30, 5, 30, tzinfo=UTC))
    may = Statement.objects.get(period_start=date(2026, 5, 1))
    assert (may.total_amount, may.invoices.count(), may.payout_incl) == (D("0.00"), 0, D("0.00"))
    assert not Payout.objects.filter(statement=may).exists()
    late = statement_document(april).late_paid_invoices
    assert [row.number for row in late] == [bertils.display_number]


def test_on_the_invoiced_basis_unpaid_invoices_are_paid_out_at_once(brf, stations):
    anna = resident(brf, "Anna")
    session(stations["resident"], energy_wh=25_000, user=anna)
    invoice_run(period=(2026, 3), now=INVOICE_RUN)
    FeePlan.objects.filter(profiles__organization=brf).update(per_kwh=0, basis="invoiced")
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    statement = Statement.objects.get()
    assert list(statement.invoices.values_list("category", flat=True)) == ["invoiced"]
    assert statement.payout_incl == D("100.00")
    payment_record(invoice=Invoice.objects.get(), channel="bankgiro", amount=D("100.00"), currency="SEK",
                   paid_at=MAY_STATEMENT_RUN - timedelta(days=5), external_id="bg-1")
    statement_run(period=(2026, 4), now=MAY_STATEMENT_RUN)
    assert Statement.objects.get(period_start=date(2026, 4, 1)).payout_incl == 0


def test_an_invoice_credited_after_its_payout_is_taken_back_on_the_next_statement(brf, stations):
    from billing.services.invoicing import invoice_credit

    anna = resident(brf, "Anna")
    session(stations["resident"], energy_wh=25_000, user=anna)
    session(stations["public"], energy_wh=50_000, started_at=MARCH + timedelta(days=40))  # 300.00 in April
    invoice_run(period=(2026, 3), now=INVOICE_RUN)
    invoice = Invoice.objects.get()
    payment_record(invoice=invoice, channel="bankgiro", amount=D("100.00"), currency="SEK", paid_at=PAID_IN_APRIL,
                   external_id="bg-1")
    FeePlan.objects.filter(profiles__organization=brf).update(per_kwh=0)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    invoice_credit(invoice=invoice, acting_user=UserFactory(), reason="Wrong tariff", now=STATEMENT_RUN)
    statement_run(period=(2026, 4), now=MAY_STATEMENT_RUN)
    april = Statement.objects.get(period_start=date(2026, 4, 1))
    assert list(april.invoices.values_list("category", "amount")) == [("credited", D("-100.00"))]
    assert april.payout_incl == D("200.00")  # 300.00 public − 100.00 taken back


def test_a_fee_larger_than_the_revenue_is_owed_by_the_association(brf, stations):
    FeePlan.objects.filter(profiles__organization=brf).update(per_kwh=0, monthly_per_charge_point=D("50.00"))
    session(stations["public"], energy_wh=10_000)  # 60.00
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    statement = Statement.objects.get()
    assert statement.fee_incl == round_money(D("100.00") * D("1.25"))  # two charge points × 50.00 + VAT
    assert statement.payout_incl == D("60.00") - D("125.00")
    payout = Payout.objects.get()
    assert (payout.status, payout.amount) == (Payout.Status.OWED, D("-65.00"))
    text = pdf_text(render(statement_document(statement)))
    assert "65,00" in text


def test_a_second_run_makes_nothing_and_a_dry_run_writes_nothing(brf, stations):
    brochure_month(brf, stations)
    dry = statement_run(period=(2026, 3), now=STATEMENT_RUN, dry_run=True)
    assert [planned.payout for planned in dry.statements] == [D("3324.70")]
    assert not Statement.objects.exists()
    assert not InvoiceSeries.objects.filter(seller=brf).exists()
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    again = statement_run(period=(2026, 3), now=STATEMENT_RUN + timedelta(hours=1))
    assert (again.statements, again.already_done) == ([], 1)
    assert Statement.objects.count() == 1
    assert Payout.objects.count() == 1


def test_the_period_must_have_ended_and_the_organization_needs_a_profile(brf):
    with pytest.raises(StatementError, match="not ended"):
        statement_run(period=(2026, 4), now=STATEMENT_RUN)
    with pytest.raises(StatementError, match="billing profile with a fee plan"):
        statement_run(period=(2026, 3), organization=OrganizationFactory(), now=STATEMENT_RUN)


def test_the_command_shows_the_figures_and_its_dry_run(brf, stations, capsys):
    brochure_month(brf, stations)
    call_command("run_statements", "--period", "2026-03", "--dry-run")
    out = capsys.readouterr().out
    assert "payout 3324.70" in out
    assert "would make 1 statements" in out
    assert not Statement.objects.exists()


def test_other_associations_sessions_and_invoices_stay_on_their_own_statements(brf, stations):
    other = OrganizationFactory(name="BRF Granen")
    BillingProfile.objects.create(organization=other, fee_plan=FeePlan.objects.get())
    theirs = station_with_price(other, "4.00", name="Granen 1")
    session(theirs, energy_wh=25_000, user=resident(other, "Gustav"))
    session(stations["resident"], energy_wh=50_000, user=resident(brf, "Anna"))
    invoice_run(period=(2026, 3), now=INVOICE_RUN)
    for number, invoice in enumerate(Invoice.objects.all(), start=1):
        payment_record(invoice=invoice, channel="bankgiro", amount=invoice.total, currency="SEK",
                       paid_at=PAID_IN_APRIL, external_id=f"bg-{number}")
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    ours, granen = Statement.objects.get(organization=brf), Statement.objects.get(organization=other)
    assert (ours.personal_amount, granen.personal_amount) == (D("200.00"), D("100.00"))
    assert (ours.display_number, granen.display_number) == ("S-1", "S-1")  # each association's own series


@pytest.mark.django_db(transaction=True)
def test_parallel_runs_make_one_statement_each_with_gapless_numbers(brf, stations):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks (select_for_update) need PostgreSQL; SQLite serializes whole transactions.")
    session(stations["public"], energy_wh=10_000)
    errors = []

    def run(month, now):
        try:
            statement_run(period=(2026, month), now=now)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=args)
               for args in ((3, STATEMENT_RUN), (3, STATEMENT_RUN), (4, MAY_STATEMENT_RUN), (4, MAY_STATEMENT_RUN))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(Statement.objects.values_list("number", flat=True)) == [1, 2]
    assert StatementSession.objects.count() == 1


def test_the_boards_monthly_fees_are_paid_out_in_full_outside_the_operators_fee(brf, stations):
    from billing.models import RecurringFee

    RecurringFee.objects.create(organization=brf, name="Parkering", amount=D("300.00"), vat_rate=D("25"))
    RecurringFee.objects.create(organization=brf, name="Medlemsavgift", amount=D("50.00"), vat_rate=D("0"))
    anna = resident(brf, "Anna")
    session(stations["resident"], energy_wh=25_000, user=anna)  # 100.00
    invoice_run(period=(2026, 3), now=INVOICE_RUN)
    invoice = Invoice.objects.get()
    assert invoice.total == D("450.00")
    payment_record(invoice=invoice, channel="bankgiro", amount=D("450.00"), currency="SEK", paid_at=PAID_IN_APRIL,
                   external_id="bg-1")
    FeePlan.objects.filter(profiles__organization=brf).update(per_kwh=0, percentage=D("10"))
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    statement = Statement.objects.get()
    assert (statement.personal_wh, statement.personal_amount, statement.board_fees) == (
        25_000, D("100.00"), D("350.00"))
    assert statement.fee_incl == D("10.00")  # 10 % of the charging only
    assert statement.payout_incl == D("440.00")
    # VAT: 20.00 in the charging, 60.00 in the parking fee, none in the membership fee; 2.00 in the fee.
    assert statement.payout_vat == D("20.00") + D("60.00") - D("2.00")
    text = pdf_text(render(statement_document(statement)))
    assert "350,00" in text


def test_support_sends_a_statement_again_from_the_admin_with_a_reason(brf, stations, client,
                                                                      django_capture_on_commit_callbacks):
    from django.urls import reverse

    from accounts.models import AuditLogEntry, Membership, Organization

    brochure_month(brf, stations)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    statement = Statement.objects.get()
    staff = MembershipFactory(organization=Organization.objects.get(slug="rego"),
                              role=Membership.Role.OPERATOR_SUPPORT, user=UserFactory(is_staff=True)).user
    client.force_login(staff)
    url = reverse("admin:billing_statement_changelist")
    data = {"action": "resend_statements", "_selected_action": [statement.pk]}
    assert client.post(url, data).status_code == 200  # asks for the reason
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**data, "apply": "1", "reason": "The board lost the e-mail"})
    assert response.status_code == 302
    entry = AuditLogEntry.objects.get(action="statement.resend")
    assert (entry.actor, entry.reason) == (staff, "The board lost the e-mail")
    (message,) = mail.outbox
    assert message.to == ["styrelsen@solrosen.se"]
    assert message.attachments[0][0] == "S-1.pdf"
