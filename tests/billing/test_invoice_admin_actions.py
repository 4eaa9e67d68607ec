"""The invoice page's actions: recording a manual payment (operator staff, one invoice, amount/date/reason checked
as form errors), unblocking the tags dunning blocked at reminder 3 (and the run not blocking that invoice again,
while a new overdue invoice still can), and e-mailing the newest reminder again; each audited with who and why,
and none of them reaching another association's invoices."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken, Membership, Organization
from accounts.services.organizations import user_grant_admin_access
from accounts.services.tokens import id_token_block, id_token_unblock
from billing.models import Invoice, InvoiceLine, InvoiceSeries, Payment, RecurringFee, Reminder
from billing.ocr import invoice_ocr_base, ocr_reference
from billing.services import dunning, payments
from billing.services.dunning import DunningRefused, dunning_run, dunning_unblock_manually
from billing.services.payments import payment_record
from tests.accounts.factories import IdTokenFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

D = Decimal
DUE = date(2026, 2, 11)
CHANGELIST = "admin:billing_invoice_changelist"


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)


@pytest.fixture
def world(brf_a, brf_b, operator_staff):
    operator = Organization.objects.get(kind=Organization.Kind.OPERATOR)
    series = InvoiceSeries.objects.create(seller=operator, prefix="2026")
    fees = {tenant.org.pk: RecurringFee.objects.create(organization=tenant.org, name="Laddplats", amount=D("150.00"))
            for tenant in (brf_a, brf_b)}
    return SimpleNamespace(series=series, fees=fees, a=brf_a, b=brf_b, staff=operator_staff, numbers=iter(range(1, 99)))


def make_invoice(world, tenant, *, resident=0, due=DUE, month=1, total="150.00", status=Invoice.Status.ISSUED,
                 kind=Invoice.Kind.INVOICE, credits=None) -> Invoice:
    """An issued invoice of one fee line, as the run would have made it."""
    buyer = tenant.residents[resident]
    number = next(world.numbers)
    invoice = Invoice.objects.create(
        series=world.series, number=number, kind=kind, credits=credits, buyer=buyer, organization=tenant.org,
        period_start=date(2026, month, 1), period_end=date(2026, month, 28), issue_date=due - timedelta(days=10),
        due_date=due, currency="SEK", total=D(total), vat=(D(total) * D("0.2")).quantize(D("0.01")),
        taxable=(D(total) * D("0.8")).quantize(D("0.01")),
        ocr=ocr_reference(invoice_ocr_base(prefix="2026", number=number)), status=status)
    InvoiceLine.objects.create(invoice=invoice, position=1, kind=InvoiceLine.Kind.FEE, fee=world.fees[tenant.org.pk],
                               buyer=buyer, fee_period=date(2026, month, 1), on_credit_note=kind != "invoice",
                               description="Laddplats", quantity=D(1), unit="st", unit_price=D(total),
                               amount=D(total), vat_rate=D(25))
    return invoice


def remind_to_level(level: int, due: date = DUE) -> None:
    """Run dunning on the days reminders 1..level of an invoice due ``due`` are due (3, 10, 17 days after)."""
    for offset in (3, 10, 17)[:level]:
        day = due + timedelta(days=offset)
        dunning_run(today=day, now=at(day))


def grant_view_invoices(user) -> None:
    # The board groups do not carry invoice permissions yet; the tests give them to the person.
    user.user_permissions.add(Permission.objects.get(codename="view_invoice"))


def post_action(client, action, invoices, **data):
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [i.pk for i in invoices], **data})


def statuses(tokens):
    return [IdToken.objects.get(pk=token.pk).status for token in tokens]


def messages_of(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


# --- Record a manual payment ----------------------------------------------------------------------------------------
@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_the_payment_page_offers_what_is_still_due_and_records_the_payment(client, world):
    invoice = make_invoice(world, world.a)
    payment_record(invoice=invoice, channel="bankgiro", amount=D("40.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-1")
    client.force_login(world.staff)
    page = post_action(client, "record_manual_payment", [invoice])
    assert page.status_code == 200
    assert [t.name for t in page.templates][0] == "admin/billing/invoice/record_payment.html"
    form = page.context["form"]
    assert form["amount"].value() == D("110.00")
    assert form["paid_on"].value() == timezone.localdate()
    assert "110,00" in page.content.decode()
    paid_on = timezone.localdate() - timedelta(days=2)
    response = post_action(client, "record_manual_payment", [invoice], apply="1", amount="110.00",
                           paid_on=paid_on.isoformat(), reason="Paid in cash at the board meeting")
    assert response.status_code == 302
    payment = Payment.objects.get(channel=Payment.Channel.MANUAL)
    assert (payment.amount, payment.applied, payment.credited) == (D("110.00"), D("110.00"), D("0.00"))
    assert (payment.recorded_by, payment.reason) == (world.staff, "Paid in cash at the board meeting")
    assert timezone.localdate(payment.paid_at) == paid_on
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    entry = AuditLogEntry.objects.get(action="billing.payment_record")
    assert (entry.actor, entry.reason, entry.target_id) == (world.staff, "Paid in cash at the board meeting",
                                                            str(invoice.pk))
    assert entry.changes["status"] == ["issued", "paid"]


@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_a_partial_manual_payment_leaves_the_rest_due_and_an_overpayment_is_credited(client, world):
    invoice = make_invoice(world, world.a)
    client.force_login(world.staff)
    today = timezone.localdate().isoformat()
    post_action(client, "record_manual_payment", [invoice], apply="1", amount="100", paid_on=today, reason="Swish")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    page = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert page.context["adminform"].form.instance.pk == invoice.pk
    content = page.content.decode().replace("\xa0", " ")
    assert "100,00 kr" in content
    assert "50,00 kr" in content
    post_action(client, "record_manual_payment", [invoice], apply="1", amount="80,00", paid_on=today,
                reason="Second transfer")
    second = Payment.objects.filter(channel=Payment.Channel.MANUAL).order_by("pk").last()
    assert (second.amount, second.applied, second.credited) == (D("80.00"), D("50.00"), D("30.00"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


@pytest.mark.parametrize(("field", "data"), [
    ("amount", {"amount": "0"}),
    ("amount", {"amount": "0.00"}),
    ("amount", {"amount": "-10.00"}),
    ("amount", {"amount": "10.005"}),
    ("amount", {"amount": "abc"}),
    ("amount", {"amount": "NaN"}),
    ("amount", {"amount": ""}),
    ("reason", {"reason": ""}),
    ("reason", {"reason": "   "}),
    ("paid_on", {"paid_on": "2026-02-30"}),
    ("paid_on", {"paid_on": "future"}),
])
def test_bad_payment_input_is_a_form_error_and_nothing_is_written(client, world, field, data):
    invoice = make_invoice(world, world.a)
    client.force_login(world.staff)
    values = {"amount": "150.00", "paid_on": timezone.localdate().isoformat(), "reason": "Cash", **data}
    if values["paid_on"] == "future":
        values["paid_on"] = (timezone.localdate() + timedelta(days=1)).isoformat()
    audit_rows = AuditLogEntry.objects.count()
    response = post_action(client, "record_manual_payment", [invoice], apply="1", **values)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Payment.objects.exists()
    assert AuditLogEntry.objects.count() == audit_rows
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED


def test_a_refusal_of_the_payment_service_is_shown_on_the_form(client, world, monkeypatch):
    invoice = make_invoice(world, world.a)

    def refuse(**kwargs):
        raise payments.PaymentError("The payment is in EUR but the invoice in SEK.")

    monkeypatch.setattr(payments, "payment_record", refuse)
    client.force_login(world.staff)
    response = post_action(client, "record_manual_payment", [invoice], apply="1", amount="150.00",
                           paid_on=timezone.localdate().isoformat(), reason="Cash")
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["The payment is in EUR but the invoice in SEK."]
    assert not Payment.objects.exists()


def test_an_invoice_no_longer_open_gets_a_message_not_the_form(client, world):
    invoice = make_invoice(world, world.a)
    client.force_login(world.staff)
    assert post_action(client, "record_manual_payment", [invoice]).status_code == 200
    # Credited by someone else between showing the form and submitting it.
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.CREDITED)
    response = post_action(client, "record_manual_payment", [invoice], apply="1", amount="150.00",
                           paid_on=timezone.localdate().isoformat(), reason="Cash")
    assert response.status_code == 302
    assert any("nothing is due" in message for message in messages_of(response))
    assert not Payment.objects.exists()


def test_one_invoice_at_a_time_and_only_open_ones(client, world):
    first, second = make_invoice(world, world.a), make_invoice(world, world.a, resident=1)
    client.force_login(world.staff)
    response = post_action(client, "record_manual_payment", [first, second])
    assert response.status_code == 302
    assert any("exactly one" in message for message in messages_of(response))
    payment_record(invoice=first, channel="bankgiro", amount=D("150.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-1")
    response = post_action(client, "record_manual_payment", [first], apply="1", amount="10.00",
                           paid_on=timezone.localdate().isoformat(), reason="Cash")
    assert response.status_code == 302
    assert not Payment.objects.filter(channel=Payment.Channel.MANUAL).exists()


def test_a_manual_payment_that_settles_an_invoice_at_reminder_3_unblocks_the_tags(client, world):
    invoice = make_invoice(world, world.a)
    tag = world.a.tokens[0]
    remind_to_level(3)
    assert statuses([tag]) == [IdToken.Status.BLOCKED]
    client.force_login(world.staff)
    post_action(client, "record_manual_payment", [invoice], apply="1", amount="150.00",
                paid_on=timezone.localdate().isoformat(), reason="Paid at the office")
    assert statuses([tag]) == [IdToken.Status.ACTIVE]


def test_a_board_member_sees_only_the_associations_invoices_and_cannot_record_payments(client, world):
    own, other = make_invoice(world, world.a), make_invoice(world, world.b)
    grant_view_invoices(world.a.board)
    client.force_login(world.a.board)
    listing = client.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [own]
    actions = [choice[0] for choice in listing.context["action_form"].fields["action"].choices]
    assert "record_manual_payment" not in actions
    assert "unblock_tags" not in actions
    assert "resend_reminder" in actions
    assert client.get(reverse("admin:billing_invoice_change", args=[other.pk])).status_code == 302
    for invoice in (own, other):
        response = post_action(client, "record_manual_payment", [invoice], apply="1", amount="150.00",
                               paid_on=timezone.localdate().isoformat(), reason="Cash")
        assert response.status_code == 302
    assert not Payment.objects.exists()
    assert not AuditLogEntry.objects.filter(action="billing.payment_record").exists()


def test_a_board_member_cannot_act_on_another_associations_invoice(client, world):
    # The other tenant's invoice is not in the board member's queryset, so a posted id selects nothing.
    other = make_invoice(world, world.b)
    remind_to_level(3)
    grant_view_invoices(world.a.board)
    client.force_login(world.a.board)
    response = post_action(client, "resend_reminder", [other], apply="1", reason="Resend")
    assert response.status_code == 302
    assert not AuditLogEntry.objects.filter(action="invoice.reminder_resent").exists()


# --- Unblock the resident's tags --------------------------------------------------------------------------------------
def test_operator_staff_unblock_the_tags_with_a_reason_and_the_run_does_not_block_that_invoice_again(client, world):
    invoice = make_invoice(world, world.a)
    tag = world.a.tokens[0]
    remind_to_level(3)
    assert statuses([tag]) == [IdToken.Status.BLOCKED]
    client.force_login(world.staff)
    page = post_action(client, "unblock_tags", [invoice])
    assert page.status_code == 200
    assert "reason" in page.context["form"].fields
    response = post_action(client, "unblock_tags", [invoice], apply="1", reason="Payment plan agreed 2026-03-01")
    assert response.status_code == 302
    assert any("1 tags unblocked" in message for message in messages_of(response))
    assert statuses([tag]) == [IdToken.Status.ACTIVE]
    third = invoice.reminders.get(level=3)
    assert third.unblocked_at is not None
    entry = AuditLogEntry.objects.get(action="invoice.dunning_unblocked")
    assert (entry.actor, entry.reason, entry.target_id) == (world.staff, "Payment plan agreed 2026-03-01",
                                                            str(invoice.pk))
    assert entry.changes["unblocked_tokens"] == [None, [tag.pk]]
    token_entry = AuditLogEntry.objects.filter(action="id_token.unblocked").get()
    assert (token_entry.actor, token_entry.reason) == (world.staff, "Payment plan agreed 2026-03-01")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED  # still owed: only the tags are released
    # Daily runs for the following weeks leave the tag alone …
    later = make_invoice(world, world.a, due=date(2026, 4, 11), month=3)
    day = date(2026, 3, 1)
    while day < date(2026, 4, 28):
        dunning_run(today=day, now=at(day))
        assert statuses([tag]) == [IdToken.Status.ACTIVE], day
        day += timedelta(days=1)
    assert invoice.reminders.count() == 3
    # … until a new invoice reaches its own third reminder.
    summary = dunning_run(today=date(2026, 4, 28), now=at(date(2026, 4, 28)))
    assert [(r.invoice_id, r.level) for r in summary.reminders] == [(later.pk, 3)]
    assert statuses([tag]) == [IdToken.Status.BLOCKED]
    assert IdToken.objects.get(pk=tag.pk).blocked_reason == f"unpaid invoice {later.display_number}"
    # Paying the new invoice unblocks it again; the first one no longer holds the tag.
    payment_record(invoice=later, channel="bankgiro", amount=D("150.00"), currency="SEK",
                   paid_at=at(date(2026, 4, 29)), external_id="bg-later")
    assert statuses([tag]) == [IdToken.Status.ACTIVE]


@pytest.mark.parametrize("situation", ["no third reminder", "paid", "already unblocked", "credited"])
def test_unblocking_is_refused_with_a_message_where_it_does_not_apply(client, world, situation):
    invoice = make_invoice(world, world.a)
    remind_to_level(2 if situation == "no third reminder" else 3)
    if situation == "paid":
        Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.PAID)
    elif situation == "credited":
        Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.CREDITED)
    elif situation == "already unblocked":
        dunning_unblock_manually(invoice=invoice, acting_user=world.staff, reason="Plan", now=timezone.now())
    tag_statuses = statuses(world.a.tokens)
    audit_rows = AuditLogEntry.objects.count()
    client.force_login(world.staff)
    response = post_action(client, "unblock_tags", [invoice], apply="1", reason="Plan agreed")
    assert response.status_code == 302
    errors = [m for m in response.wsgi_request._messages if m.level_tag == "error"]
    assert len(errors) == 1
    assert str(invoice) in str(errors[0])
    assert statuses(world.a.tokens) == tag_statuses
    assert AuditLogEntry.objects.count() == audit_rows


def test_unblocking_without_a_reason_asks_again_and_changes_nothing(client, world):
    invoice = make_invoice(world, world.a)
    remind_to_level(3)
    client.force_login(world.staff)
    response = post_action(client, "unblock_tags", [invoice], apply="1", reason="")
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert statuses([world.a.tokens[0]]) == [IdToken.Status.BLOCKED]
    assert invoice.reminders.get(level=3).unblocked_at is None
    with pytest.raises(DunningRefused):
        dunning_unblock_manually(invoice=invoice, acting_user=world.staff, reason="  ", now=timezone.now())
    with pytest.raises(DunningRefused):
        dunning_unblock_manually(invoice=invoice, acting_user=None, reason="System", now=timezone.now())
    assert invoice.reminders.get(level=3).unblocked_at is None


def test_a_board_member_cannot_unblock(client, world):
    invoice = make_invoice(world, world.a)
    remind_to_level(3)
    grant_view_invoices(world.a.board)
    client.force_login(world.a.board)
    response = post_action(client, "unblock_tags", [invoice], apply="1", reason="We agreed a plan")
    assert response.status_code == 302
    assert statuses([world.a.tokens[0]]) == [IdToken.Status.BLOCKED]
    assert not AuditLogEntry.objects.filter(action="invoice.dunning_unblocked").exists()


def test_tags_held_by_another_unpaid_invoice_or_blocked_again_by_a_person_stay_blocked(world):
    first = make_invoice(world, world.a)
    second = make_invoice(world, world.a, due=date(2026, 2, 13), month=2)
    spare = IdTokenFactory(organization=world.a.org, user=world.a.residents[0])
    for day in (date(2026, 2, 14), date(2026, 2, 16), date(2026, 2, 21), date(2026, 2, 23), date(2026, 2, 28)):
        dunning_run(today=day, now=at(day))
    # Only the first invoice is at reminder 3: its block holds both tags.
    assert statuses([world.a.tokens[0], spare]) == [IdToken.Status.BLOCKED] * 2
    dunning_run(today=date(2026, 3, 2), now=at(date(2026, 3, 2)))  # the second reaches reminder 3 as well
    result = dunning_unblock_manually(invoice=first, acting_user=world.staff, reason="Plan for the first",
                                      now=at(date(2026, 3, 3)))
    assert result.unblocked == []
    assert {token.pk for token in result.kept} == {world.a.tokens[0].pk, spare.pk}
    assert statuses([world.a.tokens[0], spare]) == [IdToken.Status.BLOCKED] * 2
    # The second invoice's unblock releases them, except a tag a person blocked again for another reason.
    id_token_unblock(token=spare, reason="Found it", acting_user=world.staff)
    id_token_block(token=spare, reason="Reported stolen", acting_user=world.staff)
    result = dunning_unblock_manually(invoice=second, acting_user=world.staff, reason="Plan for both",
                                      now=at(date(2026, 3, 3)))
    assert [token.pk for token in result.unblocked] == [world.a.tokens[0].pk]
    assert [token.pk for token in result.kept] == [spare.pk]
    assert IdToken.objects.get(pk=spare.pk).blocked_reason == "Reported stolen"


# --- Send the latest reminder again -----------------------------------------------------------------------------------
def test_the_newest_reminder_is_e_mailed_again_with_an_audit_row(client, world, django_capture_on_commit_callbacks):
    invoice = make_invoice(world, world.a)
    remind_to_level(2)
    assert mail.outbox == []  # the run's own e-mails wait for commits the test does not run
    client.force_login(world.staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "resend_reminder", [invoice], apply="1", reason="Resident lost the e-mail")
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == [invoice.buyer.email]
    assert message.subject.startswith("Påminnelse 2: faktura")
    assert message.attachments[0][2] == "application/pdf"
    entry = AuditLogEntry.objects.get(action="invoice.reminder_resent")
    assert (entry.actor, entry.reason, entry.changes) == (world.staff, "Resident lost the e-mail",
                                                          {"reminder": [None, 2]})
    assert invoice.reminders.get(level=2).sent_at is not None


@pytest.mark.parametrize("situation", ["no reminder", "paid", "no e-mail"])
def test_resending_is_refused_with_a_clear_message(client, world, situation, django_capture_on_commit_callbacks):
    invoice = make_invoice(world, world.a)
    if situation != "no reminder":
        remind_to_level(1)
    if situation == "paid":
        payment_record(invoice=invoice, channel="bankgiro", amount=D("150.00"), currency="SEK", paid_at=at(DUE),
                       external_id="bg-1")
    if situation == "no e-mail":
        buyer = invoice.buyer
        buyer.email, buyer.mobile_number = None, "+46701234567"
        buyer.save(update_fields=["email", "mobile_number"])
    client.force_login(world.staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "resend_reminder", [invoice], apply="1", reason="Please")
    errors = [str(m) for m in response.wsgi_request._messages if m.level_tag == "error"]
    expected = {"no reminder": "has had no reminder yet", "paid": "only sent for an unpaid invoice",
                "no e-mail": "has no e-mail address"}[situation]
    assert len(errors) == 1
    assert expected in errors[0]
    assert mail.outbox == []
    assert not AuditLogEntry.objects.filter(action="invoice.reminder_resent").exists()


def test_a_board_admin_may_resend_their_residents_reminder_but_a_viewer_may_not(client, world,
                                                                               django_capture_on_commit_callbacks):
    invoice = make_invoice(world, world.a)
    remind_to_level(1)
    grant_view_invoices(world.a.board)
    client.force_login(world.a.board)
    with django_capture_on_commit_callbacks(execute=True):
        post_action(client, "resend_reminder", [invoice], apply="1", reason="Asked at the AGM")
    assert len(mail.outbox) == 1
    assert AuditLogEntry.objects.get(action="invoice.reminder_resent").actor == world.a.board
    viewer = MembershipFactory(organization=world.a.org, role=Membership.Role.ORG_VIEWER,
                               user=UserFactory(is_staff=True)).user
    user_grant_admin_access(user=viewer, organization=world.a.org, acting_user=None, reason="test")
    grant_view_invoices(viewer)
    client.force_login(viewer)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "resend_reminder", [invoice], apply="1", reason="Me too")
    assert any("not send" in m for m in messages_of(response))
    assert len(mail.outbox) == 1
    assert AuditLogEntry.objects.filter(action="invoice.reminder_resent").count() == 1


def test_reminder_resend_service_checks_the_person_and_reason(world):
    invoice = make_invoice(world, world.a)
    remind_to_level(1)
    for user, reason in ((None, "System"), (world.staff, "")):
        with pytest.raises(DunningRefused):
            dunning.reminder_resend(invoice=invoice, acting_user=user, reason=reason, now=timezone.now())
    assert Reminder.objects.get().level == 1
