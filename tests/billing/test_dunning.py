"""Dunning with a fixed clock: reminders 1–3 on their days (once each, idempotent reruns), the e-mail with the PDF,
the reminder fee and its 60 SEK limit, blocking the buyer's tokens at the third and unblocking exactly those when a
payment settles the invoice; the differential local list for stations that use one; the admin overview."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken
from accounts.services.tokens import id_token_block, id_token_issue, id_token_unblock
from billing.models import Invoice, InvoiceLine, InvoiceSeries, RecurringFee, Reminder
from billing.ocr import invoice_ocr_base, ocr_reference
from billing.services import dunning
from billing.services.dunning import DunningError, dunning_local_lists_send, dunning_run, dunning_unblock
from billing.services.payments import payment_record
from charging.models import RemoteCommand
from charging.services.authorization import authorize
from charging.services.stations import charge_point_register
from tests.accounts.factories import MembershipFactory, OperatorFactory, OrganizationFactory, UserFactory
from tests.billing.test_invoice_pdf import pdf_text as read_pdf

D = Decimal
DUE = date(2026, 2, 11)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)


def run(day: date):
    return dunning_run(today=day, now=at(day))


@pytest.fixture
def world(db):
    operator = OperatorFactory(name="RE&GO AB", slug="rego-ab")
    brf = OrganizationFactory(name="BRF Solrosen")
    series = InvoiceSeries.objects.create(seller=operator, prefix="2026")
    fee = RecurringFee.objects.create(organization=brf, name="Medlemsavgift laddning", amount=D("150.00"))
    resident = MembershipFactory(organization=brf, user=UserFactory(email="anna@example.com",
                                                                    first_name="Anna")).user
    neighbour = MembershipFactory(organization=brf, user=UserFactory(email="nils@example.com")).user
    tags = [id_token_issue(organization=brf, uid=f"AB12CD{n}0", user=resident, acting_user=None, reason="test")
            for n in range(2)]
    neighbour_tag = id_token_issue(organization=brf, uid="EE12CD90", user=neighbour, acting_user=None, reason="t")
    return {"operator": operator, "brf": brf, "series": series, "fee": fee, "resident": resident,
            "neighbour": neighbour, "tags": tags, "neighbour_tag": neighbour_tag}


def invoice_for(world, *, buyer=None, number=1, due=DUE, language="sv", month=1) -> Invoice:
    buyer = buyer or world["resident"]
    invoice = Invoice.objects.create(
        series=world["series"], number=number, buyer=buyer, organization=world["brf"],
        period_start=date(2026, month, 1), period_end=date(2026, month, 28), issue_date=due - timedelta(days=10),
        due_date=due, currency="SEK", total=D("150.00"), vat=D("30.00"), taxable=D("120.00"),
        ocr=ocr_reference(invoice_ocr_base(prefix="2026", number=number)), status=Invoice.Status.ISSUED,
        language=language)
    InvoiceLine.objects.create(invoice=invoice, position=1, kind=InvoiceLine.Kind.FEE, fee=world["fee"], buyer=buyer,
                               fee_period=date(2026, month, 1), description="Medlemsavgift laddning", quantity=D(1),
                               unit="st", unit_price=D("150.00"), amount=D("150.00"), vat_rate=D(25))
    return invoice


def statuses(tokens):
    return [IdToken.objects.get(pk=token.pk).status for token in tokens]


def pdf_text(attachment) -> str:
    return read_pdf(attachment[1])


def test_the_timeline_reminds_on_days_3_10_17_and_blocks_only_at_the_third(world, django_capture_on_commit_callbacks):
    invoice = invoice_for(world)
    timeline = {}
    day = DUE
    while day <= date(2026, 3, 10):
        with django_capture_on_commit_callbacks(execute=True):
            summary = run(day)
        for reminder in summary.reminders:
            timeline[reminder.level] = day
        if day < date(2026, 2, 28):
            assert statuses(world["tags"]) == [IdToken.Status.ACTIVE] * 2, day
        day += timedelta(days=1)
    assert timeline == {1: date(2026, 2, 14), 2: date(2026, 2, 21), 3: date(2026, 2, 28)}
    assert list(invoice.reminders.order_by("level").values_list("level", "reminded_on", "pay_by")) == [
        (1, date(2026, 2, 14), date(2026, 2, 21)), (2, date(2026, 2, 21), date(2026, 2, 28)),
        (3, date(2026, 2, 28), date(2026, 3, 7))]
    assert statuses(world["tags"]) == [IdToken.Status.BLOCKED] * 2
    assert IdToken.objects.get(pk=world["tags"][0].pk).blocked_reason == "unpaid invoice 20260001"
    assert statuses([world["neighbour_tag"]]) == [IdToken.Status.ACTIVE]
    third = invoice.reminders.get(level=3)
    assert set(third.blocked_tokens.all()) == set(world["tags"])
    blocks = AuditLogEntry.objects.filter(action="id_token.blocked", actor__isnull=True)
    assert blocks.count() == 2
    assert set(blocks.values_list("reason", flat=True)) == {"unpaid invoice 20260001"}
    # Three reminders e-mailed to the buyer, each with its PDF "Påminnelse n".
    assert [message.to for message in mail.outbox] == [["anna@example.com"]] * 3
    assert [message.subject for message in mail.outbox] == [
        f"Påminnelse {n}: faktura 20260001 från RE&GO AB" for n in (1, 2, 3)]
    assert "spärrade" in mail.outbox[2].body
    assert "spärrade" not in mail.outbox[0].body
    for n, message in enumerate(mail.outbox, start=1):
        (attachment,) = message.attachments
        assert attachment[2] == "application/pdf"
        text = pdf_text(attachment)
        assert f"Påminnelse {n}" in text
        assert invoice.ocr in text
        assert "150,00" in text
    assert all(reminder.sent_at is not None for reminder in invoice.reminders.all())
    authorization = authorize_tag(world, world["tags"][0])
    assert authorization == ("Blocked", "unpaid invoice 20260001")


def authorize_tag(world, token):
    station = world.get("station") or charge_point_register(identity="DUN-1", organization=world["brf"], evses=1,
                                                            auth_key="k" * 20, acting_user=None, reason="test")
    world["station"] = station
    outcome = authorize(charge_point=station, uid=token.uid, at=at(date(2026, 3, 1)), purpose="authorize")
    return str(outcome.status), outcome.reason


def test_daily_reruns_are_idempotent_and_a_late_start_still_gives_every_warning_first(world):
    invoice = invoice_for(world)
    assert len(run(date(2026, 2, 14)).reminders) == 1
    assert run(date(2026, 2, 14)).reminders == []
    assert invoice.reminders.count() == 1
    # Nobody ran dunning for two weeks: one reminder a day, the block only after reminders 1 and 2.
    late = invoice_for(world, number=2, buyer=world["neighbour"], due=date(2026, 1, 1))
    levels = [[r.level for r in run(day).reminders if r.invoice_id == late.pk]
              for day in (date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4))]
    assert levels == [[1], [], [2], [3], []]
    assert Reminder.objects.filter(invoice=late).count() == 3


def test_paid_draft_and_credited_invoices_get_no_reminder(world):
    paid = invoice_for(world)
    payment_record(invoice=paid, channel="bankgiro", amount=D("150.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-1")
    invoice_for(world, number=2, buyer=world["neighbour"]).__class__.objects.filter(number=2).update(
        status=Invoice.Status.CREDITED)
    assert run(date(2026, 3, 1)).reminders == []
    assert Reminder.objects.count() == 0


def test_full_payment_unblocks_the_tokens_dunning_blocked_and_only_those(world, django_capture_on_commit_callbacks):
    invoice = invoice_for(world)
    spare = id_token_issue(organization=world["brf"], uid="AB12CD90", user=world["resident"], acting_user=None,
                           reason="test")
    id_token_block(token=spare, reason="Lost card", acting_user=None)  # blocked before, for its own reason
    for day in (date(2026, 2, 14), date(2026, 2, 21), date(2026, 2, 28)):
        run(day)
    assert statuses(world["tags"]) == [IdToken.Status.BLOCKED] * 2
    # A partial payment changes nothing.
    payment_record(invoice=invoice, channel="bankgiro", amount=D("100.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-1")
    assert statuses(world["tags"]) == [IdToken.Status.BLOCKED] * 2
    paid_at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice=invoice, channel="stripe", amount=D("50.00"), currency="SEK", paid_at=paid_at,
                       external_id="pi_1")
    assert statuses(world["tags"]) == [IdToken.Status.ACTIVE] * 2
    assert IdToken.objects.get(pk=spare.pk).blocked_reason == "Lost card"
    assert invoice.reminders.get(level=3).unblocked_at == paid_at
    unblocks = AuditLogEntry.objects.filter(action="id_token.unblocked")
    assert unblocks.count() == 2
    assert set(unblocks.values_list("reason", flat=True)) == {"Invoice 20260001 is paid."}
    # Paid: no further reminders, and a second call unblocks nothing.
    assert run(date(2026, 3, 20)).reminders == []
    assert dunning_unblock(invoice=invoice, now=paid_at) == []


def test_a_token_a_person_blocked_again_for_another_reason_stays_blocked(world):
    invoice = invoice_for(world)
    for day in (date(2026, 2, 14), date(2026, 2, 21), date(2026, 2, 28)):
        run(day)
    tag = world["tags"][0]
    id_token_unblock(token=tag, reason="test", acting_user=None)
    id_token_block(token=tag, reason="Reported stolen", acting_user=None)
    payment_record(invoice=invoice, channel="bankgiro", amount=D("150.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-1")
    assert statuses(world["tags"]) == [IdToken.Status.BLOCKED, IdToken.Status.ACTIVE]
    assert IdToken.objects.get(pk=tag.pk).blocked_reason == "Reported stolen"


def test_tokens_stay_blocked_while_another_invoice_of_the_buyer_is_at_reminder_3(world):
    first = invoice_for(world)
    second = invoice_for(world, number=2, due=date(2026, 2, 13), month=2)
    for day in (date(2026, 2, 14), date(2026, 2, 16), date(2026, 2, 21), date(2026, 2, 23), date(2026, 2, 28),
                date(2026, 3, 2)):
        run(day)
    assert second.reminders.get(level=3).blocked_tokens.count() == 2
    payment_record(invoice=first, channel="bankgiro", amount=D("150.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-1")
    assert statuses(world["tags"]) == [IdToken.Status.BLOCKED] * 2
    payment_record(invoice=second, channel="bankgiro", amount=D("150.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-2")
    assert statuses(world["tags"]) == [IdToken.Status.ACTIVE] * 2


@override_settings(DUNNING_REMINDER_FEE="60", DUNNING_REMINDER_DAYS=[5, 12, 20])
def test_the_agreed_fee_is_charged_once_and_the_days_are_configurable(world, django_capture_on_commit_callbacks):
    invoice = invoice_for(world, language="en")
    assert run(date(2026, 2, 15)).reminders == []
    with django_capture_on_commit_callbacks(execute=True):
        run(date(2026, 2, 16))
        run(date(2026, 2, 23))
    assert run(date(2026, 3, 2)).reminders == []
    assert len(run(date(2026, 3, 3)).reminders) == 1
    assert list(invoice.reminders.order_by("level").values_list("level", "fee")) == [
        (1, D("60.00")), (2, D("0.00")), (3, D("0.00"))]
    first, second = mail.outbox
    assert first.subject == "Reminder 1: invoice 20260001 from RE&GO AB"
    assert "Amount to pay: 210.00 SEK (including a reminder fee of 60.00 SEK)" in first.body
    assert "Amount to pay: 150.00 SEK" in second.body
    assert "Reminder 1" in pdf_text(first.attachments[0])
    assert "210.00" in pdf_text(first.attachments[0])


@pytest.mark.parametrize(("fee", "days"), [("60.01", [3, 10, 17]), ("abc", [3, 10, 17]), ("-1", [3, 10, 17]),
                                           ("0", [3, 3, 17]), ("0", [10, 3, 17]), ("0", [3, 10])])
def test_a_fee_above_60_sek_or_bad_days_are_refused_and_nothing_is_written(world, fee, days):
    invoice_for(world)
    with override_settings(DUNNING_REMINDER_FEE=fee, DUNNING_REMINDER_DAYS=days), pytest.raises(DunningError):
        run(date(2026, 3, 1))
    assert Reminder.objects.count() == 0


def test_a_buyer_without_e_mail_is_reminded_and_blocked_but_nothing_is_sent(world,
                                                                          django_capture_on_commit_callbacks):
    world["resident"].email = None
    world["resident"].mobile_number = "+46701234567"
    world["resident"].save(update_fields=["email", "mobile_number"])
    invoice_for(world)
    with django_capture_on_commit_callbacks(execute=True):
        for day in (date(2026, 2, 14), date(2026, 2, 21), date(2026, 2, 28)):
            run(day)
    assert mail.outbox == []
    assert Reminder.objects.filter(sent_at__isnull=True).count() == 3
    assert statuses(world["tags"]) == [IdToken.Status.BLOCKED] * 2


def test_stations_that_use_a_local_list_are_sent_the_changes_after_commit(world, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    listed = charge_point_register(identity="DUN-LIST", organization=world["brf"], evses=1, auth_key="k" * 20,
                                   acting_user=None, reason="test")
    charge_point_register(identity="DUN-NOLIST", organization=world["brf"], evses=1, auth_key="k" * 20,
                          acting_user=None, reason="test")
    RemoteCommand.objects.create(charge_point=listed, action="SendLocalList", status=RemoteCommand.Status.ANSWERED,
                                 payload={"listVersion": 4, "updateType": "Full", "localAuthorizationList": []},
                                 response={"status": "Accepted"}, reason="test",
                                 created_at=datetime(2026, 1, 1, tzinfo=UTC))
    sent = []

    def fake_send(charge_point, action, payload, acting_user, reason, timeout=None):
        sent.append((charge_point.identity, action, payload))
        return RemoteCommand.objects.create(charge_point=charge_point, action=action, payload=payload,
                                            status=RemoteCommand.Status.ANSWERED, response={"status": "Accepted"},
                                            reason=reason)

    monkeypatch.setattr("charging.commands.send", fake_send)
    invoice = invoice_for(world)
    run(date(2026, 2, 14))
    run(date(2026, 2, 21))
    with django_capture_on_commit_callbacks(execute=True):
        run(date(2026, 2, 28))
    assert [(identity, action) for identity, action, _payload in sent] == [("DUN-LIST", "SendLocalList")]
    payload = sent[0][2]
    assert payload["updateType"] == "Differential"
    assert payload["listVersion"] == 5
    entries = {entry["idTag"]: entry["idTagInfo"]["status"] for entry in payload["localAuthorizationList"]}
    assert entries[world["tags"][0].uid] == entries[world["tags"][1].uid] == "Blocked"
    assert set(entries.values()) <= {"Blocked", "Accepted"}
    assert entries.get(world["neighbour_tag"].uid) != "Blocked"
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice=invoice, channel="bankgiro", amount=D("150.00"), currency="SEK",
                       paid_at=timezone.now(), external_id="bg-1")
    assert [(identity, action) for identity, action, _payload in sent] == [("DUN-LIST", "SendLocalList")]
    assert sent[0][2]["listVersion"] == 6
    assert {entry["idTag"]: entry["idTagInfo"]["status"] for entry in sent[0][2]["localAuthorizationList"]} == {
        world["tags"][0].uid: "Accepted", world["tags"][1].uid: "Accepted"}


def test_an_offline_charger_does_not_stop_dunning(world):
    listed = charge_point_register(identity="DUN-OFF", organization=world["brf"], evses=1, auth_key="k" * 20,
                                   acting_user=None, reason="test")
    RemoteCommand.objects.create(charge_point=listed, action="SendLocalList", status=RemoteCommand.Status.ANSWERED,
                                 payload={"listVersion": 1, "updateType": "Full", "localAuthorizationList": []},
                                 response={"status": "Accepted"}, reason="test",
                                 created_at=datetime(2026, 1, 1, tzinfo=UTC))
    invoice_for(world)
    for day in (date(2026, 2, 14), date(2026, 2, 21), date(2026, 2, 28)):
        run(day)
    assert dunning_local_lists_send(organization_ids=[world["brf"].pk], now=at(date(2026, 2, 28))) == 0
    assert RemoteCommand.objects.filter(charge_point=listed, action="SendLocalList").latest("pk").status != (
        RemoteCommand.Status.ANSWERED)


def test_the_daily_task_runs_for_today(world, monkeypatch):
    from billing.tasks import dunning_run_task

    invoice_for(world)
    assert dunning_run_task("2026-02-14") == 1
    assert dunning_run_task("2026-02-14") == 0


def test_the_reminder_document_lists_the_fee_without_vat_and_deducts_what_was_paid(world):
    invoice = invoice_for(world)
    payment_record(invoice=invoice, channel="bankgiro", amount=D("100.00"), currency="SEK", paid_at=at(DUE),
                   external_id="bg-1")
    with override_settings(DUNNING_REMINDER_FEE="45.50"):
        (reminder,) = run(date(2026, 2, 14)).reminders
    assert reminder.amount_due == D("50.00")
    document = dunning.reminder_document(reminder)
    assert document.reminder_number == 1
    assert document.due_date == date(2026, 2, 21)
    assert document.totals.total == D("195.50")
    assert document.totals.vat == D("30.00")
    assert document.totals.payable == D("95.50")


# --- Admin ----------------------------------------------------------------------------------------------------------


def test_operator_staff_see_the_dunning_overview_and_the_invoice_shows_its_level(world, client, operator_staff):
    invoice = invoice_for(world)
    run(date(2026, 2, 14))
    run(date(2026, 2, 21))
    client.force_login(operator_staff)
    page = client.get(reverse("admin:billing_reminder_changelist"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "20260001" in content
    assert content.count('class="field-level"') == 2
    listing = client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert "field-reminder_level" in listing
    detail = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert "Påminnelse 2" in detail or "Reminder 2" in detail


def test_board_members_see_only_their_associations_reminders(world, client, brf_a):
    invoice_for(world)
    run(date(2026, 2, 14))
    reminder = Reminder.objects.get()
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_reminder"))
    client.force_login(brf_a.board)
    page = client.get(reverse("admin:billing_reminder_changelist"))
    assert page.status_code == 200
    assert "20260001" not in page.content.decode()
    detail = client.get(reverse("admin:billing_reminder_change", args=[reminder.pk]))
    assert detail.status_code == 302
    assert detail.url == reverse("admin:index")
