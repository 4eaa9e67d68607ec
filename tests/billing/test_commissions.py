"""Resellers' monthly commission statements from their sub-organizations' self-billing statements, which are made
from raw sessions and invoices by the statement run: 2 % of the charging revenue excl. VAT, VAT-exempt
associations, late statements counted once, idempotence, dry runs, other resellers' sub-organizations, the payout,
the e-mailed PDF, the command and the admin page."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import AuditLogEntry, Membership, Organization
from accounts.services.organizations import user_grant_admin_access
from billing.models import (
    BillingProfile,
    CommissionStatement,
    FeePlan,
    Invoice,
    InvoiceSeries,
    Payout,
    RecurringFee,
    Statement,
)
from billing.services.commissions import CommissionError, commission_document, commission_run
from billing.services.invoicing import invoice_run
from billing.services.payments import payment_record
from billing.services.statements import statement_run
from charging.models import ChargePoint
from tests.accounts.factories import MembershipFactory, OperatorFactory, OrganizationFactory, UserFactory
from tests.billing.test_invoice_pdf import pdf_text
from tests.billing.test_statements import (
    INVOICE_RUN,
    MARCH,
    MAY_STATEMENT_RUN,
    PAID_IN_APRIL,
    STATEMENT_RUN,
    resident,
    session,
    station_with_price,
)

D = Decimal
COMMISSION_RUN = STATEMENT_RUN + timedelta(hours=1)
MAY_COMMISSION_RUN = MAY_STATEMENT_RUN + timedelta(hours=1)
COMMISSIONS = "admin:billing_commissionstatement_changelist"


def reseller_org(name, slug, **fields):
    org = OrganizationFactory(kind=Organization.Kind.RESELLER, name=name, slug=slug, **fields)
    BillingProfile.objects.create(organization=org)  # no fee plan; commission_rate defaults to 2.00
    return org


def association(name, slug, reseller, plan, **fields):
    org = OrganizationFactory(name=name, slug=slug, parent=reseller, **fields)
    BillingProfile.objects.create(organization=org, fee_plan=plan)
    return org


@pytest.fixture
def world(db):
    OperatorFactory(name="RE&GO AB", org_number="556677-8899", vat_number="SE556677889901", slug="rego")
    plan = FeePlan.objects.create(name="Standard 0,39", per_kwh=D("0.39"))
    partner = reseller_org("Laddpartner Öst AB", "laddpartner", org_number="559111-2222",
                           vat_number="SE559111222201", billing_email="ekonomi@laddpartner.se",
                           bankgiro_number="5402-9681")
    other = reseller_org("Annan Partner AB", "annan", vat_number="SE559333444401",
                         contact_email="info@annan.se")
    solrosen = association("BRF Solrosen", "brf-solrosen", partner, plan, vat_number="SE769600123401")
    algen = association("BRF Älgen", "brf-algen", partner, plan, vat_exempt=True)
    granen = association("BRF Granen", "brf-granen", other, plan, vat_number="SE769600555501")
    return SimpleNamespace(plan=plan, partner=partner, other=other, solrosen=solrosen, algen=algen, granen=granen)


def march(world):
    """March 2026: BRF Solrosen 10 000.00 incl. VAT (a resident's 5 000.00, invoiced and paid, with the board's
    300.00 parking fee, and 5 000.00 public), BRF Älgen (VAT exempt) 2 000.00 public, BRF Granen (the other
    reseller's) 4 000.00 public. Charging revenue excl. VAT: 8 000.00 + 2 000.00 for Laddpartner."""
    RecurringFee.objects.create(organization=world.solrosen, name="Parkering", amount=D("300.00"), vat_rate=D("25"))
    solrosen = station_with_price(world.solrosen, "5.00", name="Solrosen 1")
    session(solrosen, energy_wh=1_000_000, user=resident(world.solrosen, "Anna"))
    session(solrosen, energy_wh=1_000_000)
    session(station_with_price(world.algen, "5.00", name="Älgen 1"), energy_wh=400_000)
    session(station_with_price(world.granen, "5.00", name="Granen 1"), energy_wh=800_000)
    invoice_run(period=(2026, 3), now=INVOICE_RUN)
    invoice = Invoice.objects.get()
    payment_record(invoice=invoice, channel="bankgiro", amount=invoice.total, currency="SEK", paid_at=PAID_IN_APRIL,
                   external_id="bg-1")


def test_two_percent_of_ten_thousand_excl_vat_is_250_with_vat(world, django_capture_on_commit_callbacks):
    march(world)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    solrosen = Statement.objects.get(organization=world.solrosen)
    assert (solrosen.total_amount, solrosen.board_fees) == (D("10000.00"), D("300.00"))
    with django_capture_on_commit_callbacks(execute=True):
        summary = commission_run(period=(2026, 3), now=COMMISSION_RUN)
    assert [(planned.reseller, planned.commission_incl) for planned in summary.commissions] == [
        ("annan", D("80.00")), ("laddpartner", D("250.00"))]
    commission = CommissionStatement.objects.get(reseller=world.partner)
    assert (commission.revenue_excl, commission.rate) == (D("10000.00"), D("2.00"))
    assert (commission.commission_excl, commission.commission_vat, commission.commission_incl) == (
        D("200.00"), D("50.00"), D("250.00"))
    assert (commission.issue_date, commission.payout_date) == (date(2026, 4, 30), date(2026, 5, 30))
    assert commission.display_number == "S-1"
    assert commission.series.seller == world.partner
    rows = {row["name"]: row for row in commission.figures["organizations"]}
    assert (rows["BRF Solrosen"]["revenue_excl"], rows["BRF Solrosen"]["vat_exempt"]) == ("8000.00", False)
    assert (rows["BRF Älgen"]["revenue_excl"], rows["BRF Älgen"]["vat_exempt"]) == ("2000.00", True)
    assert [row["number"] for row in rows["BRF Solrosen"]["statements"]] == [solrosen.display_number]
    assert set(commission.statements.values_list("organization__slug", flat=True)) == {"brf-solrosen", "brf-algen"}
    payout = Payout.objects.get(commission=commission)
    assert (payout.amount, payout.status, payout.due_date, payout.method, payout.organization) == (
        D("250.00"), Payout.Status.SCHEDULED, date(2026, 5, 30), BillingProfile.Method.BANK_FILE, world.partner)
    assert payout.document == commission
    # The other reseller: 4 000.00 incl. VAT is 3 200.00 excl., 2 % = 64.00, + 16.00 VAT.
    theirs = CommissionStatement.objects.get(reseller=world.other)
    assert (theirs.revenue_excl, theirs.commission_incl) == (D("3200.00"), D("80.00"))
    messages = {tuple(message.to): message for message in mail.outbox}
    message = messages[("ekonomi@laddpartner.se",)]
    assert "Självfaktura – provision S-1" in message.subject
    assert "Provision inkl. moms: 250,00 SEK" in message.body
    ((name, content, mimetype),) = message.attachments
    assert (name, mimetype) == ("S-1.pdf", "application/pdf")
    text = " ".join(pdf_text(content).split())
    for expected in ("Självfaktura – provision", "självfakturering", "Laddpartner Öst AB", "RE&GO AB",
                     "BRF Solrosen", "8 000,00 kr", "BRF Älgen (momsfri)", "2 000,00 kr", "10 000,00 kr",
                     "200,00 kr", "50,00 kr", "250,00 kr", "2026-05-30", "Bankgiro 5402-9681"):
        assert expected in text, expected
    assert ("info@annan.se",) in messages  # no billing e-mail: the contact address
    stored = CommissionStatement.objects.get(pk=commission.pk)
    assert stored.pdf
    assert stored.sent_at is not None


def test_nothing_is_sent_before_the_commit(world, django_capture_on_commit_callbacks):
    march(world)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        commission_run(period=(2026, 3), reseller=world.partner, now=COMMISSION_RUN)
    assert mail.outbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert [message.to for message in mail.outbox] == [["ekonomi@laddpartner.se"]]


def test_a_late_statement_of_an_earlier_month_is_counted_in_the_next_run_and_never_twice(world):
    march(world)
    statement_run(period=(2026, 3), organization=world.solrosen, now=STATEMENT_RUN)
    commission_run(period=(2026, 3), reseller=world.partner, now=COMMISSION_RUN)
    first = CommissionStatement.objects.get()
    assert first.revenue_excl == D("8000.00")
    # Älgen's March statement is made late, after March's commission; April has new public charging at Solrosen.
    statement_run(period=(2026, 3), organization=world.algen, now=MAY_STATEMENT_RUN)
    session(ChargePoint.objects.get(organization=world.solrosen), energy_wh=100_000,
            started_at=MARCH + timedelta(days=30))  # 500.00 incl. VAT in April
    statement_run(period=(2026, 4), now=MAY_STATEMENT_RUN)
    commission_run(period=(2026, 4), reseller=world.partner, now=MAY_COMMISSION_RUN)
    april = CommissionStatement.objects.get(period_start=date(2026, 4, 1))
    # Älgen's late March (2 000.00) + Solrosen's April (400.00 excl. VAT) + Älgen's April (0.00); not Solrosen's March.
    assert april.revenue_excl == D("2400.00")
    assert april.commission_incl == D("60.00")  # 48.00 + 12.00 VAT
    counted = {(s.organization.slug, s.period_start.month): s.commission_id
               for s in Statement.objects.filter(organization__parent=world.partner)}
    assert counted == {("brf-solrosen", 3): first.pk, ("brf-algen", 3): april.pk, ("brf-solrosen", 4): april.pk,
                       ("brf-algen", 4): april.pk}
    assert april.display_number == "S-2"
    # May: every statement is counted already.
    statement_run(period=(2026, 5), now=datetime(2026, 6, 30, 5, 30, tzinfo=UTC))
    commission_run(period=(2026, 5), reseller=world.partner, now=datetime(2026, 6, 30, 6, 30, tzinfo=UTC))
    may = CommissionStatement.objects.get(period_start=date(2026, 5, 1))
    assert (may.revenue_excl, may.commission_incl) == (D("0.00"), D("0.00"))
    assert not Payout.objects.filter(commission=may).exists()  # no payout at 0
    assert sum(Payout.objects.filter(organization=world.partner).values_list("amount", flat=True)) == (
        D("200.00") + D("60.00"))


def test_a_rerun_creates_nothing_and_a_dry_run_writes_nothing(world):
    march(world)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    dry = commission_run(period=(2026, 3), reseller=world.partner, now=COMMISSION_RUN, dry_run=True)
    assert [(planned.revenue_excl, planned.commission_incl, planned.number) for planned in dry.commissions] == [
        (D("10000.00"), D("250.00"), "")]
    assert not CommissionStatement.objects.exists()
    assert not InvoiceSeries.objects.filter(seller=world.partner).exists()
    assert not Statement.objects.filter(commission__isnull=False).exists()
    assert not Payout.objects.filter(commission__isnull=False).exists()
    commission_run(period=(2026, 3), now=COMMISSION_RUN)
    again = commission_run(period=(2026, 3), now=COMMISSION_RUN + timedelta(hours=1))
    assert (again.commissions, again.already_done) == ([], 2)
    assert CommissionStatement.objects.count() == 2
    assert Payout.objects.filter(commission__isnull=False).count() == 2
    assert InvoiceSeries.objects.get(seller=world.partner).next_number == 2


def test_another_resellers_sub_organizations_are_never_counted(world):
    march(world)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    commission_run(period=(2026, 3), reseller=world.other, now=COMMISSION_RUN)
    theirs = CommissionStatement.objects.get()
    assert theirs.reseller == world.other
    assert list(theirs.statements.values_list("organization__slug", flat=True)) == ["brf-granen"]
    assert [row["name"] for row in theirs.figures["organizations"]] == ["BRF Granen"]
    assert not Statement.objects.filter(organization__parent=world.partner, commission__isnull=False).exists()
    # A statement of an organization without a reseller counts for nobody.
    world.granen.parent = None
    world.granen.save()
    commission_run(period=(2026, 4), now=MAY_COMMISSION_RUN)
    assert CommissionStatement.objects.get(reseller=world.other, period_start=date(2026, 4, 1)).revenue_excl == 0


def test_a_vat_exempt_reseller_gets_no_vat_and_the_rate_comes_from_its_profile(world):
    march(world)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    Organization.objects.filter(pk=world.partner.pk).update(vat_exempt=True)
    BillingProfile.objects.filter(organization=world.partner).update(commission_rate=D("3.50"),
                                                                      payout_method=BillingProfile.Method.STRIPE)
    commission_run(period=(2026, 3), reseller=world.partner, now=COMMISSION_RUN)
    commission = CommissionStatement.objects.get()
    assert (commission.rate, commission.vat_exempt) == (D("3.50"), True)
    assert (commission.commission_excl, commission.commission_vat, commission.commission_incl) == (
        D("350.00"), D("0.00"), D("350.00"))
    assert Payout.objects.get(commission=commission).method == BillingProfile.Method.STRIPE
    assert commission_document(commission).payout_account == "Stripe"


def test_the_period_must_have_ended_and_the_organization_must_be_a_reseller(world):
    with pytest.raises(CommissionError, match="not ended"):
        commission_run(period=(2026, 4), now=COMMISSION_RUN)
    with pytest.raises(CommissionError, match="not a reseller"):
        commission_run(period=(2026, 3), reseller=world.solrosen, now=COMMISSION_RUN)
    with pytest.raises(CommissionError):
        commission_run(period=(2026, 13), now=COMMISSION_RUN)
    assert not CommissionStatement.objects.exists()


def test_the_command_shows_the_figures_and_its_dry_run(world, capsys):
    march(world)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    call_command("run_commissions", "--period", "2026-03", "--reseller", "laddpartner", "--dry-run")
    out = capsys.readouterr().out
    assert "base 10000.00 excl. VAT (2 statements), commission 200.00 excl. VAT, 250.00 incl. VAT" in out
    assert "would make 1 commission statements" in out
    assert not CommissionStatement.objects.exists()
    call_command("run_commissions", "--period", "2026-03")
    out = capsys.readouterr().out
    assert "S-1: base 10000.00" in out
    assert "made 2 commission statements; 0 already made" in out
    with pytest.raises(CommandError, match="not a period"):
        call_command("run_commissions", "--period", "March")
    with pytest.raises(CommandError, match="not a reseller"):
        call_command("run_commissions", "--period", "2026-03", "--reseller", "brf-solrosen")


# --- Admin ----------------------------------------------------------------------------------------------------------
def staff_of(org, *, email):
    user = MembershipFactory(organization=org, role=Membership.Role.ORG_ADMIN, user=UserFactory(email=email)).user
    user_grant_admin_access(user=user, organization=org, acting_user=None, reason="test")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_commissionstatement",
                                                                       "view_statement"]))
    return user


@pytest.fixture
def issued(world):
    march(world)
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    commission_run(period=(2026, 3), now=COMMISSION_RUN)
    operator_staff = MembershipFactory(organization=Organization.objects.get(slug="rego"),
                                       role=Membership.Role.OPERATOR_SUPPORT, user=UserFactory(is_staff=True)).user
    return SimpleNamespace(**vars(world), ours=CommissionStatement.objects.get(reseller=world.partner),
                           theirs=CommissionStatement.objects.get(reseller=world.other), operator_staff=operator_staff,
                           partner_staff=staff_of(world.partner, email="admin@laddpartner.se"),
                           board=staff_of(world.solrosen, email="board@solrosen.se"))


def test_the_admin_is_scoped_to_the_reseller(client, issued):
    client.force_login(issued.operator_staff)
    page = client.get(reverse(COMMISSIONS))
    assert page.status_code == 200
    assert set(page.context["cl"].result_list) == {issued.ours, issued.theirs}
    client.force_login(issued.partner_staff)
    page = client.get(reverse(COMMISSIONS))
    assert list(page.context["cl"].result_list) == [issued.ours]
    own = client.get(reverse("admin:billing_commissionstatement_change", args=[issued.ours.pk]))
    assert own.status_code == 200
    body = own.content.decode()
    assert "BRF Solrosen" in body
    assert "BRF Älgen" in body
    other = client.get(reverse("admin:billing_commissionstatement_change", args=[issued.theirs.pk]))
    assert other.status_code == 302  # outside the user's scope: the admin's "does not exist" redirect
    # A sub-organization's board does not see its reseller's commission.
    client.force_login(issued.board)
    page = client.get(reverse(COMMISSIONS))
    assert list(page.context["cl"].result_list) == []


def test_the_pdf_is_downloaded_only_by_those_who_see_the_commission_statement(client, issued,
                                                                              django_capture_on_commit_callbacks):
    client.force_login(issued.partner_staff)
    url = reverse("admin:billing_commissionstatement_pdf", args=[issued.ours.pk])
    assert client.get(url).status_code == 404  # not e-mailed yet, so no PDF is stored
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse(COMMISSIONS), {"action": "resend_commissions", "_selected_action": [issued.ours.pk],
                                           "apply": "1", "reason": "Lost it"})
    response = client.get(url)
    assert response.status_code == 200
    assert "Självfaktura – provision" in " ".join(pdf_text(b"".join(response.streaming_content)).split())
    assert client.get(reverse("admin:billing_commissionstatement_pdf",
                              args=[issued.theirs.pk])).status_code == 404


def test_support_sends_a_commission_statement_again_with_a_reason(client, issued, django_capture_on_commit_callbacks):
    client.force_login(issued.operator_staff)
    data = {"action": "resend_commissions", "_selected_action": [issued.ours.pk]}
    assert client.post(reverse(COMMISSIONS), data).status_code == 200  # asks for the reason
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(COMMISSIONS), {**data, "apply": "1", "reason": "The reseller lost it"})
    assert response.status_code == 302
    entry = AuditLogEntry.objects.get(action="commission.resend")
    assert (entry.actor, entry.reason, entry.organization) == (issued.operator_staff, "The reseller lost it",
                                                               issued.partner)
    (message,) = mail.outbox
    assert message.to == ["ekonomi@laddpartner.se"]
    assert message.attachments[0][0] == "S-1.pdf"


def test_a_reseller_cannot_send_another_resellers_statement_again(client, issued):
    client.force_login(issued.partner_staff)
    client.post(reverse(COMMISSIONS), {"action": "resend_commissions", "_selected_action": [issued.theirs.pk],
                                       "apply": "1", "reason": "Curious"})
    assert not AuditLogEntry.objects.filter(action="commission.resend").exists()
