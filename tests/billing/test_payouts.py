"""Executing statement payouts: Stripe Connect transfers against the local Connect fake (the real stripe client over
HTTP), failures alerted and retried without paying twice, bank payment files and marking them paid."""

import zlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import AuditLogEntry
from billing.models import BillingProfile, Payout, Statement
from billing.payment_file import parse_pain001_summary
from billing.services.payouts import (
    PayoutError,
    connect_account_refresh,
    connect_onboarding_start,
    payout_file_create,
    payout_mark_paid,
    payout_retry,
    payouts_execute,
)
from billing.services.statements import statement_run
from tests.accounts.factories import OrganizationFactory, UserFactory
from tests.billing.test_statements import STATEMENT_RUN, brf, session, station_with_price, stations  # noqa: F401
from tests.billing.test_stripe_connect import gateway, onboard, set_platform_balance, transfers_to  # noqa: F401

D = Decimal
PAYOUT_DAY = date(2026, 5, 30)
DEBTOR = {"name": "RE&GO AB klientmedel", "org_number": "5566778899", "iban": "SE4550000000058398257466",
          "bic": "ESSESESS"}


@pytest.fixture
def connected(brf, gateway, localstripe, request, settings):  # noqa: F811
    """The association paid through Stripe, its account made through the service (unique per test: the fake lives
    for the whole session)."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    profile = brf.billing_profile
    profile.payout_method = BillingProfile.Method.STRIPE
    profile.save()
    brf.pk_for_stripe = 500_000 + zlib.crc32(request.node.name.encode()) % 1_000_000
    profile.stripe_account_id = gateway.connect_account_create(
        reference=f"org-{brf.pk_for_stripe}", email="styrelsen@solrosen.se", business_name=brf.name)
    profile.save()
    return profile


def statement_with_payout(brf, stations, energy_wh=25_000):  # noqa: F811
    session(stations["public"], energy_wh=energy_wh)  # 6.00/kWh
    statement_run(period=(2026, 3), now=STATEMENT_RUN)
    return Payout.objects.get(statement=Statement.objects.get(organization=brf))


def test_a_due_payout_is_transferred_once(brf, stations, connected, gateway, localstripe):  # noqa: F811
    onboard(localstripe, connected.stripe_account_id)
    set_platform_balance(localstripe, 10_000_000)
    payout = statement_with_payout(brf, stations)
    assert payout.method == BillingProfile.Method.STRIPE
    assert payouts_execute(today=PAYOUT_DAY - timedelta(days=1), now=STATEMENT_RUN).paid == []
    summary = payouts_execute(today=PAYOUT_DAY, now=STATEMENT_RUN)
    payout.refresh_from_db()
    assert summary.paid == [payout.pk]
    assert payout.status == Payout.Status.PAID
    assert payout.stripe_transfer_id.startswith("tr_")
    assert payouts_execute(today=PAYOUT_DAY, now=STATEMENT_RUN).paid == []
    (transfer,) = transfers_to(gateway, connected.stripe_account_id)
    assert (transfer.amount, transfer.currency) == (int(payout.amount * 100), "sek")
    assert payout.amount == D("137.81")  # 150.00 − (0.39 × 25 kWh = 9.75 + VAT 2.44)


def test_a_refused_transfer_fails_alerts_and_is_paid_once_on_retry(brf, stations, connected, gateway,  # noqa: F811
                                                                   localstripe, settings,
                                                                   django_capture_on_commit_callbacks):
    settings.ADMINS = [("Support", "support@csms.example")]
    set_platform_balance(localstripe, 10_000_000)
    payout = statement_with_payout(brf, stations)
    with django_capture_on_commit_callbacks(execute=True):
        summary = payouts_execute(today=PAYOUT_DAY, now=STATEMENT_RUN)
    payout.refresh_from_db()
    assert summary.failed == [payout.pk]
    assert (payout.status, payout.attempts) == (Payout.Status.FAILED, 1)
    assert "transfer" in payout.error.lower()  # Stripe's refusal: the account cannot receive transfers yet
    assert any("Payout failed" in message.subject for message in mail.outbox)
    assert payouts_execute(today=PAYOUT_DAY, now=STATEMENT_RUN).paid == []  # failed ones wait for a person
    onboard(localstripe, connected.stripe_account_id)
    assert connect_account_refresh(profile=connected) is True
    person = UserFactory()
    on_payout_day = datetime(2026, 5, 30, 9, 0, tzinfo=UTC)
    payout_retry(payout=payout, acting_user=person, reason="Board finished onboarding", now=on_payout_day)
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (Payout.Status.PAID, 2)
    assert len(transfers_to(gateway, connected.stripe_account_id)) == 1
    assert AuditLogEntry.objects.filter(action="payout.retry", actor=person).exists()
    with pytest.raises(PayoutError, match="only a failed payout"):
        payout_retry(payout=payout, acting_user=person, reason="again", now=STATEMENT_RUN)


def test_onboarding_creates_the_account_once_and_gives_a_link(brf, gateway, request):  # noqa: F811
    other = OrganizationFactory(pk=600_000 + zlib.crc32(request.node.name.encode()) % 1_000_000, name="BRF Eken",
                              contact_email="styrelsen@brf-eken.se")
    BillingProfile.objects.create(organization=other, fee_plan=brf.billing_profile.fee_plan)
    person = UserFactory()
    url = connect_onboarding_start(organization=other, acting_user=person, refresh_url="https://csms.example/r",
                                   return_url="https://csms.example/ok")
    account = BillingProfile.objects.get(organization=other).stripe_account_id
    assert url.startswith("http")
    assert account.startswith("acct_")
    connect_onboarding_start(organization=other, acting_user=person, refresh_url="https://csms.example/r",
                             return_url="https://csms.example/ok")
    assert BillingProfile.objects.get(organization=other).stripe_account_id == account
    assert AuditLogEntry.objects.filter(action="payout.connect_account").count() == 1


def test_bank_file_payouts_are_exported_once_and_marked_paid(brf, stations, settings):  # noqa: F811
    settings.PAYOUT_DEBTOR = DEBTOR
    brf.bankgiro_number = "5402-9681"
    brf.save()
    payout = statement_with_payout(brf, stations)
    assert payouts_execute(today=PAYOUT_DAY, now=STATEMENT_RUN).waiting_for_file == 1
    person = UserFactory()
    stored = payout_file_create(payouts=[payout], execution_date=PAYOUT_DAY, acting_user=person, reason="May",
                                now=STATEMENT_RUN)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.EXPORTED
    summary = parse_pain001_summary(stored.file.read())
    assert (summary.count, summary.control_sum) == (1, payout.amount)
    assert summary.end_to_end_ids == (f"PAYOUT-{payout.pk}",)
    with pytest.raises(PayoutError, match="only scheduled bank-file payouts"):
        payout_file_create(payouts=[payout], execution_date=PAYOUT_DAY, acting_user=person, reason="again",
                           now=STATEMENT_RUN)
    payout_mark_paid(payout=payout, acting_user=person, reason="Bank statement 30 May", now=STATEMENT_RUN)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert AuditLogEntry.objects.filter(action__in=["payout.exported", "payout.paid"]).count() == 2


def test_a_payout_without_an_account_or_debtor_is_refused_and_nothing_changes(brf, stations, settings):  # noqa: F811
    payout = statement_with_payout(brf, stations)
    person = UserFactory()
    settings.PAYOUT_DEBTOR = DEBTOR
    with pytest.raises(PayoutError, match="no Bankgiro number or bank account"):
        payout_file_create(payouts=[payout], execution_date=PAYOUT_DAY, acting_user=person, reason="May",
                           now=STATEMENT_RUN)
    settings.PAYOUT_DEBTOR = {**DEBTOR, "iban": ""}
    brf.bankgiro_number = "5402-9681"
    brf.save()
    with pytest.raises(PayoutError, match="not configured"):
        payout_file_create(payouts=[payout], execution_date=PAYOUT_DAY, acting_user=person, reason="May",
                           now=STATEMENT_RUN)
    with pytest.raises(PayoutError, match="reason"):
        payout_mark_paid(payout=payout, acting_user=person, reason=" ", now=STATEMENT_RUN)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.SCHEDULED


def test_an_amount_the_association_owes_is_never_paid_out(brf, stations):  # noqa: F811
    brf.billing_profile.fee_plan.monthly_per_charge_point = D("100.00")
    brf.billing_profile.fee_plan.save()
    payout = statement_with_payout(brf, stations, energy_wh=1_000)
    assert payout.status == Payout.Status.OWED
    assert payouts_execute(today=PAYOUT_DAY + timedelta(days=400), now=STATEMENT_RUN).paid == []


def test_support_makes_an_onboarding_link_and_refreshes_the_status_from_the_admin(brf, gateway, localstripe,  # noqa: F811
                                                                                    client, request):
    from django.urls import reverse

    from accounts.models import Membership, Organization
    from tests.accounts.factories import MembershipFactory

    # A fresh organization id per test: the Connect fake keeps its accounts for the whole session.
    other = OrganizationFactory(pk=700_000 + zlib.crc32(request.node.name.encode()) % 1_000_000, name="BRF Ek",
                                contact_email="styrelsen@brf-ek.se")
    profile = BillingProfile.objects.create(organization=other, fee_plan=brf.billing_profile.fee_plan,
                                            payout_method=BillingProfile.Method.STRIPE)
    staff = MembershipFactory(organization=Organization.objects.get(slug="rego"),
                              role=Membership.Role.OPERATOR_SUPPORT, user=UserFactory(is_staff=True)).user
    client.force_login(staff)
    url = reverse("admin:billing_billingprofile_changelist")
    response = client.post(url, {"action": "stripe_onboarding_link", "_selected_action": [profile.pk]}, follow=True)
    profile.refresh_from_db()
    assert profile.stripe_account_id.startswith("acct_")
    assert any("onboarding link" in str(message) for message in response.context["messages"])
    onboard(localstripe, profile.stripe_account_id)
    response = client.post(url, {"action": "stripe_refresh", "_selected_action": [profile.pk]}, follow=True)
    profile.refresh_from_db()
    assert profile.stripe_payouts_enabled is True
    # A board member sees the profile but runs no action.
    board = MembershipFactory(organization=other, role=Membership.Role.ORG_ADMIN, user=UserFactory(is_staff=True)).user
    client.force_login(board)
    client.post(url, {"action": "stripe_onboarding_link", "_selected_action": [profile.pk]})
    assert AuditLogEntry.objects.filter(action="payout.connect_account").count() == 1
