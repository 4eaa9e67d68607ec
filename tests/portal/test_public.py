"""The public QR charging pages and their services against localstripe: the start page and its refusals, the
pre-authorization, starting only after Stripe says the card is authorized, settling (capture capped at the
pre-authorization, cancel when a voucher pays all, idempotent), the receipt and its one rating, vouchers and the
ratings per charge point. The charger is not reached here (tests/conformance/test_adhoc_qr.py does that): the
remote start and stop are replaced by recorders."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken
from billing.models import AdhocPayment, Voucher
from billing.services import adhoc, vouchers
from billing.services.tariffs import tariff_assign, tariff_create
from billing.stripe_gateway import StripeGateway
from charging.models import ChargingSession, MeterSample, SessionRating
from charging.selectors.access import start_url
from charging.services import ratings, remote
from tests.accounts.factories import OrganizationFactory
from tests.billing.conftest import localstripe  # noqa: F401 - a fixture
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory, LocationFactory

pytestmark = pytest.mark.django_db

D = Decimal
SECRET_KEY = "sk_test_csms"


@pytest.fixture
def stripe_local(localstripe, settings):  # noqa: F811
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_csms"
    settings.STRIPE_API_BASE = localstripe
    settings.LANGUAGE_CODE = "sv"
    return StripeGateway.from_settings()


@pytest.fixture
def evse(stripe_local):
    org = OrganizationFactory()
    charge_point = ChargePointFactory(organization=org, access_mode="public",
                                      location=LocationFactory(organization=org, bidding_area="SE3"))
    evse = EvseFactory(charge_point=charge_point, evse_id=1)
    now = timezone.now()
    tariff = tariff_create(organization=org, name="Gäst", currency="SEK", energy_price_ac=D("4.00"),
                           acting_user=None, reason="test", now=now - timedelta(days=90))
    tariff_assign(tariff=tariff, charge_point=charge_point, valid_from=now - timedelta(days=10), acting_user=None,
                  reason="test", now=now - timedelta(days=60))
    return evse


@pytest.fixture
def charger(monkeypatch):
    """Records remote starts and stops instead of reaching a charger; ``answer`` is what the charger says."""
    calls = {"start": [], "stop": [], "answer": "Accepted"}

    def fake_start(**kwargs):
        calls["start"].append(kwargs)
        return object()

    monkeypatch.setattr(remote, "remote_start", fake_start)
    monkeypatch.setattr(remote, "answer_status", lambda command: calls["answer"])
    monkeypatch.setattr(remote, "remote_stop", lambda **kwargs: calls["stop"].append(kwargs))
    return calls


def begin(client, evse, **data):
    return client.post(reverse("portal:public_start", args=[evse.public_code]),
                       {"email": "gast@example.se", **data})


def confirm_card(gateway, payment):
    """What Stripe.js does in the browser: attach a test card and confirm."""
    gateway.client.v1.payment_intents.update(payment.payment_intent_id, params={"payment_method": "pm_card_visa"})
    gateway.client.v1.payment_intents.confirm(payment.payment_intent_id)


def captured_minor(gateway, payment):
    for _attempt in range(50):
        intent = gateway.client.v1.payment_intents.retrieve(payment.payment_intent_id)
        if intent.status in {"succeeded", "canceled"}:
            break
        time.sleep(0.1)
    if intent.status == "canceled":
        return intent.status, 0
    charge = intent.latest_charge
    charge = gateway.client.v1.charges.retrieve(charge if isinstance(charge, str) else charge.id)
    return intent.status, charge.amount - charge.amount_refunded


def started(client, gateway, evse):
    response = begin(client, evse)
    payment = AdhocPayment.objects.order_by("-pk").first()
    assert response.status_code == 302
    confirm_card(gateway, payment)
    client.post(reverse("portal:public_authorized", args=[payment.receipt_token]))
    payment.refresh_from_db()
    return payment


def charge(payment, energy_wh, *, stopped=True):
    """The session the charger opens with the payment's token, with one energy reading."""
    begun = timezone.now() - timedelta(minutes=40)
    session = ChargingSessionFactory(
        charge_point=payment.evse.charge_point, evse=payment.evse, id_token=payment.id_token, started_at=begun,
        meter_start_wh=1000, status=ChargingSession.Status.COMPLETED if stopped else ChargingSession.Status.ACTIVE,
        stopped_at=begun + timedelta(minutes=30) if stopped else None, energy_wh=energy_wh if stopped else 0,
        meter_stop_wh=1000 + energy_wh if stopped else None)
    MeterSample.objects.create(charge_point=payment.evse.charge_point, evse=payment.evse, session=session, unit="Wh",
                               timestamp=begun + timedelta(minutes=20), value=D(1000 + energy_wh),
                               signed_data="<?xml signed=\"OCMF\"?>")
    return session


# --- The start page ------------------------------------------------------------------------------------------------

def test_the_start_page_shows_the_guest_price_incl_vat_and_the_pre_authorization(client, evse):
    response = client.get(reverse("portal:public_start", args=[evse.public_code]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "4,00\xa0kr/kWh" in text
    assert "300,00\xa0kr" in text
    assert 'name="email"' in text
    assert 'name="voucher_code"' in text
    assert str(evse.charge_point) in text


def test_the_sticker_address_leads_to_the_start_page(client, evse):
    path = "/" + start_url(evse).split("://", 1)[1].split("/", 1)[1]
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:public_start", args=[evse.public_code])


def test_an_unknown_code_is_404(client, evse):
    assert client.get(reverse("portal:public_start", args=["ZZZZZZ"])).status_code == 404
    assert client.get(reverse("portal:public_receipt", args=["nope"])).status_code == 404


def test_an_evse_not_public_now_says_so_and_takes_no_payment(client, evse):
    evse.charge_point.access_mode = "private"
    evse.charge_point.save(update_fields=["access_mode"])
    response = client.get(reverse("portal:public_start", args=[evse.public_code]))
    assert response.status_code == 409
    assert "Not open to the public now" in response.content.decode() or "allmänheten" in response.content.decode()
    assert begin(client, evse).status_code == 409
    assert not AdhocPayment.objects.exists()


def test_a_bad_e_mail_is_a_form_error(client, evse):
    response = begin(client, evse, email="not-an-address")
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert not AdhocPayment.objects.exists()


# --- Pre-authorization and start ------------------------------------------------------------------------------------

def test_continuing_creates_a_manual_capture_intent_for_the_pre_authorization(client, evse, stripe_local):
    response = begin(client, evse)
    payment = AdhocPayment.objects.get()
    assert response["Location"] == reverse("portal:public_pay", args=[payment.receipt_token])
    intent = stripe_local.client.v1.payment_intents.retrieve(payment.payment_intent_id)
    assert (intent.amount, intent.currency, intent.capture_method) == (30000, "sek", "manual")
    page = client.get(response["Location"])
    assert intent.client_secret in page.content.decode()
    assert "js.stripe.com" in page.content.decode()
    assert len(payment.receipt_token) >= 40


def test_the_charge_does_not_start_before_stripe_says_the_card_is_authorized(client, evse, charger):
    begin(client, evse)
    payment = AdhocPayment.objects.get()
    response = client.post(reverse("portal:public_authorized", args=[payment.receipt_token]), follow=True)
    assert "not been authorized" in response.content.decode() or "inte" in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == AdhocPayment.Status.CREATED
    assert payment.id_token is None
    assert charger["start"] == []


def test_an_authorized_card_starts_with_a_one_off_token_for_this_evse_once(client, evse, stripe_local, charger):
    payment = started(client, stripe_local, evse)
    assert payment.status == AdhocPayment.Status.STARTING
    token = payment.id_token
    assert (token.type, token.organization_id, token.status) == (
        IdToken.Type.CENTRAL, evse.charge_point.organization_id, IdToken.Status.ACTIVE)
    assert len(token.uid) <= 20
    assert token.valid_until > timezone.now()
    assert [(call["charge_point"], call["evse_number"], call["id_token"]) for call in charger["start"]] == [
        (evse.charge_point, 1, token)]
    # The browser posting again starts nothing more.
    client.post(reverse("portal:public_authorized", args=[payment.receipt_token]))
    assert len(charger["start"]) == 1
    assert IdToken.objects.filter(type=IdToken.Type.CENTRAL).count() == 1


def test_a_refused_start_releases_the_pre_authorization(client, evse, stripe_local, charger):
    charger["answer"] = "Rejected"
    payment = started(client, stripe_local, evse)
    assert payment.status == AdhocPayment.Status.FAILED
    assert stripe_local.client.v1.payment_intents.retrieve(payment.payment_intent_id).status == "canceled"
    assert IdToken.objects.get(pk=payment.id_token_id).status == IdToken.Status.EXPIRED


# --- Progress, stop and settling ------------------------------------------------------------------------------------

def test_progress_shows_energy_and_cost_so_far_and_the_stop_button_stops(client, evse, stripe_local, charger):
    payment = started(client, stripe_local, evse)
    session = charge(payment, 2500, stopped=False)
    state = client.get(reverse("portal:public_status", args=[payment.receipt_token])).json()
    assert (state["status"], state["energy_wh"], state["cost"], state["finished"]) == ("charging", 2500, "10.00",
                                                                                       False)
    client.post(reverse("portal:public_stop", args=[payment.receipt_token]))
    assert [call["session"] for call in charger["stop"]] == [session]


def test_the_ended_session_is_captured_for_its_cost_and_receipted(client, evse, stripe_local, charger,
                                                                 django_capture_on_commit_callbacks):
    payment = started(client, stripe_local, evse)
    charge(payment, 5000)  # 5 kWh × 4,00 kr
    with django_capture_on_commit_callbacks(execute=True):
        state = client.get(reverse("portal:public_status", args=[payment.receipt_token])).json()
    assert state["finished"] is True
    payment.refresh_from_db()
    assert (payment.status, payment.session_cost, payment.session_vat, payment.captured_amount) == (
        AdhocPayment.Status.CAPTURED, D("20.00"), D("4.00"), D("20.00"))
    assert captured_minor(stripe_local, payment) == ("succeeded", 2000)
    assert IdToken.objects.get(pk=payment.id_token_id).status == IdToken.Status.EXPIRED
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["gast@example.se"]
    assert payment.receipt_token in mail.outbox[0].body
    assert "20,00" in mail.outbox[0].body
    page = client.get(reverse("portal:public_receipt", args=[payment.receipt_token])).content.decode()
    assert "20,00\xa0kr" in page
    assert "4,00\xa0kr" in page
    assert "OCMF" in page
    assert AuditLogEntry.objects.filter(action="billing.adhoc_settle", target_id=str(payment.pk)).count() == 1


def test_settling_again_captures_and_mails_nothing_more(client, evse, stripe_local, charger,
                                                       django_capture_on_commit_callbacks):
    payment = started(client, stripe_local, evse)
    charge(payment, 5000)
    with django_capture_on_commit_callbacks(execute=True):
        adhoc.adhoc_settle(payment=payment, now=timezone.now())
        adhoc.adhoc_settle(payment=payment, now=timezone.now())
        client.get(reverse("portal:public_status", args=[payment.receipt_token]))
    adhoc.send_receipt(payment_id=payment.pk)
    assert captured_minor(stripe_local, payment) == ("succeeded", 2000)
    assert len(mail.outbox) == 1
    assert AuditLogEntry.objects.filter(action="billing.adhoc_settle").count() == 1


def test_a_session_above_the_pre_authorization_captures_the_cap_and_logs_the_loss(client, evse, stripe_local,
                                                                                   charger, settings, caplog):
    settings.ADHOC_PREAUTH_AMOUNT = "50"
    payment = started(client, stripe_local, evse)
    charge(payment, 20000)  # 80,00 kr
    adhoc.adhoc_settle(payment=payment, now=timezone.now())
    payment.refresh_from_db()
    assert (payment.captured_amount, payment.operator_loss) == (D("50.00"), D("30.00"))
    assert captured_minor(stripe_local, payment) == ("succeeded", 5000)
    assert "operator's loss" in caplog.text


def test_a_session_without_energy_cancels_the_intent(client, evse, stripe_local, charger):
    payment = started(client, stripe_local, evse)
    charge(payment, 0)
    adhoc.adhoc_settle(payment=payment, now=timezone.now())
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (AdhocPayment.Status.CANCELED, D("0.00"))
    assert captured_minor(stripe_local, payment) == ("canceled", 0)


# --- Vouchers ------------------------------------------------------------------------------------------------------

def make_voucher(evse, code="GRATIS", **values):
    return vouchers.voucher_create(organization=evse.charge_point.organization, code=code, acting_user=None,
                                   reason="test", **values)


def test_an_amount_voucher_is_deducted_and_keeps_its_remaining_balance(client, evse, stripe_local, charger):
    voucher = make_voucher(evse, kind="amount", amount=D("15.00"))
    begin(client, evse, voucher_code=" gratis ")
    payment = AdhocPayment.objects.get()
    assert payment.voucher == voucher
    confirm_card(stripe_local, payment)
    client.post(reverse("portal:public_authorized", args=[payment.receipt_token]))
    payment.refresh_from_db()
    charge(payment, 5000)  # 20,00 kr, 15,00 by voucher
    adhoc.adhoc_settle(payment=payment, now=timezone.now())
    payment.refresh_from_db()
    voucher.refresh_from_db()
    assert (payment.voucher_amount, payment.captured_amount, voucher.remaining_amount) == (
        D("15.00"), D("5.00"), D("0.00"))
    assert captured_minor(stripe_local, payment) == ("succeeded", 500)
    # Spent: the next guest cannot use it.
    response = begin(client, evse, voucher_code="GRATIS")
    assert response.status_code == 200
    assert response.context["form"].errors["voucher_code"]


def test_an_energy_voucher_covering_the_session_cancels_the_intent(client, evse, stripe_local, charger):
    voucher = make_voucher(evse, kind="energy", energy_wh=10000)
    begin(client, evse, voucher_code="GRATIS")
    payment = AdhocPayment.objects.get()
    confirm_card(stripe_local, payment)
    client.post(reverse("portal:public_authorized", args=[payment.receipt_token]))
    payment.refresh_from_db()
    charge(payment, 4000)
    adhoc.adhoc_settle(payment=payment, now=timezone.now())
    payment.refresh_from_db()
    voucher.refresh_from_db()
    assert (payment.status, payment.voucher_amount, payment.voucher_wh, voucher.remaining_wh) == (
        AdhocPayment.Status.CANCELED, D("16.00"), 4000, 6000)
    assert captured_minor(stripe_local, payment) == ("canceled", 0)


def test_another_organizations_or_an_expired_voucher_is_refused(client, evse):
    other = OrganizationFactory()
    vouchers.voucher_create(organization=other, code="ANNAN", kind="amount", amount=D("10"), acting_user=None,
                            reason="test")
    make_voucher(evse, code="GAMMAL", kind="amount", amount=D("10"), valid_until=timezone.now() - timedelta(days=1))
    for code in ("ANNAN", "GAMMAL", "FINNSINTE"):
        response = begin(client, evse, voucher_code=code)
        assert response.status_code == 200, code
        assert response.context["form"].errors["voucher_code"], code
    assert not AdhocPayment.objects.exists()


def test_voucher_creation_checks_its_value_and_is_audited(evse):
    with pytest.raises(ValidationError):
        make_voucher(evse, kind="amount", energy_wh=100)
    with pytest.raises(ValidationError):
        make_voucher(evse, kind="energy", energy_wh=0)
    voucher = make_voucher(evse, code="ny-kod", kind="amount", amount=D("25"))
    assert (voucher.code, voucher.remaining_amount) == ("NY-KOD", D("25.00"))
    with pytest.raises(ValidationError):
        make_voucher(evse, code="NY-KOD", kind="amount", amount=D("1"))
    assert AuditLogEntry.objects.filter(action="billing.voucher_create").count() == 1
    assert Voucher.objects.count() == 1


# --- Ratings -------------------------------------------------------------------------------------------------------

def test_the_receipt_takes_one_rating_per_session(client, evse, stripe_local, charger):
    payment = started(client, stripe_local, evse)
    session = charge(payment, 1000)
    adhoc.adhoc_settle(payment=payment, now=timezone.now())
    url = reverse("portal:public_receipt", args=[payment.receipt_token])
    bad = client.post(url, {"stars": "6"})
    assert bad.status_code == 200
    assert bad.context["form"].errors["stars"]
    assert client.post(url, {"stars": "4", "comment": " Bra "}).status_code == 302
    again = client.post(url, {"stars": "1"})
    assert again.status_code == 409
    rating = SessionRating.objects.get()
    assert (rating.session, rating.stars, rating.comment) == (session, 4, "Bra")
    assert "4" in client.get(url).content.decode()
    assert AuditLogEntry.objects.filter(action="charging.session_rate").count() == 1


def test_a_receipt_is_not_shown_before_settling(client, evse, stripe_local, charger):
    payment = started(client, stripe_local, evse)
    response = client.get(reverse("portal:public_receipt", args=[payment.receipt_token]))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:public_progress", args=[payment.receipt_token])


def test_ratings_average_and_count_per_charge_point(evse):
    charge_point = evse.charge_point
    other = ChargePointFactory(organization=charge_point.organization)
    other_evse = EvseFactory(charge_point=other, evse_id=1)
    ended = timezone.now()
    for point, target, stars in ((charge_point, evse, 5), (charge_point, evse, 2), (other, other_evse, 3)):
        session = ChargingSessionFactory(charge_point=point, evse=target, started_at=ended - timedelta(hours=1),
                                         stopped_at=ended, status=ChargingSession.Status.COMPLETED,
                                         meter_start_wh=0)
        ratings.rate_session(session=session, stars=stars, acting_user=None, reason="test")
    assert ratings.ratings_by_charge_point() == {charge_point.pk: {"average": 3.5, "count": 2},
                                                 other.pk: {"average": 3.0, "count": 1}}
    assert ratings.ratings_by_charge_point([other.pk]) == {other.pk: {"average": 3.0, "count": 1}}


# --- Admin ---------------------------------------------------------------------------------------------------------

def test_operator_staff_create_a_voucher_in_the_admin_with_a_reason(client, evse, operator_staff):
    client.force_login(operator_staff)
    org = evse.charge_point.organization
    response = client.post(reverse("admin:billing_voucher_add"), {
        "organization": org.pk, "code": "sommar", "kind": "energy", "currency": "SEK", "amount": "",
        "energy_wh": "5000", "valid_until_0": "", "valid_until_1": "", "note": "Kampanj",
        "change_reason": "Sommarkampanj"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    voucher = Voucher.objects.get()
    assert (voucher.code, voucher.remaining_wh, voucher.created_by) == ("SOMMAR", 5000, operator_staff)
    entry = AuditLogEntry.objects.get(action="billing.voucher_create")
    assert (entry.actor, entry.reason) == (operator_staff, "Sommarkampanj")
    mixed = client.post(reverse("admin:billing_voucher_add"), {
        "organization": org.pk, "code": "FEL", "kind": "amount", "currency": "SEK", "amount": "",
        "energy_wh": "100", "change_reason": "x"})
    assert mixed.status_code == 200
    assert Voucher.objects.count() == 1


def test_the_ad_hoc_payments_list_is_read_only(client, evse, operator_staff):
    client.force_login(operator_staff)
    begin(client, evse)
    assert client.get(reverse("admin:billing_adhocpayment_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_adhocpayment_add")).status_code == 403


def test_the_periodic_settling_finds_ended_and_never_started_charges(client, evse, stripe_local, charger):
    ended = started(client, stripe_local, evse)
    charge(ended, 5000)
    waiting = started(client, stripe_local, evse)
    assert adhoc.adhoc_settle_due(now=timezone.now()) == 1
    assert adhoc.adhoc_settle_due(now=timezone.now() + adhoc.START_TIMEOUT + timedelta(minutes=1)) == 1
    ended.refresh_from_db()
    waiting.refresh_from_db()
    assert (ended.status, waiting.status) == (AdhocPayment.Status.CAPTURED, AdhocPayment.Status.CANCELED)
    assert captured_minor(stripe_local, waiting) == ("canceled", 0)
    assert adhoc.adhoc_settle_due(now=timezone.now()) == 0
