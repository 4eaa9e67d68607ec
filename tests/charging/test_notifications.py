"""E-mail to notification groups when alarms open: who is told, once, with a rate limit, never across tenants; and
the notification group pages in the admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from accounts.models import AuditLogEntry, Organization
from charging.models import Alarm, AlarmNotification, ChargePoint, NotificationGroup
from charging.services import notifications, stations
from charging.services.notifications import NotificationFailed, alarm_notify, parse_addresses
from charging.tasks import notify_alarm_task
from tests.accounts.factories import OperatorFactory, OrganizationFactory
from tests.charging.factories import AlarmFactory, ChargePointFactory, LocationFactory, NotificationGroupFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 17, 5, tzinfo=UTC)
Kind = Alarm.Kind


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    settings.ALARM_NOTIFY_MIN_INTERVAL = 1800


@pytest.fixture
def solrosen():
    return OrganizationFactory(name="BRF Solrosen", locale="en")


@pytest.fixture
def station(solrosen):
    location = LocationFactory(organization=solrosen, name="Garaget", street_address="Solrosvägen 3",
                               postal_code="123 45", city="Bromma")
    return stations.charge_point_register(identity="SOL-01", organization=solrosen, evses=2, location=location,
                                          display_name="Laddplats 01", serial_number="ZAP123456", acting_user=None,
                                          reason="test")


def fuse_trips(station, at=T0, evse=1):
    """A 1.6 charger reports a tripped RCD (StatusNotification Faulted / GroundFailure)."""
    stations.status_report(charge_point=station, evse_id=evse, connector_id=1, status="Faulted",
                           error_code="GroundFailure", vendor_error_code="E12", at=at)


def clears(station, at, evse=1):
    stations.status_report(charge_point=station, evse_id=evse, connector_id=1, status="Available", at=at)


def test_a_tripped_fuse_emails_exactly_the_group_covering_the_station(station, solrosen,
                                                                      django_capture_on_commit_callbacks):
    right = NotificationGroupFactory(organization=solrosen, charge_points=[station],
                                     emails="styrelsen@solrosen.example\njour@solrosen.example")
    other_station = ChargePointFactory(organization=solrosen)
    NotificationGroupFactory(organization=solrosen, charge_points=[other_station], emails="a@x.example")
    NotificationGroupFactory(organization=OrganizationFactory(), emails="other-brf@x.example")
    NotificationGroupFactory(organization=solrosen, kinds=[Kind.OFFLINE], emails="offline-only@x.example")
    NotificationGroupFactory(organization=solrosen, is_active=False, emails="inactive@x.example")

    with django_capture_on_commit_callbacks(execute=True):
        fuse_trips(station)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["styrelsen@solrosen.example", "jour@solrosen.example"]
    assert "Fuse tripped" in message.subject
    assert "Laddplats 01" in message.subject
    body = message.body
    for expected in ("Laddplats 01", "SOL-01", "ZAP123456", "BRF Solrosen", "Garaget, Solrosvägen 3, 123 45 Bromma",
                     "Critical", "Faulted: GroundFailure (vendor code E12)", "EVSE 1",
                     "20 November 2026 18:05 (Europe/Stockholm)",
                     f"https://csms.test/admin/charging/alarm/{Alarm.objects.get().pk}/change/",
                     f"https://csms.test/admin/charging/chargepoint/{station.pk}/change/"):
        assert expected in body, expected
    notification = AlarmNotification.objects.get()
    assert (notification.group, notification.suppressed, notification.kind) == (right, False, Kind.FUSE_TRIPPED)


def test_the_same_fault_again_within_the_window_sends_no_second_email(station, solrosen,
                                                                      django_capture_on_commit_callbacks):
    group = NotificationGroupFactory(organization=solrosen, charge_points=[station])
    with django_capture_on_commit_callbacks(execute=True):
        fuse_trips(station, at=T0)
    clears(station, at=T0 + timedelta(minutes=2))

    with django_capture_on_commit_callbacks(execute=True):
        fuse_trips(station, at=T0 + timedelta(minutes=4))  # flapping: a new alarm, but the group was just told

    assert Alarm.objects.filter(kind=Kind.FUSE_TRIPPED).count() == 2
    assert len(mail.outbox) == 1
    assert list(AlarmNotification.objects.filter(group=group).order_by("pk").values_list("suppressed", flat=True)) \
        == [False, True]


def test_after_the_window_the_group_is_told_again(station, solrosen):
    NotificationGroupFactory(organization=solrosen, charge_points=[station])
    first = AlarmFactory(charge_point=station, kind=Kind.FUSE_TRIPPED, severity=Alarm.Severity.CRITICAL)
    alarm_notify(alarm_id=first.pk, now=T0)
    first.closed_at = T0
    first.save()
    second = AlarmFactory(charge_point=station, kind=Kind.FUSE_TRIPPED, severity=Alarm.Severity.CRITICAL)

    assert [n.suppressed for n in alarm_notify(alarm_id=second.pk, now=T0 + timedelta(seconds=1799))] == [True]
    third = AlarmFactory(charge_point=station, kind=Kind.FAULTED)
    assert [n.suppressed for n in alarm_notify(alarm_id=third.pk, now=T0 + timedelta(seconds=1799))] == [False]
    assert len(mail.outbox) == 2  # another kind is not held back


def test_a_retried_task_does_not_email_twice(station, solrosen):
    NotificationGroupFactory(organization=solrosen)
    alarm = AlarmFactory(charge_point=station)

    notify_alarm_task.delay(alarm.pk)
    notify_alarm_task.delay(alarm.pk)
    assert alarm_notify(alarm_id=alarm.pk, now=T0) == []

    assert len(mail.outbox) == 1
    assert AlarmNotification.objects.count() == 1


def test_a_failed_send_is_retried_for_that_group_only(station, solrosen, monkeypatch):
    ok = NotificationGroupFactory(organization=solrosen, emails="ok@x.example")
    broken = NotificationGroupFactory(organization=solrosen, emails="broken@x.example")
    alarm = AlarmFactory(charge_point=station)
    real_send = notifications.EmailMessage.send

    def send(message, *args, **kwargs):
        if message.to == ["broken@x.example"]:
            raise OSError("SMTP server unreachable")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(notifications.EmailMessage, "send", send)
    with pytest.raises(NotificationFailed):
        alarm_notify(alarm_id=alarm.pk, now=T0)
    assert [m.to for m in mail.outbox] == [["ok@x.example"]]
    assert list(AlarmNotification.objects.values_list("group", flat=True)) == [ok.pk]

    monkeypatch.setattr(notifications.EmailMessage, "send", real_send)
    assert [n.group for n in alarm_notify(alarm_id=alarm.pk, now=T0)] == [broken]
    assert [m.to for m in mail.outbox] == [["ok@x.example"], ["broken@x.example"]]


# --- which groups cover which stations --------------------------------------------------------------------------
def told(alarm) -> set[str]:
    return {group.name for group in notifications.groups_covering(alarm)}


def test_groups_cover_stations_directly_by_site_by_owner_or_everything_they_may_see(station, solrosen):
    elsewhere = ChargePointFactory(organization=solrosen)
    NotificationGroupFactory(name="direct", organization=solrosen, charge_points=[station])
    NotificationGroupFactory(name="site", organization=solrosen, locations=[station.location])
    NotificationGroupFactory(name="owner", organization=solrosen, organizations=[solrosen])
    NotificationGroupFactory(name="everything", organization=solrosen)
    NotificationGroupFactory(name="other station", organization=solrosen, charge_points=[elsewhere])

    assert told(AlarmFactory(charge_point=station)) == {"direct", "site", "owner", "everything"}
    assert told(AlarmFactory(charge_point=elsewhere)) == {"owner", "everything", "other station"}


def test_a_group_never_covers_stations_its_organization_may_not_see(station, solrosen):
    other_brf = OrganizationFactory(name="BRF Granen")
    theirs = ChargePointFactory(organization=other_brf, location=LocationFactory(organization=other_brf))
    # Written around the admin's checks: a BRF's group naming another BRF's station, site and organization.
    NotificationGroupFactory(name="nosy", organization=solrosen, charge_points=[theirs],
                             locations=[theirs.location], organizations=[other_brf])
    NotificationGroupFactory(name="solrosen all", organization=solrosen)
    NotificationGroupFactory(name="operator all", organization=OperatorFactory())
    reseller = OrganizationFactory(name="Laddbolaget", kind=Organization.Kind.RESELLER)
    other_brf.parent = reseller
    other_brf.save()
    NotificationGroupFactory(name="reseller all", organization=reseller)

    assert told(AlarmFactory(charge_point=theirs)) == {"operator all", "reseller all"}
    assert told(AlarmFactory(charge_point=station)) == {"solrosen all", "operator all"}


def test_groups_filter_by_kind_and_lowest_severity(station, solrosen):
    NotificationGroupFactory(name="faults", organization=solrosen, kinds=[Kind.FAULTED, Kind.FUSE_TRIPPED])
    NotificationGroupFactory(name="critical only", organization=solrosen, min_severity=Alarm.Severity.CRITICAL)
    NotificationGroupFactory(name="all", organization=solrosen, min_severity=Alarm.Severity.INFO)

    assert told(AlarmFactory(charge_point=station, kind=Kind.FAULTED, severity=Alarm.Severity.MAJOR)) == {
        "faults", "all"}
    assert told(AlarmFactory(charge_point=station, kind=Kind.OFFLINE, severity=Alarm.Severity.CRITICAL)) == {
        "critical only", "all"}
    assert told(AlarmFactory(charge_point=station, kind=Kind.ORPHAN_TRANSACTION, severity=Alarm.Severity.INFO)) \
        == {"all"}


def test_offline_alarms_opened_in_bulk_are_emailed_too(station, solrosen, settings,
                                                        django_capture_on_commit_callbacks):
    settings.ALARM_OFFLINE_AFTER = 600
    NotificationGroupFactory(organization=solrosen, kinds=[Kind.OFFLINE], emails="jour@solrosen.example")
    ChargePoint.objects.filter(pk=station.pk).update(last_seen_at=T0 - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        stations.charge_points_mark_offline(now=T0)

    assert [m.to for m in mail.outbox] == [["jour@solrosen.example"]]
    assert "Offline" in mail.outbox[0].subject


@pytest.mark.parametrize(("text", "valid", "invalid"), [
    ("a@x.se", ["a@x.se"], []),
    ("a@x.se, b@y.se\nc@z.se", ["a@x.se", "b@y.se", "c@z.se"], []),
    ("a@x.se;\n\n  b@y.se  ", ["a@x.se", "b@y.se"], []),
    ("a@x.se, A@x.se", ["a@x.se"], []),
    ("a@x.se, not-an-address, b@", ["a@x.se"], ["not-an-address", "b@"]),
    ("", [], []),
])
def test_addresses_are_split_on_lines_and_commas_and_checked(text, valid, invalid):
    assert parse_addresses(text) == (valid, invalid)


# --- admin ------------------------------------------------------------------------------------------------------
def _form(organization, **overrides):
    data = {"name": "Jour", "organization": organization.pk, "is_active": "on", "emails": "jour@x.example",
            "min_severity": str(Alarm.Severity.WARNING), "change_reason": "Customer asked by e-mail, ticket 7"}
    data.update(overrides)
    return data


def test_support_creates_a_group_with_kinds_as_checkboxes_and_the_change_is_audited(client, operator_staff,
                                                                                     station, solrosen):
    client.force_login(operator_staff)
    url = reverse("admin:charging_notificationgroup_add")
    page = client.get(url).content.decode()
    assert 'type="checkbox" name="kinds" value="fuse_tripped"' in page

    response = client.post(url, _form(solrosen, emails="a@x.example, b@x.example", kinds=["fuse_tripped", "faulted"],
                                      charge_points=[station.pk]))

    assert response.status_code == 302, response.context["adminform"].form.errors
    group = NotificationGroup.objects.get()
    assert (group.emails, sorted(group.kinds), list(group.charge_points.all())) == (
        "a@x.example\nb@x.example", ["faulted", "fuse_tripped"], [station])
    entry = AuditLogEntry.objects.get(action="notificationgroup.created")
    assert (entry.actor, entry.reason) == (operator_staff, "Customer asked by e-mail, ticket 7")
    assert entry.changes["charge_points"] == [[], [station.pk]]


def test_bad_addresses_are_named_in_the_form_error(client, operator_staff, solrosen):
    client.force_login(operator_staff)
    response = client.post(reverse("admin:charging_notificationgroup_add"),
                           _form(solrosen, emails="ok@x.example\nstyrelsen(at)brf.se, jour@"))
    assert response.status_code == 200
    error = " ".join(response.context["adminform"].form.errors["emails"])
    assert "styrelsen(at)brf.se" in error
    assert "jour@" in error
    assert "ok@x.example" not in error
    assert not NotificationGroup.objects.exists()


def test_a_group_cannot_name_stations_its_organization_may_not_see(client, operator_staff, solrosen):
    theirs = ChargePointFactory(organization=OrganizationFactory(name="BRF Granen"), identity="GRAN-1")
    client.force_login(operator_staff)
    response = client.post(reverse("admin:charging_notificationgroup_add"),
                           _form(solrosen, charge_points=[theirs.pk]))
    assert response.status_code == 200
    assert "GRAN-1" in " ".join(response.context["adminform"].form.errors["charge_points"])
    assert not NotificationGroup.objects.exists()


def test_a_board_is_offered_and_may_save_only_its_own_stations(client, brf_a, brf_b):
    own = ChargePointFactory(organization=brf_a.org, identity="A-1")
    theirs = ChargePointFactory(organization=brf_b.org, identity="B-1")
    brf_a.board.user_permissions.add(*Permission.objects.filter(codename__in=[
        "add_notificationgroup", "change_notificationgroup", "view_notificationgroup"]))
    NotificationGroupFactory(organization=brf_b.org, name="BRF B jour")
    client.force_login(brf_a.board)
    url = reverse("admin:charging_notificationgroup_add")

    form = client.get(url).context["adminform"].form
    assert list(form.fields["charge_points"].queryset) == [own]
    assert list(form.fields["organization"].queryset) == [brf_a.org]
    refused = client.post(url, _form(brf_a.org, charge_points=[theirs.pk]))
    assert "charge_points" in refused.context["adminform"].form.errors
    assert client.post(url, _form(brf_a.org, charge_points=[own.pk])).status_code == 302
    listed = client.get(reverse("admin:charging_notificationgroup_changelist")).context["cl"].result_list
    assert [g.organization for g in listed] == [brf_a.org]


def test_the_notification_log_is_read_only_and_scoped(client, operator_staff, brf_a, brf_b, station):
    alarm = AlarmFactory(charge_point=ChargePointFactory(organization=brf_b.org))
    NotificationGroupFactory(organization=brf_b.org)
    alarm_notify(alarm_id=alarm.pk, now=T0)
    notification = AlarmNotification.objects.get()
    client.force_login(operator_staff)
    assert client.get(reverse("admin:charging_alarmnotification_changelist")).status_code == 200
    assert client.post(reverse("admin:charging_alarmnotification_change", args=[notification.pk]),
                       {}).status_code == 403

    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_alarmnotification"))
    client.force_login(brf_a.board)
    assert list(client.get(reverse("admin:charging_alarmnotification_changelist")).context["cl"].result_list) == []
