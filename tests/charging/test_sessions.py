"""The protocol-neutral charging services, called directly (both OCPP versions go through these)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.services.tokens import id_token_block, id_token_issue
from charging.models import AuthorizationAttempt, ChargePoint, ChargingSession, Connector, MeterSample
from charging.services import stations
from charging.services.authorization import AuthStatus, authorize
from charging.services.sessions import MeterReading, record_transaction_readings, start_session, stop_session
from tests.accounts.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 10, 14, 58, 15, tzinfo=UTC)


@pytest.fixture
def station():
    org = OrganizationFactory()
    charge_point = stations.charge_point_register(identity="CP-1", organization=org, evses=2, acting_user=None,
                                                  reason="test")
    id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")
    return charge_point


def evse(station, number=1):
    return station.evses.get(evse_id=number)


def energy(at, wh, **kwargs):
    return MeterReading(timestamp=at, value=Decimal(wh), **kwargs)


@pytest.mark.parametrize("spelling", ["04A23B1C", "04a23b1c", "04:A2:3B:1C"], ids=["canonical", "lower", "colons"])
def test_a_token_is_recognized_in_any_reader_spelling(station, spelling):
    assert authorize(charge_point=station, uid=spelling, at=T0, purpose="authorize").status == AuthStatus.ACCEPTED


def test_every_authorization_decision_is_recorded(station):
    authorize(charge_point=station, uid="FFFFFFFF", at=T0, purpose="authorize")
    attempt = AuthorizationAttempt.objects.get()
    assert (attempt.id_token_uid, attempt.status, attempt.reason) == ("FFFFFFFF", "Invalid", "Unknown token")


def test_a_token_already_charging_is_concurrent(station):
    start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=0, started_at=T0)
    result = authorize(charge_point=station, uid="04A23B1C", at=T0, purpose="authorize", check_concurrent=True)
    assert result.status == AuthStatus.CONCURRENT_TX


def test_a_blocked_token_starts_a_session_marked_blocked(station):
    token = station.organization.id_tokens.get()
    id_token_block(token=token, reason="Unpaid invoice", acting_user=None)
    result = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=0, started_at=T0)
    assert result.authorization.status == AuthStatus.BLOCKED
    assert result.session.authorization_status == "Blocked"


def test_the_same_start_twice_gives_one_session(station):
    first = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=10, started_at=T0)
    again = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=10, started_at=T0)
    assert again.duplicate
    assert again.session.pk == first.session.pk
    assert ChargingSession.objects.count() == 1


def test_a_charger_supplied_transaction_id_is_kept_and_deduplicated(station):
    first = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=0, started_at=T0,
                          transaction_id="b3f1c2")
    again = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=0,
                          started_at=T0 + timedelta(seconds=5), transaction_id="b3f1c2")
    assert first.session.transaction_id == "b3f1c2"
    assert again.session.pk == first.session.pk


def test_a_new_session_on_a_busy_evse_closes_the_old_one_as_failed(station):
    old = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=100, started_at=T0)
    record_transaction_readings(charge_point=station, transaction_id=old.session.transaction_id, evse=None,
                                readings=[energy(T0 + timedelta(minutes=30), 1600)])
    start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=1700,
                  started_at=T0 + timedelta(hours=1))
    old.session.refresh_from_db()
    assert (old.session.status, old.session.meter_stop_wh, old.session.energy_wh) == ("failed", 1600, 1500)


def test_a_late_stop_completes_a_session_closed_as_failed(station):
    result = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=0, started_at=T0)
    stations.status_report(charge_point=station, evse_id=1, connector_id=1, status="Available",
                           at=T0 + timedelta(hours=1))
    result.session.refresh_from_db()
    assert result.session.status == "failed"
    stop_session(charge_point=station, transaction_id=result.session.transaction_id,
                 stopped_at=T0 + timedelta(minutes=59), meter_stop_wh=12_345)
    result.session.refresh_from_db()
    assert (result.session.status, result.session.energy_wh) == ("completed", 12_345)


def test_replayed_readings_are_stored_once_and_energy_follows_the_register(station):
    result = start_session(charge_point=station, evse=evse(station), uid="04A23B1C", meter_start_wh=1000,
                           started_at=T0)
    readings = [energy(T0 + timedelta(minutes=15), 2500), energy(T0 + timedelta(minutes=15), 230, measurand="Voltage",
                                                                 unit="V", phase="L1")]
    for _ in range(2):
        record_transaction_readings(charge_point=station, transaction_id=result.session.transaction_id, evse=None,
                                    readings=readings)
    assert MeterSample.objects.count() == 2
    result.session.refresh_from_db()
    assert result.session.energy_wh == 1500


def test_one_batch_keeps_each_sessions_energy_and_seq_no_apart(station):
    """Many chargers' messages written in one batch: each session gets its own energy and last seqNo, and a field a
    message did not change is left as it was."""
    from charging.services.sessions import ReadingsEntry, record_readings_batch

    id_token_issue(organization=station.organization, uid="04A23B1D", acting_user=None, reason="test")
    first = start_session(charge_point=station, evse=evse(station, 1), uid="04A23B1C", meter_start_wh=1000,
                          started_at=T0).session
    second = start_session(charge_point=station, evse=evse(station, 2), uid="04A23B1D", meter_start_wh=0,
                           started_at=T0).session
    third = start_session(charge_point=station, evse=evse(station, 1), uid="04A23B1C", meter_start_wh=0,
                          started_at=T0 + timedelta(hours=1)).session  # closes the first as failed
    ChargingSession.objects.filter(pk=second.pk).update(last_seq_no=7)
    at = T0 + timedelta(hours=2)
    added = record_readings_batch([
        ReadingsEntry(station.pk, [energy(at, 4000)], transaction_id=second.transaction_id),  # energy only
        ReadingsEntry(station.pk, [energy(at, 1200)], transaction_id=third.transaction_id, seq_no=3),  # both
        ReadingsEntry(station.pk, [energy(at, 900)], transaction_id=first.transaction_id),  # closed: kept only
    ])

    assert added == [1, 1, 1]
    values = {pk: (e, s) for pk, e, s in ChargingSession.objects.values_list("pk", "energy_wh", "last_seq_no")}
    assert values[second.pk] == (4000, 7)
    assert values[third.pk] == (1200, 3)
    assert values[first.pk][0] == first.energy_wh


def test_a_late_status_does_not_overwrite_a_newer_one(station):
    stations.status_report(charge_point=station, evse_id=1, connector_id=1, status="Charging", at=T0)
    stations.status_report(charge_point=station, evse_id=1, connector_id=1, status="Available",
                           at=T0 - timedelta(hours=1))
    assert Connector.objects.get(evse__charge_point=station, evse__evse_id=1).status == "Charging"


def test_station_status_and_fault_codes_are_stored(station):
    stations.status_report(charge_point=station, evse_id=0, connector_id=None, status="Faulted",
                           error_code="GroundFailure", at=T0)
    station.refresh_from_db()
    assert (station.status, station.error_code) == ("Faulted", "GroundFailure")


def test_chargers_silent_for_two_heartbeat_intervals_are_marked_offline(station):
    ChargePoint.objects.filter(pk=station.pk).update(is_connected=True, heartbeat_interval=60,
                                                     last_seen_at=T0 - timedelta(seconds=121))
    quiet = stations.charge_point_register(identity="CP-2", organization=station.organization, acting_user=None,
                                           reason="test")
    ChargePoint.objects.filter(pk=quiet.pk).update(is_connected=True, heartbeat_interval=60,
                                                   last_seen_at=T0 - timedelta(seconds=119))
    assert stations.charge_points_mark_offline(now=T0) == 1
    assert list(ChargePoint.objects.filter(is_connected=True).values_list("identity", flat=True)) == ["CP-2"]


def test_the_auth_key_is_stored_hashed_and_checked(station):
    with_key = stations.charge_point_register(identity="CP-K", organization=station.organization, auth_key="s3cret",
                                              acting_user=None, reason="test")
    assert "s3cret" not in with_key.auth_key_hash
    assert stations.check_auth_key(with_key, "s3cret")
    assert not stations.check_auth_key(with_key, "wrong")
    assert not stations.check_auth_key(with_key, None)
    assert stations.check_auth_key(station, None)
