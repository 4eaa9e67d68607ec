"""A complete, realistic set of one organization's data for the Connect API's generic tests (the tenant isolation
matrix and schemathesis): stations, people, tokens, tariffs, sessions with meter samples and costs, an issued and paid
invoice, a statement with its payout, a booking, a reservation, a charging key, a power group with a building meter
reading and (when the webhooks app exists) a webhook endpoint.

Everything is made through the domain services where one exists (factories only for plain rows), and every text field
carries the organization's marker (e.g. "ORG-B-"), so that a leak shows in the raw bytes of any answer — JSON, CSV or
PDF alike.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import import_module

from django.apps import apps
from django.utils import timezone

from accounts.models import ApiKey, IdToken, Membership, Organization, User
from accounts.services.api_keys import api_key_create
from accounts.services.organizations import user_grant_admin_access
from billing.models import BillingProfile, FeePlan, Invoice, Payment, Payout, Statement, Tariff, TariffAssignment
from billing.services.invoicing import invoice_run
from billing.services.payments import payment_record
from billing.services.session_pricing import session_price
from billing.services.statements import statement_run
from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import (
    Booking,
    BookingPolicy,
    ChargePoint,
    ChargingKey,
    ChargingSession,
    Evse,
    Location,
    RemoteCommand,
    Reservation,
)
from charging.services.access import charging_key_issue
from charging.services.bookings import booking_create
from charging.services.sessions import MeterReading, record_transaction_readings, start_session, stop_session
from loadbalancing.models import GridMeterReading, PowerGroup
from loadbalancing.services import grid_reading_record
from tests.accounts.factories import (
    IdTokenFactory,
    MembershipFactory,
    OperatorFactory,
    OrganizationFactory,
    UserFactory,
    UserGroupFactory,
)
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory, LocationFactory

D = Decimal
#: The invoiced month and the runs after it (all in the past, so the runs may invoice and pay it out).
MARCH = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
INVOICE_RUN = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)
PAID_AT = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)
STATEMENT_RUN = datetime(2026, 4, 30, 5, 30, tzinfo=UTC)
ALL_SCOPES = [scope.value for scope in ApiKey.Scope]


@dataclass(repr=False)
class Dataset:
    """One organization's rows; ``marker`` is in every text field of them."""

    org: Organization
    marker: str
    raw_key: str
    location: Location
    charge_point: ChargePoint
    evses: list[Evse]
    board: User
    viewer: User
    residents: list[User]
    tokens: list[IdToken]
    group: object
    tariff: Tariff
    assignment: TariffAssignment
    completed_session: ChargingSession
    active_session: ChargingSession
    invoice: Invoice
    payment: Payment
    statement: Statement
    payout: Payout
    booking: Booking
    reservation: Reservation
    charging_key: ChargingKey
    power_group: PowerGroup
    reading: GridMeterReading
    webhook: object = None
    #: Ids of objects the API shows by id but lists nowhere, by the path before the id (e.g. commands to poll).
    extra: dict = field(default_factory=dict)


def operator() -> Organization:
    """The platform operator (the invoices' seller), made once per database."""
    existing = Organization.objects.filter(kind=Organization.Kind.OPERATOR).first()
    if existing is not None:
        return existing
    return OperatorFactory(name="RE&GO AB", org_number="556677-8899", vat_number="SE556677889901", slug="rego")


def operator_key(scopes: list[str] | None = None) -> str:
    return api_key_create(organization=operator(), name="operator all scopes", scopes=scopes or ALL_SCOPES,
                          acting_user=None, reason="test").raw_key


def _person(org: Organization, marker: str, name: str, role: str) -> User:
    slug = marker.lower().strip("-")
    user = UserFactory(first_name=f"{marker}{name}", last_name=f"{marker}Svensson",
                       email=f"{slug}-{name.lower()}@example.se")
    MembershipFactory(user=user, organization=org, role=role, reference=f"{marker}Lgh {name}")
    return user


def build(letter: str) -> Dataset:
    """Organization ``letter`` ("A", "B", …) with all its data; its marker is ``ORG-<letter>-``."""
    marker = f"ORG-{letter}-"
    slug = f"org-{letter.lower()}"
    operator()
    now = timezone.now()
    org = OrganizationFactory(name=f"{marker}BRF Solrosen", slug=slug, org_number=f"76960{ord(letter) % 10}-1234",
                              vat_number=f"SE76960{ord(letter) % 10}123401",
                              billing_email=f"styrelsen@{slug}.example", payout_reference=f"{marker}Laddstolpar",
                              street_address=f"{marker}Fack 1", postal_code="10637", city=f"{marker}Stockholm")
    plan = FeePlan.objects.create(name=f"{marker}Standard 0,39", per_kwh=D("0.39"))
    BillingProfile.objects.create(organization=org, fee_plan=plan)
    BookingPolicy.objects.create(organization=org, enabled=True)

    board = _person(org, marker, "Styrelse", Membership.Role.ORG_ADMIN)
    user_grant_admin_access(user=board, organization=org, acting_user=None, reason="test")
    viewer = _person(org, marker, "Revisor", Membership.Role.ORG_VIEWER)
    user_grant_admin_access(user=viewer, organization=org, acting_user=None, reason="test")
    residents = [_person(org, marker, name, Membership.Role.RESIDENT) for name in ("Anna", "Bertil")]
    tokens = [IdTokenFactory(organization=org, user=person, visual_number=f"{marker}Tagg {number}")
              for number, person in enumerate(residents, start=1)]
    group = UserGroupFactory(organization=org, name=f"{marker}Garaget", description=f"{marker}Boende i garaget")
    group.members.set(residents)

    location = LocationFactory(organization=org, name=f"{marker}Garage", street_address=f"{marker}Solrosvägen 1",
                               city=f"{marker}Stockholm")
    charge_point = ChargePointFactory(organization=org, location=location, identity=f"{marker}CP-1",
                                      display_name=f"{marker}Laddplats 01", serial_number=f"{marker}SN1",
                                      is_connected=True)
    evses = []
    for number in (1, 2):
        evse = EvseFactory(charge_point=charge_point, evse_id=number, status="Available")
        ConnectorFactory(evse=evse, connector_id=1, status="Available")
        evses.append(evse)

    tariff = tariff_create(organization=org, name=f"{marker}Boendepris", currency="SEK", acting_user=None,
                           reason="test", now=MARCH - timedelta(days=120), energy_price_ac=D("4.00"))
    assignment = tariff_assign(tariff=tariff, charge_point=charge_point, valid_from=MARCH - timedelta(days=60),
                               acting_user=None, reason="test", now=MARCH - timedelta(days=91))

    completed = _charge(charge_point, evses[0], tokens[0], started_at=MARCH, energy_wh=25_000)
    invoice_run(period=(2026, 3), organization=org, now=INVOICE_RUN)
    invoice = Invoice.objects.get(organization=org, buyer=residents[0], kind=Invoice.Kind.INVOICE)
    payment, _created = payment_record(invoice=invoice, channel=Payment.Channel.BANKGIRO, amount=invoice.total,
                                       currency="SEK", paid_at=PAID_AT, external_id=f"{marker}bg-1")
    statement_run(period=(2026, 3), organization=org, now=STATEMENT_RUN)
    statement = Statement.objects.get(organization=org)
    payout = Payout.objects.get(statement=statement)

    active = start_session(charge_point=charge_point, evse=evses[1], uid=tokens[1].uid, meter_start_wh=1_000,
                           started_at=now - timedelta(minutes=30)).session
    record_transaction_readings(charge_point=charge_point, transaction_id=active.transaction_id, evse=evses[1],
                                readings=[MeterReading(timestamp=now - timedelta(minutes=15), value=D(3_500))])

    booking = booking_create(evse=evses[0], user=residents[0], id_token=tokens[0],
                             starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=2),
                             acting_user=board, reason=f"{marker}Bokning", now=now)
    # Made as a row: the service asks a connected charger to hold the EVSE, and no charger is connected here.
    reservation = Reservation.objects.create(charge_point=charge_point, evse=evses[0], id_token=tokens[0],
                                             id_token_uid=tokens[0].uid, expires_at=now + timedelta(hours=3),
                                             status=Reservation.Status.ACCEPTED, created_by=board)
    charging_key = charging_key_issue(organization=org, guest_name=f"{marker}Gäst", guest_contact=f"{marker}070",
                                      note=f"{marker}Hantverkare", valid_from=now,
                                      valid_until=now + timedelta(days=7), charge_points=[charge_point],
                                      acting_user=board, reason=f"{marker}Nyckel", now=now)
    power_group = PowerGroup.objects.create(organization=org, location=location, name=f"{marker}Huvudsäkring",
                                            limit_l1=D(63), limit_l2=D(63), limit_l3=D(63))
    reading = grid_reading_record(group=power_group, measured_at=now - timedelta(seconds=30),
                                  currents=(D("20.5"), D("18.0"), D("22.1")), source=f"{marker}HAN")
    # A command the charger answered (the API's commands are sent live; this one is history to poll).
    command = RemoteCommand.objects.create(charge_point=charge_point, action="Reset", payload={"type": "Soft"},
                                           status=RemoteCommand.Status.ANSWERED, response={"status": "Accepted"},
                                           requested_by=board, reason=f"{marker}Omstart", answered_at=now)
    extra = {"/api/v1/commands/": [command.pk]}
    _charging_profile(charge_point, evses[0], command, board)
    raw_key = api_key_create(organization=org, name=f"{marker}integration", scopes=ALL_SCOPES, acting_user=None,
                             reason="test").raw_key
    return Dataset(org=org, marker=marker, raw_key=raw_key, location=location, charge_point=charge_point,
                   evses=evses, board=board, viewer=viewer, residents=residents, tokens=tokens, group=group,
                   tariff=tariff, assignment=assignment, completed_session=completed, active_session=active,
                   invoice=invoice, payment=payment, statement=statement, payout=payout, booking=booking,
                   reservation=reservation, charging_key=charging_key, power_group=power_group, reading=reading,
                   webhook=_webhook(org, marker), extra=extra)


def _charge(charge_point: ChargePoint, evse: Evse, token: IdToken, *, started_at: datetime,
            energy_wh: int) -> ChargingSession:
    """A completed session as the charger reports one: start, two meter samples, stop; then priced."""
    session = start_session(charge_point=charge_point, evse=evse, uid=token.uid, meter_start_wh=0,
                            started_at=started_at).session
    record_transaction_readings(charge_point=charge_point, transaction_id=session.transaction_id, evse=evse, readings=[
        MeterReading(timestamp=started_at + timedelta(hours=1), value=D(energy_wh // 2)),
        MeterReading(timestamp=started_at + timedelta(hours=2), value=D(energy_wh))])
    session = stop_session(charge_point=charge_point, transaction_id=session.transaction_id,
                           stopped_at=started_at + timedelta(hours=2), meter_stop_wh=energy_wh,
                           reason="EVDisconnected").session
    session_price(session=session, now=started_at + timedelta(hours=3))
    return session


def _charging_profile(charge_point: ChargePoint, evse: Evse, command: RemoteCommand, board: User):
    """A charging profile the charger accepted, when the model exists (it is being added in parallel)."""
    try:
        model = apps.get_model("charging", "ChargingProfile")
    except LookupError:
        return None
    profile = model.objects.create(charge_point=charge_point, evse=evse, purpose="tx_default", kind="Relative",
                                   periods=[{"start_period": 0, "limit": "16.0"}], status="accepted",
                                   command=command, created_by=board)
    base = getattr(import_module("charging.models.profiles"), "PROFILE_ID_BASE", 1_000_000)
    model.objects.filter(pk=profile.pk).update(charging_profile_id=base + profile.pk)
    return profile


def _webhook(org: Organization, marker: str):
    """A webhook endpoint of ``org``, when the webhooks app is installed."""
    if not apps.is_installed("webhooks"):
        return None
    endpoint_create = import_module("webhooks.services").endpoint_create
    return endpoint_create(organization=org, url=f"https://hooks.example/{marker}receiver",
                           event_types=["session.started"], description=f"{marker}Fastighetssystem", acting_user=None,
                           reason=f"{marker}webhook")
