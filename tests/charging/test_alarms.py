"""Alarms: opened and closed by what stations report (statuses, offline detection, device, security and firmware
events, orphan stops), acknowledged by people with a comment, and the alarm pages in the admin."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditLogEntry
from charging.models import Alarm, ChargePoint, OrphanTransactionStop, StationEvent
from charging.ocpp.batching import seen_tracker
from charging.services import alarms, stations
from charging.services.events import DeviceVariable, device_event_record, station_event_record
from charging.services.sessions import orphan_stop_resolve, stop_session
from csms.asgi import application
from tests.accounts.factories import OrganizationFactory
from tests.charging.factories import AlarmFactory, ChargePointFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
Kind = Alarm.Kind


@pytest.fixture
def station():
    return stations.charge_point_register(identity="CP-1", organization=OrganizationFactory(name="BRF Solrosen"),
                                          evses=2, display_name="Laddplats 01", acting_user=None, reason="test")


def status(station, status, *, evse=1, at=T0, **kwargs):
    stations.status_report(charge_point=station, evse_id=evse, connector_id=1 if evse else None, status=status,
                           at=at, **kwargs)


def open_alarms(station, **filters):
    return list(Alarm.objects.filter(charge_point=station, closed_at__isnull=True, **filters).values_list(
        "kind", "evse_number"))


# --- statuses ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error_code", ["OverCurrentFailure", "GroundFailure"])
def test_a_tripped_protective_device_opens_fuse_tripped(station, error_code):
    status(station, "Faulted", error_code=error_code, vendor_error_code="E12")

    alarm = Alarm.objects.get(charge_point=station)
    assert (alarm.kind, alarm.evse_number, alarm.severity, alarm.opened_at) == (
        Kind.FUSE_TRIPPED, 1, Alarm.Severity.CRITICAL, T0)
    assert alarm.message.startswith(f"Faulted: {error_code} (")
    assert "E12" in alarm.message


def test_another_fault_opens_faulted_and_unavailable_opens_unavailable(station):
    status(station, "Faulted", error_code="HighTemperature", evse=1)
    status(station, "Unavailable", evse=2)

    assert sorted(open_alarms(station)) == [(Kind.FAULTED, 1), (Kind.UNAVAILABLE, 2)]
    assert Alarm.objects.get(kind=Kind.FAULTED).message == "Faulted: HighTemperature"


def test_the_same_fault_reported_again_keeps_one_alarm(station):
    status(station, "Faulted", error_code="GroundFailure")
    status(station, "Faulted", error_code="GroundFailure", at=T0 + timedelta(minutes=1))

    assert Alarm.objects.filter(charge_point=station).count() == 1


def test_a_later_status_closes_what_no_longer_holds_on_that_evse_only(station):
    status(station, "Faulted", error_code="GroundFailure", evse=1)
    status(station, "Faulted", error_code="InternalError", evse=2)
    status(station, "Unavailable", evse=0)

    status(station, "Available", evse=1, at=T0 + timedelta(minutes=5))
    assert sorted(open_alarms(station)) == [(Kind.FAULTED, 2), (Kind.UNAVAILABLE, 0)]
    closed = Alarm.objects.get(kind=Kind.FUSE_TRIPPED)
    assert closed.closed_at == T0 + timedelta(minutes=5)
    assert "Available" in closed.close_reason

    status(station, "Available", evse=0, at=T0 + timedelta(minutes=6))
    assert open_alarms(station) == [(Kind.FAULTED, 2)]


def test_a_faulted_status_closes_unavailable_and_unavailable_closes_faulted(station):
    status(station, "Unavailable")
    status(station, "Faulted", error_code="InternalError", at=T0 + timedelta(minutes=1))
    assert open_alarms(station) == [(Kind.FAULTED, 1)]
    status(station, "Unavailable", at=T0 + timedelta(minutes=2))
    assert open_alarms(station) == [(Kind.UNAVAILABLE, 1)]


@pytest.mark.parametrize("evse", [1, 0], ids=["connector", "whole-station"])
def test_late_statuses_neither_open_nor_close_alarms(station, evse):
    status(station, "Faulted", error_code="GroundFailure", evse=evse, at=T0)
    status(station, "Available", evse=evse, at=T0 - timedelta(hours=1))  # replayed from before the fault
    assert open_alarms(station) == [(Kind.FUSE_TRIPPED, evse)]

    status(station, "Available", evse=evse, at=T0 + timedelta(minutes=10))
    status(station, "Faulted", error_code="GroundFailure", evse=evse, at=T0 + timedelta(minutes=5))  # late again
    assert open_alarms(station) == []
    assert Alarm.objects.filter(charge_point=station).count() == 1


# --- offline detection ------------------------------------------------------------------------------------------
def test_offline_detection_opens_and_closes_an_offline_alarm(station, settings):
    settings.ALARM_OFFLINE_AFTER = 600
    ChargePoint.objects.filter(pk=station.pk).update(is_connected=True, heartbeat_interval=60, last_seen_at=T0)

    assert stations.charge_points_mark_offline(now=T0 + timedelta(seconds=121)) == 1  # two heartbeats missed
    assert not Alarm.objects.exists()  # but not yet silent for ten minutes

    stations.charge_points_mark_offline(now=T0 + timedelta(seconds=601))
    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.evse_number, alarm.opened_at, alarm.closed_at) == (
        Kind.OFFLINE, 0, T0 + timedelta(seconds=601), None)
    assert alarm.details == {"last_seen_at": T0.isoformat()}

    stations.charge_points_mark_offline(now=T0 + timedelta(seconds=661))
    assert Alarm.objects.count() == 1  # still the same open alarm

    back = T0 + timedelta(minutes=30)
    stations.charge_points_seen(connected={station.pk}, disconnected=set(), now=back)
    alarm.refresh_from_db()
    assert alarm.closed_at == back
    assert alarm.close_reason


def test_only_accepted_stations_in_service_that_were_ever_seen_get_offline_alarms(settings):
    settings.ALARM_OFFLINE_AFTER = 600
    long_ago = T0 - timedelta(hours=2)
    silent = ChargePointFactory(last_seen_at=long_ago)
    ChargePointFactory(last_seen_at=long_ago, registration_status=ChargePoint.RegistrationStatus.PENDING)
    ChargePointFactory(last_seen_at=long_ago, decommissioned_at=T0 - timedelta(hours=1))
    ChargePointFactory(last_seen_at=None)
    ChargePointFactory(last_seen_at=T0 - timedelta(minutes=5))  # silent, but not for long
    ChargePointFactory(last_seen_at=long_ago, is_connected=True, heartbeat_interval=86400)  # still connected

    stations.charge_points_mark_offline(now=T0)

    assert list(Alarm.objects.values_list("charge_point", flat=True)) == [silent.pk]


def test_the_offline_sweep_costs_the_same_few_queries_for_many_stations(settings, django_assert_max_num_queries):
    settings.ALARM_OFFLINE_AFTER = 600
    ChargePointFactory.create_batch(120, last_seen_at=T0 - timedelta(hours=1))

    with django_assert_max_num_queries(10):
        stations.charge_points_mark_offline(now=T0)

    assert Alarm.objects.filter(kind=Kind.OFFLINE, closed_at__isnull=True).count() == 120


# --- device, security and firmware events -----------------------------------------------------------------------
def device(station, component, variable, value, *, evse=0, cleared=False, at=T0):
    return device_event_record(
        charge_point=station, code=f"Delta/HardWiredNotification {component}.{variable}", details={}, at=at,
        report=DeviceVariable(component=component, variable=variable, value=value, evse_number=evse,
                              cleared=cleared))


@pytest.mark.parametrize(("component", "variable", "kind"), [
    ("OverCurrentProtection", "Operated", Kind.FUSE_TRIPPED),
    ("RCD", "Tripped", Kind.FUSE_TRIPPED),
    ("RCD", "Operated", Kind.FUSE_TRIPPED),
    ("Connector", "Problem", Kind.FAULTED),
    ("ChargingStation", "Problem", Kind.FAULTED),
])
def test_device_variables_going_true_and_false_open_and_close_alarms(station, component, variable, kind):
    device(station, component, variable, "true", evse=1)
    assert open_alarms(station) == [(kind, 1)]

    device(station, component, variable, "false", evse=1, at=T0 + timedelta(minutes=3))
    assert open_alarms(station) == []
    assert StationEvent.objects.filter(charge_point=station, kind=StationEvent.Kind.NOTIFY).count() == 2


def test_a_cleared_device_event_closes_its_alarm_and_other_variables_raise_none(station):
    device(station, "Connector", "Problem", "true")
    device(station, "Connector", "Problem", "true", cleared=True, at=T0 + timedelta(minutes=1))
    device(station, "TemperatureSensor", "Temperature", "71.5")
    device(station, "Connector", "Problem", "maybe")

    assert open_alarms(station) == []
    assert Alarm.objects.count() == 1


async def test_a_2_0_1_notify_event_reaches_the_alarm_rules(transactional_db, settings):
    settings.OCPP_FRAME_LOG = False
    charge_point = await sync_to_async(stations.charge_point_register)(
        identity="CP201-A", organization=await sync_to_async(OrganizationFactory)(), evses=1, acting_user=None,
        reason="test")
    communicator = WebsocketCommunicator(application, "/ocpp/CP201-A", subprotocols=["ocpp2.0.1"])
    assert (await communicator.connect())[0]
    await communicator.send_json_to([2, "1", "NotifyEvent", {
        "generatedAt": "2026-11-20T18:00:01Z", "seqNo": 0, "eventData": [{
            "eventId": 7, "timestamp": "2026-11-20T18:00:00Z", "trigger": "Delta", "actualValue": "true",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "OverCurrentProtection", "evse": {"id": 1}}, "variable": {"name": "Operated"}}]}])
    answer = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    await seen_tracker.flush()

    assert answer[0] == 3
    alarm = await sync_to_async(Alarm.objects.get)(charge_point=charge_point)
    assert (alarm.kind, alarm.evse_number, alarm.opened_at) == (Kind.FUSE_TRIPPED, 1, T0)


def test_a_security_event_opens_an_alarm_that_acknowledgement_closes(station, operator_staff):
    station_event_record(charge_point=station, kind=StationEvent.Kind.SECURITY, code="TamperDetectionActivated",
                         details={"techInfo": "Lid opened"}, at=T0)
    alarm = Alarm.objects.get(kind=Kind.SECURITY_EVENT)
    assert (alarm.message, alarm.severity) == ("TamperDetectionActivated: Lid opened", Alarm.Severity.MAJOR)

    alarms.alarm_acknowledge(alarm=alarm, comment="Caretaker closed the lid", acting_user=operator_staff,
                             at=T0 + timedelta(hours=1))
    alarm.refresh_from_db()
    assert alarm.closed_at == T0 + timedelta(hours=1)


def test_a_routine_security_event_is_kept_as_an_event_without_an_alarm(station):
    station_event_record(charge_point=station, kind=StationEvent.Kind.SECURITY, code="StartupOfTheDevice",
                         details={}, at=T0)
    assert StationEvent.objects.filter(charge_point=station, code="StartupOfTheDevice").exists()
    assert not Alarm.objects.filter(kind=Kind.SECURITY_EVENT).exists()


@pytest.mark.parametrize("failure", ["DownloadFailed", "InstallationFailed", "InstallVerificationFailed",
                                     "InvalidSignature"])
def test_a_failed_firmware_update_opens_an_alarm_that_installed_closes(station, failure):
    for code in ("Downloading", "Downloaded", failure):
        station_event_record(charge_point=station, kind=StationEvent.Kind.FIRMWARE, code=code, details={}, at=T0,
                             status_fields={"firmware_status": code})
    assert open_alarms(station) == [(Kind.FIRMWARE_FAILED, 0)]
    assert failure in Alarm.objects.get().message

    station_event_record(charge_point=station, kind=StationEvent.Kind.FIRMWARE, code="Installed", details={},
                         at=T0 + timedelta(hours=1), status_fields={"firmware_status": "Installed"})
    assert open_alarms(station) == []


# --- orphan stops -----------------------------------------------------------------------------------------------
def test_orphan_stops_open_one_alarm_that_closes_when_all_are_resolved(station, operator_staff):
    for tx in ("991", "992"):
        stop_session(charge_point=station, transaction_id=tx, stopped_at=T0, meter_stop_wh=5000)
    assert open_alarms(station) == [(Kind.ORPHAN_TRANSACTION, 0)]
    first, second = OrphanTransactionStop.objects.order_by("transaction_id")

    orphan_stop_resolve(orphan=first, acting_user=operator_staff, reason="Charger clock reset, ticket 12", at=T0)
    assert open_alarms(station) == [(Kind.ORPHAN_TRANSACTION, 0)]  # the other one is still open
    orphan_stop_resolve(orphan=second, acting_user=operator_staff, reason="Same incident, ticket 12", at=T0)
    assert open_alarms(station) == []

    entry = AuditLogEntry.objects.get(action="orphantransactionstop.resolved", target_id=str(first.pk))
    assert (entry.actor, entry.reason, entry.changes) == (operator_staff, "Charger clock reset, ticket 12",
                                                          {"resolved": [False, True]})
    with pytest.raises(ValidationError):
        orphan_stop_resolve(orphan=first, acting_user=operator_staff, reason="again")


def test_marking_an_orphan_stop_resolved_in_the_admin_asks_for_a_reason(client, operator_staff, station):
    stop_session(charge_point=station, transaction_id="77", stopped_at=T0, meter_stop_wh=100)
    orphan = OrphanTransactionStop.objects.get()
    client.force_login(operator_staff)
    url = reverse("admin:charging_orphantransactionstop_changelist")

    asked = client.post(url, {"action": "mark_resolved", ACTION_CHECKBOX_NAME: [orphan.pk]})
    assert 'name="reason"' in asked.content.decode()
    client.post(url, {"action": "mark_resolved", ACTION_CHECKBOX_NAME: [orphan.pk], "apply": "1",
                      "reason": "Duplicate stop after a power cut"}, follow=True)

    orphan.refresh_from_db()
    assert orphan.resolved
    assert AuditLogEntry.objects.get(action="orphantransactionstop.resolved").reason == (
        "Duplicate stop after a power cut")
    # The page itself no longer offers an editable checkbox.
    page = client.get(reverse("admin:charging_orphantransactionstop_change", args=[orphan.pk])).content.decode()
    assert 'name="resolved"' not in page


# --- acknowledgement --------------------------------------------------------------------------------------------
def test_acknowledging_records_the_comment_as_the_audit_reason(station, operator_staff):
    status(station, "Faulted", error_code="GroundFailure")
    alarm = Alarm.objects.get()

    alarms.alarm_acknowledge(alarm=alarm, comment="Electrician booked, ticket 4411", acting_user=operator_staff,
                             at=T0 + timedelta(minutes=20))

    alarm.refresh_from_db()
    assert (alarm.acknowledged_by, alarm.acknowledgement, alarm.closed_at) == (
        operator_staff, "Electrician booked, ticket 4411", None)  # a fault stays open until the station clears it
    entry = AuditLogEntry.objects.get(action="alarm.acknowledged")
    assert (entry.actor, entry.reason, entry.organization) == (
        operator_staff, "Electrician booked, ticket 4411", station.organization)
    with pytest.raises(ValidationError):
        alarms.alarm_acknowledge(alarm=alarm, comment="again", acting_user=operator_staff, at=T0)


# --- admin ------------------------------------------------------------------------------------------------------
@pytest.fixture
def two_tenants(brf_a, brf_b):
    own = AlarmFactory(charge_point=ChargePointFactory(organization=brf_a.org, identity="A-1"))
    closed = AlarmFactory(charge_point=own.charge_point, kind=Kind.UNAVAILABLE, closed_at=T0)
    other = AlarmFactory(charge_point=ChargePointFactory(organization=brf_b.org, identity="B-1"),
                         kind=Kind.FUSE_TRIPPED)
    return own, closed, other


def _changelist(client, **params):
    return client.get(reverse("admin:charging_alarm_changelist"), params)


def test_the_alarm_list_shows_open_alarms_unless_asked_otherwise(client, operator_staff, two_tenants):
    own, closed, other = two_tenants
    client.force_login(operator_staff)

    def shown(**params):
        return {a.pk for a in _changelist(client, **params).context["cl"].result_list}

    assert shown() == {own.pk, other.pk}
    assert shown(state="closed") == {closed.pk}
    assert shown(state="all") == {own.pk, closed.pk, other.pk}
    assert shown(kind=Kind.FUSE_TRIPPED) == {other.pk}
    assert shown(q="A-1", state="all") == {own.pk, closed.pk}


def test_the_alarm_list_runs_a_bounded_number_of_queries(client, operator_staff, django_assert_max_num_queries):
    for n in range(40):
        AlarmFactory(charge_point=ChargePointFactory(), acknowledged_by=operator_staff, acknowledged_at=T0,
                     message=f"fault {n}")
    client.force_login(operator_staff)
    _changelist(client)  # warm caches (content types, sessions)
    with django_assert_max_num_queries(12):
        assert _changelist(client).status_code == 200


def test_a_board_sees_and_filters_only_its_own_alarms(client, two_tenants, brf_a):
    own, _closed, _other = two_tenants
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_alarm"))
    client.force_login(brf_a.board)

    response = _changelist(client)
    assert [a.pk for a in response.context["cl"].result_list] == [own.pk]
    assert "BRF B" not in response.content.decode()  # not even as a filter choice
    assert client.get(reverse("admin:charging_alarm_change", args=[_other.pk])).status_code == 302
    # Viewing is not acknowledging: the board has no acknowledge action and no form.
    assert response.context["action_form"] is None
    assert 'id="acknowledge-form"' not in client.get(
        reverse("admin:charging_alarm_change", args=[own.pk])).content.decode()
    assert client.post(reverse("admin:charging_alarm_acknowledge", args=[own.pk]),
                       {"comment": "x"}).status_code == 403


def test_alarms_cannot_be_added_edited_or_deleted_in_the_admin(client, operator_staff, two_tenants):
    own = two_tenants[0]
    client.force_login(operator_staff)
    assert client.get(reverse("admin:charging_alarm_add")).status_code == 403
    assert client.post(reverse("admin:charging_alarm_change", args=[own.pk]), {"message": "x"}).status_code == 403
    assert client.post(reverse("admin:charging_alarm_delete", args=[own.pk]), {"post": "yes"}).status_code == 403


def test_bulk_acknowledge_asks_for_one_comment(client, operator_staff, two_tenants, settings):
    settings.LANGUAGE_CODE = "en"
    own, _closed, other = two_tenants
    client.force_login(operator_staff)
    url = reverse("admin:charging_alarm_changelist")
    selected = {"action": "acknowledge", ACTION_CHECKBOX_NAME: [own.pk, other.pk]}

    asked = client.post(url, selected)
    assert asked.status_code == 200
    assert 'name="comment"' in asked.content.decode()

    missing = client.post(url, {**selected, "apply": "1", "comment": "   "})
    assert missing.status_code == 200
    assert missing.context["form"].errors["comment"]
    assert not Alarm.objects.filter(acknowledged_at__isnull=False).exists()

    done = client.post(url, {**selected, "apply": "1", "comment": "Power cut in Bromma, Ellevio ticket 88"},
                       follow=True)
    assert "2" in " ".join(str(m) for m in done.context["messages"])
    assert set(Alarm.objects.filter(acknowledged_by=operator_staff).values_list("pk", flat=True)) == {
        own.pk, other.pk}
    assert list(AuditLogEntry.objects.filter(action="alarm.acknowledged").values_list("reason", flat=True)) == [
        "Power cut in Bromma, Ellevio ticket 88"] * 2

    again = client.post(url, {**selected, "apply": "1", "comment": "once more"}, follow=True)
    assert again.status_code == 200
    assert "already acknowledged" in " ".join(str(m) for m in again.context["messages"])


def test_the_acknowledge_form_on_the_alarm_page(client, operator_staff, two_tenants, settings):
    settings.LANGUAGE_CODE = "en"
    own = two_tenants[0]
    client.force_login(operator_staff)
    page_url = reverse("admin:charging_alarm_change", args=[own.pk])
    ack_url = reverse("admin:charging_alarm_acknowledge", args=[own.pk])

    assert 'id="acknowledge-form"' in client.get(page_url).content.decode()
    empty = client.post(ack_url, {"comment": ""}, follow=True)
    assert "Not acknowledged" in " ".join(str(m) for m in empty.context["messages"])

    client.post(ack_url, {"comment": "Reset remotely, charging again"})
    own.refresh_from_db()
    assert (own.acknowledged_by, own.acknowledgement) == (operator_staff, "Reset remotely, charging again")
    page = client.get(page_url).content.decode()
    assert 'id="acknowledge-form"' not in page
    assert "Reset remotely, charging again" in page

    again = client.post(ack_url, {"comment": "twice"}, follow=True)
    assert again.status_code == 200
    assert "already acknowledged" in " ".join(str(m) for m in again.context["messages"])
    assert client.get(ack_url).status_code == 405
