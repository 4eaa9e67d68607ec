"""Ad-hoc QR charging end to end: a guest opens the EVSE's start page, pre-authorizes a card (localstripe, the
PaymentIntent confirmed as Stripe.js would), the CSMS sends RemoteStartTransaction with a one-off token to a
simulated OCPP 1.6 charger on a live server, the charger starts and reports energy, the guest stops, and the
receipt and the captured amount match the session's price. The pages run in this process; their remote commands
travel over Redis to the server holding the charger's socket."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from ocpp.v16 import call

from billing.models import AdhocPayment
from billing.services.tariffs import tariff_assign, tariff_create
from billing.stripe_gateway import StripeGateway
from charging.models import ChargePoint, ChargingSession
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.billing.conftest import localstripe  # noqa: F401 - a fixture
from tests.conformance.clients import connected
from tests.conformance.test_ocpp16 import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "adhoc-qr-authorization-key"


def ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def stripe_local(localstripe, settings):  # noqa: F811
    settings.STRIPE_SECRET_KEY = "sk_test_csms"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_csms"
    settings.STRIPE_API_BASE = localstripe
    settings.LANGUAGE_CODE = "sv"
    return StripeGateway.from_settings()


@pytest.fixture
def station(db, stripe_local):
    org = OrganizationFactory(name="BRF Gästladdning")
    station = charge_point_register(identity=f"QR-{uuid.uuid4().hex[:6]}", organization=org, evses=1, auth_key=KEY,
                                    acting_user=None, reason="test")
    ChargePoint.objects.filter(pk=station.pk).update(access_mode="public")
    now = timezone.now()
    tariff = tariff_create(organization=org, name="Gäst", currency="SEK", energy_price_ac=Decimal("4.00"),
                           acting_user=None, reason="test", now=now - timedelta(days=90))
    tariff_assign(tariff=tariff, charge_point=station, valid_from=now - timedelta(days=10), acting_user=None,
                  reason="test", now=now - timedelta(days=60))
    return ChargePoint.objects.get(pk=station.pk)


async def test_scan_pay_start_charge_stop_receipt_and_capture(own_csms_server, server_settings, station,
                                                              stripe_local):
    guest = Client()
    evse = await db(lambda: station.evses.get())
    start_page = await db(guest.get, reverse("portal:public_start", args=[evse.public_code]))
    assert start_page.status_code == 200
    assert "4,00\xa0kr/kWh" in start_page.content.decode()

    async with connected(own_csms_server, station.identity, key=KEY) as charger:
        await charger.call(call.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        answer = await db(guest.post, reverse("portal:public_start", args=[evse.public_code]),
                          {"email": "gast@example.se"})
        assert answer.status_code == 302
        payment = await db(AdhocPayment.objects.get)
        # What Stripe.js does in the browser with the page's client secret.
        await db(stripe_local.client.v1.payment_intents.update, payment.payment_intent_id,
                 params={"payment_method": "pm_card_visa"})
        await db(stripe_local.client.v1.payment_intents.confirm, payment.payment_intent_id)

        started_page = await db(guest.post, reverse("portal:public_authorized", args=[payment.receipt_token]))
        assert started_page["Location"] == reverse("portal:public_progress", args=[payment.receipt_token])
        payment = await db(AdhocPayment.objects.select_related("id_token").get, pk=payment.pk)
        uid = payment.id_token.uid
        assert [(action, args["id_tag"], args.get("connector_id")) for action, args in charger.received] == [
            ("RemoteStartTransaction", uid, 1)]

        begin = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        started = await charger.call(call.StartTransaction(connector_id=1, id_tag=uid, meter_start=1000,
                                                           timestamp=ts(begin)))
        assert started.id_tag_info["status"] == "Accepted"
        tx = started.transaction_id
        await charger.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": ts(begin + timedelta(minutes=15)),
            "sampledValue": [{"value": "3.5", "unit": "kWh", "context": "Sample.Periodic"}]}]))

        state = (await db(guest.get, reverse("portal:public_status", args=[payment.receipt_token]))).json()
        assert (state["status"], state["energy_wh"], state["cost"]) == ("charging", 2500, "10.00")

        await db(guest.post, reverse("portal:public_stop", args=[payment.receipt_token]))
        assert charger.received[-1][0] == "RemoteStopTransaction"
        await charger.call(call.StopTransaction(meter_stop=6000, timestamp=ts(begin + timedelta(minutes=30)),
                                                transaction_id=tx, id_tag=uid, reason="Remote"))

    session = await db(ChargingSession.objects.get, transaction_id=str(tx))
    assert (session.status, session.energy_wh) == ("completed", 5000)
    state = (await db(guest.get, reverse("portal:public_status", args=[payment.receipt_token]))).json()
    assert state["finished"] is True
    receipt = await db(guest.get, reverse("portal:public_receipt", args=[payment.receipt_token]))
    text = receipt.content.decode()
    assert "20,00\xa0kr" in text  # 5 kWh × 4,00 kr incl. VAT
    assert "4,00\xa0kr" in text  # of which 25 % VAT
    payment = await db(AdhocPayment.objects.get, pk=payment.pk)
    assert (payment.status, payment.captured_amount) == (AdhocPayment.Status.CAPTURED, Decimal("20.00"))
    intent = await db(stripe_local.client.v1.payment_intents.retrieve, payment.payment_intent_id)
    charge = intent.latest_charge
    charge = await db(stripe_local.client.v1.charges.retrieve, charge if isinstance(charge, str) else charge.id)
    assert intent.status == "succeeded"
    assert charge.amount - charge.amount_refunded == 2000
