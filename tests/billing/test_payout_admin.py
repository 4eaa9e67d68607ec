"""The admin pages of association payouts: statements and their PDF, payouts and their actions (retry, bank payment
file, mark paid), payout files, fee plans and billing profiles; operator staff act, a board member only looks at
their own association's rows, and a refused action shows the service's message without writing anything."""

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry
from billing.models import BillingProfile, FeePlan, InvoiceSeries, Payout, PayoutFile, Statement
from billing.payment_file import parse_pain001_summary
from billing.selectors import format_amount

pytestmark = pytest.mark.django_db

D = Decimal
DEBTOR = {"name": "RE&GO AB klientmedel", "org_number": "5566778899", "iban": "SE4550000000058398257466",
          "bic": "ESSESESS"}
PAYOUTS = "admin:billing_payout_changelist"
STATEMENTS = "admin:billing_statement_changelist"


def make_statement(tenant, *, month=3, payout_amount="3324.70", method=BillingProfile.Method.BANK_FILE,
                   status=Payout.Status.SCHEDULED):
    """A statement as the run stores it (the brochure's figures) with its payout."""
    series, _created = InvoiceSeries.objects.get_or_create(seller=tenant.org, defaults={"prefix": "S-"})
    number = series.next_number
    series.next_number += 1
    series.save()
    statement = Statement.objects.create(
        organization=tenant.org, series=series, number=number, period_start=date(2026, month, 1),
        period_end=date(2026, month, 31), issue_date=date(2026, month + 1, 30), payout_date=date(2026, month + 2, 30),
        basis="paid", personal_wh=901_110, personal_amount=D("3604.44"), public_wh=28_943,
        public_amount=D("173.66"), roaming_amount=D("0.00"), roaming_share=D("90.00"), total_wh=930_053,
        total_amount=D("3778.10"), fee_excl=D("362.72"), fee_vat=D("90.68"), fee_incl=D("453.40"),
        payout_excl=D("2659.76"), payout_vat=D("664.94"), payout_incl=D(payout_amount))
    payout = Payout.objects.create(statement=statement, organization=tenant.org, amount=D(payout_amount),
                                   currency="SEK", method=method, due_date=statement.payout_date, status=status)
    return statement, payout


@pytest.fixture
def world(brf_a, brf_b, operator_staff):
    plan = FeePlan.objects.create(name="Standard 0,39", per_kwh=D("0.39"))
    for tenant in (brf_a, brf_b):
        BillingProfile.objects.create(organization=tenant.org, fee_plan=plan)
        # The board groups do not carry the payout pages' permissions yet; the tests give them to the person.
        tenant.board.user_permissions.add(*Permission.objects.filter(
            codename__in=["view_statement", "view_payout", "view_billingprofile", "view_feeplan",
                          "view_payoutfile", "change_payout", "change_billingprofile"]))
    a_statement, a_payout = make_statement(brf_a)
    b_statement, b_payout = make_statement(brf_b)
    return SimpleNamespace(a=brf_a, b=brf_b, staff=operator_staff, plan=plan, a_statement=a_statement,
                           a_payout=a_payout, b_statement=b_statement, b_payout=b_payout)


def post_action(client, action, payouts, **data):
    return client.post(reverse(PAYOUTS), {"action": action, "_selected_action": [p.pk for p in payouts], **data})


def messages_of(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


def status_of(payout) -> str:
    return Payout.objects.get(pk=payout.pk).status


# --- Statements -----------------------------------------------------------------------------------------------------
def test_statements_list_the_figures_and_a_board_member_sees_only_their_own(client, world):
    client.force_login(world.staff)
    page = client.get(reverse(STATEMENTS))
    assert page.status_code == 200
    assert set(page.context["cl"].result_list) == {world.a_statement, world.b_statement}
    body = page.content.decode()
    assert format_amount(D("3778.10"), "SEK") in body
    client.force_login(world.a.board)
    page = client.get(reverse(STATEMENTS))
    assert list(page.context["cl"].result_list) == [world.a_statement]
    filtered = client.get(reverse(STATEMENTS), {"period": "2026-03"})
    assert list(filtered.context["cl"].result_list) == [world.a_statement]
    assert client.get(reverse(STATEMENTS), {"period": "2026-13"}).status_code != 500
    own = client.get(reverse("admin:billing_statement_change", args=[world.a_statement.pk]))
    assert own.status_code == 200
    other = client.get(reverse("admin:billing_statement_change", args=[world.b_statement.pk]))
    assert other.status_code == 302  # the admin's "does not exist" redirect: the row is outside the user's scope


def test_the_statement_pdf_is_downloaded_only_by_those_who_see_the_statement(client, world):
    for statement in (world.a_statement, world.b_statement):
        statement.pdf.save(f"{statement.display_number}.pdf", ContentFile(b"%PDF-1.4 " + statement.organization
                                                                          .name.encode()))
    client.force_login(world.a.board)
    page = client.get(reverse("admin:billing_statement_change", args=[world.a_statement.pk]))
    url = reverse("admin:billing_statement_pdf", args=[world.a_statement.pk])
    assert url in page.content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 BRF A"
    assert client.get(reverse("admin:billing_statement_pdf", args=[world.b_statement.pk])).status_code == 404


def test_a_statement_without_a_stored_pdf_says_so(client, world):
    client.force_login(world.staff)
    page = client.get(reverse("admin:billing_statement_change", args=[world.a_statement.pk]))
    assert "Not stored yet" in page.content.decode()
    assert client.get(reverse("admin:billing_statement_pdf", args=[world.a_statement.pk])).status_code == 404


# --- Payouts --------------------------------------------------------------------------------------------------------
def test_a_board_member_sees_only_their_payouts_and_no_actions(client, world):
    client.force_login(world.a.board)
    page = client.get(reverse(PAYOUTS))
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [world.a_payout]
    assert page.context["action_form"] is None  # no action is offered to the board
    client.force_login(world.staff)
    staff_page = client.get(reverse(PAYOUTS))
    actions = [name for name, _label in staff_page.context["action_form"].fields["action"].choices]
    assert {"retry_payouts", "export_payout_file", "mark_paid"} <= set(actions)


@pytest.mark.parametrize("action", ["retry_payouts", "export_payout_file", "mark_paid"])
def test_a_board_member_cannot_run_the_payout_actions(client, world, settings, action):
    settings.PAYOUT_DEBTOR = DEBTOR
    world.a.org.bankgiro_number = "5402-9681"
    world.a.org.save()
    Payout.objects.filter(pk=world.a_payout.pk).update(status=Payout.Status.FAILED)
    client.force_login(world.a.board)
    post_action(client, action, [world.a_payout], apply="1", reason="Try",
                execution_date=timezone.localdate().isoformat())
    assert status_of(world.a_payout) == Payout.Status.FAILED
    assert not PayoutFile.objects.exists()
    assert not AuditLogEntry.objects.filter(action__startswith="payout.").exists()


def test_retry_schedules_a_failed_payout_again_with_the_reason(client, world):
    Payout.objects.filter(pk=world.a_payout.pk).update(status=Payout.Status.FAILED, error="No account")
    client.force_login(world.staff)
    page = post_action(client, "retry_payouts", [world.a_payout])
    assert page.status_code == 200
    assert "reason" in page.context["form"].fields
    response = post_action(client, "retry_payouts", [world.a_payout], apply="1", reason="Account fixed")
    assert response.status_code == 302
    assert status_of(world.a_payout) == Payout.Status.SCHEDULED
    entry = AuditLogEntry.objects.get(action="payout.retry")
    assert (entry.actor, entry.reason, entry.target_id) == (world.staff, "Account fixed", str(world.a_payout.pk))


def test_retrying_a_payout_that_has_not_failed_is_refused_without_writing(client, world):
    client.force_login(world.staff)
    response = post_action(client, "retry_payouts", [world.a_payout], apply="1", reason="Again", follow=True)
    assert any("only a failed payout is retried" in message for message in messages_of(response))
    assert status_of(world.a_payout) == Payout.Status.SCHEDULED
    assert not AuditLogEntry.objects.filter(action="payout.retry").exists()


def test_a_bank_payment_file_is_exported_and_downloaded(client, world, settings):
    settings.PAYOUT_DEBTOR = DEBTOR
    for tenant in (world.a, world.b):
        tenant.org.bankgiro_number = "5402-9681"
        tenant.org.save()
    client.force_login(world.staff)
    page = post_action(client, "export_payout_file", [world.a_payout, world.b_payout])
    assert page.status_code == 200
    assert [t.name for t in page.templates][0] == "admin/billing/payout/export_file.html"
    assert page.context["form"]["execution_date"].value() == timezone.localdate()
    execution = timezone.localdate() + timedelta(days=2)
    response = post_action(client, "export_payout_file", [world.a_payout, world.b_payout], apply="1",
                           execution_date=execution.isoformat(), reason="March payouts")
    assert response.status_code == 302
    stored = PayoutFile.objects.get()
    assert (stored.payouts, stored.total, stored.execution_date) == (2, D("6649.40"), execution)
    assert {status_of(world.a_payout), status_of(world.b_payout)} == {Payout.Status.EXPORTED}
    assert AuditLogEntry.objects.filter(action="payout.exported", reason="March payouts").count() == 2
    download = reverse("admin:billing_payoutfile_download", args=[stored.pk])
    assert any(download in message for message in messages_of(response))
    file_response = client.get(download)
    assert file_response.status_code == 200
    summary = parse_pain001_summary(b"".join(file_response.streaming_content))
    assert (summary.count, summary.control_sum) == (2, D("6649.40"))
    listing = client.get(reverse("admin:billing_payoutfile_changelist"))
    assert download in listing.content.decode()
    client.force_login(world.a.board)
    assert client.get(download).status_code == 404
    assert client.get(reverse("admin:billing_payoutfile_changelist")).status_code == 403


def test_a_refused_payout_file_is_a_form_error_and_nothing_is_written(client, world, settings):
    settings.PAYOUT_DEBTOR = DEBTOR  # but BRF A has no Bankgiro number or bank account
    client.force_login(world.staff)
    page = post_action(client, "export_payout_file", [world.a_payout], apply="1",
                       execution_date=timezone.localdate().isoformat(), reason="March payouts")
    assert page.status_code == 200
    assert "no Bankgiro number or bank account" in " ".join(page.context["form"].non_field_errors())
    past = post_action(client, "export_payout_file", [world.a_payout], apply="1",
                       execution_date=(timezone.localdate() - timedelta(days=1)).isoformat(), reason="x")
    assert "execution_date" in past.context["form"].errors
    assert not PayoutFile.objects.exists()
    assert status_of(world.a_payout) == Payout.Status.SCHEDULED
    assert not AuditLogEntry.objects.filter(action__startswith="payout.").exists()


def test_an_exported_payout_is_marked_paid_and_a_scheduled_one_is_refused(client, world):
    Payout.objects.filter(pk=world.a_payout.pk).update(status=Payout.Status.EXPORTED)
    client.force_login(world.staff)
    response = post_action(client, "mark_paid", [world.a_payout, world.b_payout], apply="1",
                           reason="Bank statement 30 May", follow=True)
    assert status_of(world.a_payout) == Payout.Status.PAID
    assert status_of(world.b_payout) == Payout.Status.SCHEDULED
    assert any("only a payout in a bank file is marked paid" in message for message in messages_of(response))
    entry = AuditLogEntry.objects.get(action="payout.paid")
    assert (entry.target_id, entry.reason) == (str(world.a_payout.pk), "Bank statement 30 May")


# --- Fee plans and billing profiles ---------------------------------------------------------------------------------
def test_operator_staff_add_a_fee_plan_with_a_reason_and_cannot_delete_a_used_one(client, world):
    client.force_login(world.staff)
    response = client.post(reverse("admin:billing_feeplan_add"), {
        "name": "Procent 12", "per_kwh": "0", "percentage": "12", "monthly_per_charge_point": "0", "vat_rate": "25",
        "basis": "paid", "roaming_share": "90", "payout_days": "30", "change_reason": "New offer"})
    assert response.status_code == 302
    plan = FeePlan.objects.get(name="Procent 12")
    assert plan.percentage == D("12.00")
    assert AuditLogEntry.objects.filter(reason="New offer", target_id=str(plan.pk)).exists()
    assert client.get(reverse("admin:billing_feeplan_delete", args=[world.plan.pk])).status_code == 403
    assert client.get(reverse("admin:billing_feeplan_delete", args=[plan.pk])).status_code == 200


def test_a_board_member_sees_no_fee_plans(client, world):
    client.force_login(world.a.board)
    assert client.get(reverse("admin:billing_feeplan_changelist")).status_code == 403
    assert client.get(reverse("admin:billing_feeplan_change", args=[world.plan.pk])).status_code in (302, 403)


def test_a_board_member_views_their_own_billing_profile_only_and_cannot_change_it(client, world):
    own = world.a.org.billing_profile
    client.force_login(world.a.board)
    listing = client.get(reverse("admin:billing_billingprofile_changelist"))
    assert list(listing.context["cl"].result_list) == [own]
    page = client.get(reverse("admin:billing_billingprofile_change", args=[own.pk]))
    assert page.status_code == 200
    response = client.post(reverse("admin:billing_billingprofile_change", args=[own.pk]), {
        "fee_plan": world.plan.pk, "payout_method": "stripe", "iban": "SE4550000000058398257466",
        "change_reason": "mine"})
    assert response.status_code == 403
    assert BillingProfile.objects.get(pk=own.pk).payout_method == BillingProfile.Method.BANK_FILE
    other = world.b.org.billing_profile
    assert client.get(reverse("admin:billing_billingprofile_change", args=[other.pk])).status_code == 302


def test_operator_staff_change_a_billing_profile_with_a_reason(client, world):
    profile = world.a.org.billing_profile
    client.force_login(world.staff)
    response = client.post(reverse("admin:billing_billingprofile_change", args=[profile.pk]), {
        "fee_plan": world.plan.pk, "commission_rate": "2.00", "subscription_plan": "", "payout_method": "bank_file",
        "stripe_account_id": "", "clearing_number": "", "account_number": "", "iban": "SE4550000000058398257466",
        "change_reason": "Board sent the account"})
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    profile.refresh_from_db()
    assert profile.iban == "SE4550000000058398257466"
    entry = AuditLogEntry.objects.get(reason="Board sent the account")
    assert "iban" in entry.changes

