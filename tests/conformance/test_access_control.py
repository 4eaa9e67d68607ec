"""Access control through the live OCPP server, with simulated OCPP 1.6 and 2.0.1 chargers on real websockets:
private stations, user-group restrictions, booked EVSEs, semi-public stations with charging keys, and the
ReserveNow / CancelReservation a booking sends (called from this process, travelling over Redis to the server
process that holds the charger's socket)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from accounts.models import IdToken
from accounts.services.groups import user_group_add_members
from accounts.services.tokens import id_token_issue
from charging.access import AccessMode
from charging.models import AuthorizationAttempt, Booking, BookingPolicy, ChargePoint, RemoteCommand, Reservation
from charging.services import access as access_services
from charging.services.bookings import booking_cancel, booking_create, bookings_run
from charging.services.stations import charge_point_register
from tests.accounts.factories import MembershipFactory, OrganizationFactory, UserGroupFactory
from tests.conformance.clients import Charger16, Charger201, connected
from tests.conformance.test_ocpp16 import db, ts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "access-control-authorization-key"
VERSIONS = ["1.6", "2.0.1"]
CHARGER = {"1.6": Charger16, "2.0.1": Charger201}
#: How each version says "not for you here" and "not now".
NOT_HERE = {"1.6": "Invalid", "2.0.1": "NotAtThisLocation"}
NOT_NOW = {"1.6": "Invalid", "2.0.1": "NotAtThisTime"}


class Setup:
    """Two associations; the first owns the station. Residents with RFID tags in both."""

    def __init__(self, version: str, *, evses: int = 1):
        suffix = uuid.uuid4().hex[:6]
        self.org = OrganizationFactory(name="BRF Norrsken")
        self.other_org = OrganizationFactory(name="BRF Söderljus")
        self.station = charge_point_register(identity=f"AC-{version}-{suffix}", organization=self.org, evses=evses,
                                             auth_key=KEY, acting_user=None, reason="test")
        self.residents = [MembershipFactory(organization=self.org).user for _ in range(2)]
        self.tags = [id_token_issue(organization=self.org, uid=f"0A{n}{suffix}".upper()[:8], user=resident,
                                    acting_user=None, reason="test") for n, resident in enumerate(self.residents)]
        foreign_resident = MembershipFactory(organization=self.other_org).user
        self.foreign_tag = id_token_issue(organization=self.other_org, uid=f"0B0{suffix}".upper()[:8],
                                          user=foreign_resident, acting_user=None, reason="test")

    def configure(self, mode, groups=()):
        access_services.charge_point_access_set(charge_point=self.station, mode=mode, rules=(), allowed_groups=groups,
                                                acting_user=None, reason="test", now=datetime.now(UTC))


def boot(version: str):
    if version == "1.6":
        return call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go")
    return call201.BootNotification(charging_station={"vendor_name": "Easee", "model": "Charge"}, reason="PowerUp")


async def authorize(charger, version: str, uid: str, kind: str = "ISO14443") -> str:
    if version == "1.6":
        return (await charger.call(call16.Authorize(id_tag=uid))).id_tag_info["status"]
    answer = await charger.call(call201.Authorize(id_token={"id_token": uid, "type": kind}))
    return answer.id_token_info["status"]


async def start(charger, version: str, uid: str) -> str:
    """Start a transaction on EVSE 1 and return the answer's authorization status."""
    if version == "1.6":
        answer = await charger.call(call16.StartTransaction(connector_id=1, id_tag=uid, meter_start=0, timestamp=ts()))
        return answer.id_tag_info["status"]
    answer = await charger.call(call201.TransactionEvent(
        event_type="Started", timestamp=ts(), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": uuid.uuid4().hex}, evse={"id": 1, "connector_id": 1},
        id_token={"id_token": uid, "type": "ISO14443"}))
    return answer.id_token_info["status"]


def attempt_reason(station, uid: str) -> str:
    return AuthorizationAttempt.objects.filter(charge_point=station, id_token_uid=uid).latest("pk").reason


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_private_station_refuses_another_organizations_tag(csms_server, version):
    setup = await db(Setup, version)
    async with connected(csms_server, setup.station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        await charger.call(boot(version))
        assert await authorize(charger, version, setup.tags[0].uid) == "Accepted"
        assert await authorize(charger, version, setup.foreign_tag.uid) == NOT_HERE[version]
    assert await db(attempt_reason, setup.station, setup.foreign_tag.uid) == (
        "Private station: token of another organization")


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_group_restricted_station_refuses_a_non_member_with_the_recorded_reason(csms_server, version):
    def prepare():
        setup = Setup(version)
        group = UserGroupFactory(organization=setup.org, name="Garage Ost")
        user_group_add_members(group=group, users=[setup.residents[0]], acting_user=None, reason="test")
        setup.configure(AccessMode.PRIVATE, groups=[group])
        return setup

    setup = await db(prepare)
    async with connected(csms_server, setup.station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        await charger.call(boot(version))
        assert await authorize(charger, version, setup.tags[0].uid) == "Accepted"
        assert await authorize(charger, version, setup.tags[1].uid) == NOT_HERE[version]
    assert await db(attempt_reason, setup.station, setup.tags[1].uid) == (
        "Private station: the token's owner is not in the allowed user groups (Garage Ost)")


def _booked(version: str) -> tuple[Setup, Booking]:
    setup = Setup(version)
    BookingPolicy.objects.create(organization=setup.org)
    now = datetime.now(UTC)
    # Booked two minutes ago for a window that began a minute ago (the service is given the clock of then).
    booking = booking_create(evse=setup.station.evses.get(evse_id=1), user=setup.residents[0],
                             starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
                             acting_user=setup.residents[0], reason="test", now=now - timedelta(minutes=2))
    return setup, booking


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_booked_evse_refuses_others_during_the_window_and_accepts_the_booker(csms_server, version):
    setup, _booking = await db(_booked, version)
    booker, other = setup.tags
    async with connected(csms_server, setup.station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        await charger.call(boot(version))
        assert await authorize(charger, version, other.uid) == NOT_NOW[version]
        assert await start(charger, version, other.uid) == NOT_NOW[version]
        assert await authorize(charger, version, booker.uid) == "Accepted"
        assert await start(charger, version, booker.uid) == "Accepted"
    reason = await db(attempt_reason, setup.station, other.uid)
    assert reason.startswith("EVSE 1 is booked by someone else until ")


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_semi_public_station_accepts_a_charging_key(csms_server, version):
    def prepare():
        setup = Setup(version)
        setup.configure(AccessMode.SEMI_PUBLIC)
        now = datetime.now(UTC)
        key = access_services.charging_key_issue(
            organization=setup.org, guest_name="Guest", valid_from=now - timedelta(minutes=5),
            valid_until=now + timedelta(days=1), acting_user=None, reason="test", now=now)
        return setup, key

    setup, key = await db(prepare)
    assert key.id_token.type == IdToken.Type.KEY_CODE
    async with connected(csms_server, setup.station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        await charger.call(boot(version))
        assert await authorize(charger, version, key.id_token.uid, kind="KeyCode") == "Accepted"
        assert await authorize(charger, version, setup.foreign_tag.uid) == NOT_HERE[version]
    assert await db(attempt_reason, setup.station, setup.foreign_tag.uid) == (
        "Semi-public station: start with its QR code or a charging key")


@pytest.mark.parametrize("version", VERSIONS)
async def test_reserve_now_goes_out_when_the_window_begins_and_cancelling_releases_it(csms_server, server_settings,
                                                                                      version):
    setup, booking = await db(_booked, version)
    async with connected(csms_server, setup.station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        await charger.call(boot(version))
        result = await db(bookings_run, now=datetime.now(UTC))
        assert result.reserved == 1
        booking = await db(Booking.objects.select_related("reservation").get, pk=booking.pk)
        assert booking.reservation.status == Reservation.Status.ACCEPTED
        assert booking.reservation.id_token_uid == setup.tags[0].uid
        key = "id" if version == "2.0.1" else "reservation_id"
        assert charger.received == [("ReserveNow", {key: booking.reservation_id})]
        # The next minute sends nothing more.
        assert (await db(bookings_run, now=datetime.now(UTC))).reserved == 0
        cancelled = await db(booking_cancel, booking=booking, acting_user=setup.residents[0], reason="Plans changed",
                             now=datetime.now(UTC))
    assert (cancelled.booking.status, cancelled.released) == (Booking.Status.CANCELLED, True)
    reservation = await db(Reservation.objects.get, pk=booking.reservation_id)
    assert reservation.status == Reservation.Status.CANCELLED
    sent = await db(lambda: list(RemoteCommand.objects.filter(charge_point=setup.station).order_by("pk")
                                 .values_list("action", "status")))
    assert sent == [("ReserveNow", "answered"), ("CancelReservation", "answered")]
    station = await db(ChargePoint.objects.get, pk=setup.station.pk)
    assert station.ocpp_version == version
