"""Dunning through the live OCPP server: after reminder 3 of an unpaid invoice the resident's tag is refused by an
OCPP 1.6 Authorize (Blocked, reason "unpaid invoice <number>"), and accepted again once a payment settles the
invoice. The dunning run and the payment are the real services, on a fixed clock for the reminders."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16

from accounts.services.tokens import id_token_issue
from billing.models import Invoice, InvoiceLine, InvoiceSeries, RecurringFee
from billing.ocr import invoice_ocr_base, ocr_reference
from billing.services.dunning import dunning_run
from billing.services.payments import payment_record
from charging.models import AuthorizationAttempt
from charging.services.stations import charge_point_register
from tests.accounts.factories import MembershipFactory, OperatorFactory, OrganizationFactory, UserFactory
from tests.conformance.clients import Charger16, connected
from tests.conformance.test_ocpp16 import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "dunning-conformance-authorization-key"
DUE = date(2026, 2, 11)


class Setup:
    """An association with a station, a resident with a tag, and the resident's issued invoice due 2026-02-11."""

    def __init__(self):
        suffix = uuid.uuid4().hex[:6].upper()
        operator = OperatorFactory(name="RE&GO AB", slug=f"rego-{suffix.lower()}")
        self.org = OrganizationFactory(name="BRF Solrosen")
        self.station = charge_point_register(identity=f"DUN-{suffix}", organization=self.org, evses=1, auth_key=KEY,
                                             acting_user=None, reason="test")
        resident = MembershipFactory(organization=self.org, user=UserFactory(email=f"r{suffix}@example.com")).user
        self.tag = id_token_issue(organization=self.org, uid=f"0D{suffix}", user=resident, acting_user=None,
                                  reason="test")
        series = InvoiceSeries.objects.create(seller=operator, prefix="2026")
        fee = RecurringFee.objects.create(organization=self.org, name="Medlemsavgift laddning",
                                          amount=Decimal("150.00"))
        self.invoice = Invoice.objects.create(
            series=series, number=7, buyer=resident, organization=self.org, period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31), issue_date=date(2026, 2, 1), due_date=DUE, currency="SEK",
            total=Decimal("150.00"), vat=Decimal("30.00"), taxable=Decimal("120.00"),
            ocr=ocr_reference(invoice_ocr_base(prefix="2026", number=7)), status=Invoice.Status.ISSUED)
        InvoiceLine.objects.create(invoice=self.invoice, position=1, kind=InvoiceLine.Kind.FEE, fee=fee,
                                   buyer=resident, fee_period=date(2026, 1, 1), description=fee.name,
                                   quantity=Decimal(1), unit="st", unit_price=fee.amount, amount=fee.amount)


def run_until(day: date) -> list[int]:
    levels = []
    for today in (date(2026, 2, 14), date(2026, 2, 21), date(2026, 2, 27), date(2026, 2, 28)):
        if today <= day:
            now = datetime(today.year, today.month, today.day, 6, tzinfo=UTC)
            levels += [reminder.level for reminder in dunning_run(today=today, now=now).reminders]
    return levels


def pay(invoice: Invoice) -> None:
    payment_record(invoice=invoice, channel="bankgiro", amount=Decimal("150.00"), currency="SEK",
                   paid_at=datetime.now(UTC), external_id=f"bg-{uuid.uuid4().hex}")


async def authorize(charger, uid: str) -> str:
    return (await charger.call(call16.Authorize(id_tag=uid))).id_tag_info["status"]


def last_reason(station, uid: str) -> str:
    return AuthorizationAttempt.objects.filter(charge_point=station, id_token_uid=uid).latest("pk").reason


async def test_the_residents_tag_is_blocked_after_reminder_3_and_accepted_again_after_payment(csms_server):
    setup = await db(Setup)
    async with connected(csms_server, setup.station.identity, version="1.6", key=KEY,
                         charger_class=Charger16) as charger:
        await charger.call(call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
        assert await authorize(charger, setup.tag.uid) == "Accepted"
        # Reminders 1 and 2 (and the day before the third) leave the tag working.
        assert await db(run_until, date(2026, 2, 27)) == [1, 2]
        assert await authorize(charger, setup.tag.uid) == "Accepted"
        assert await db(run_until, date(2026, 2, 28)) == [3]
        assert await authorize(charger, setup.tag.uid) == "Blocked"
        assert await db(last_reason, setup.station, setup.tag.uid) == "unpaid invoice 20260007"
        await db(pay, setup.invoice)
        assert await authorize(charger, setup.tag.uid) == "Accepted"
