"""Access control through the services: modes and the weekly schedule (across DST), user-group restrictions,
blocked users, semi-public stations with charging keys, EVSE overrides, the roaming hook, publication, public
codes and QR codes, the switch task, and the access pages of the admin."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from accounts.models import AuditLogEntry, IdToken
from accounts.services.groups import user_group_add_members
from accounts.services.organizations import user_grant_admin_access
from accounts.services.users import user_set_active
from charging.access import PUBLIC_CODE_ALPHABET, AccessMode, ScheduleRule
from charging.admin.access import AccessSettingsForm
from charging.models import AuthorizationAttempt, ChargePoint, ChargingKey, Evse, Location
from charging.selectors import access as selectors
from charging.services import access as access_services
from charging.services import stations
from charging.services.authorization import (
    AuthStatus,
    RoamingDecision,
    authorize,
    register_roaming_authorizer,
    unregister_roaming_authorizer,
)
from tests.accounts.factories import IdTokenFactory, MembershipFactory, UserGroupFactory

pytestmark = pytest.mark.django_db

PRIVATE, PUBLIC, SEMI_PUBLIC = AccessMode.PRIVATE, AccessMode.PUBLIC, AccessMode.SEMI_PUBLIC
WORKDAYS = frozenset(range(5))
T0 = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def register(org, identity="CP-A1", evses=2, location=None):
    return stations.charge_point_register(identity=identity, organization=org, evses=evses, location=location,
                                          acting_user=None, reason="test")


def configure(charge_point, mode, rules=(), groups=(), now=T0, user=None):
    return access_services.charge_point_access_set(charge_point=charge_point, mode=mode, rules=rules,
                                                   allowed_groups=groups, acting_user=user, reason="Board decision",
                                                   now=now)


def status(charge_point, uid, at=T0, evse=None, purpose="authorize"):
    return authorize(charge_point=charge_point, uid=uid, at=at, purpose=purpose, evse=evse)


@pytest.fixture
def station(brf_a):
    return register(brf_a.org)


# --- Modes and the schedule ----------------------------------------------------------------------------------------

OFFICE_HOURS = (ScheduleRule(WORKDAYS, time(6), time(18), PRIVATE),)


@pytest.mark.parametrize(("at", "expected"), [
    pytest.param(utc(2026, 3, 27, 4, 59), AuthStatus.ACCEPTED, id="fri-05:59-CET-public"),
    pytest.param(utc(2026, 3, 27, 5, 0), AuthStatus.NOT_ALLOWED_HERE, id="fri-06:00-CET-private"),
    pytest.param(utc(2026, 3, 30, 3, 59), AuthStatus.ACCEPTED, id="mon-05:59-CEST-public"),
    pytest.param(utc(2026, 3, 30, 4, 0), AuthStatus.NOT_ALLOWED_HERE, id="mon-06:00-CEST-private"),
    pytest.param(utc(2026, 3, 30, 16, 0), AuthStatus.ACCEPTED, id="mon-18:00-CEST-public-again"),
    pytest.param(utc(2026, 10, 23, 4, 0), AuthStatus.NOT_ALLOWED_HERE, id="fri-06:00-CEST-private"),
    pytest.param(utc(2026, 10, 26, 4, 30), AuthStatus.ACCEPTED, id="mon-05:30-CET-public"),
    pytest.param(utc(2026, 10, 26, 5, 0), AuthStatus.NOT_ALLOWED_HERE, id="mon-06:00-CET-private"),
])
def test_the_schedule_decides_at_the_local_wall_clock_across_dst(station, brf_b, at, expected):
    configure(station, PUBLIC, OFFICE_HOURS, now=utc(2026, 3, 1))
    foreign = brf_b.tokens[0].uid
    assert status(station, foreign, at=at).status == expected
    assert status(station, station.organization.id_tokens.first().uid, at=at).status == AuthStatus.ACCEPTED


def test_the_schedule_is_read_in_the_sites_time_zone(brf_a, brf_b):
    helsinki = Location.objects.create(organization=brf_a.org, name="Filial", time_zone="Europe/Helsinki")
    station = configure(register(brf_a.org, location=helsinki), PUBLIC, OFFICE_HOURS)
    # A Wednesday in November: Helsinki is UTC+2, Stockholm UTC+1.
    assert selectors.charge_point_mode(station, utc(2026, 11, 18, 4, 30)) == PRIVATE  # 06:30 Helsinki
    assert selectors.charge_point_mode(station, utc(2026, 11, 18, 3, 59)) == PUBLIC  # 05:59 Helsinki
    assert status(station, brf_b.tokens[0].uid, at=utc(2026, 11, 18, 4, 30)).status == AuthStatus.NOT_ALLOWED_HERE


def test_the_switch_task_records_each_change_once_at_the_right_minute(station):
    configure(station, PUBLIC, OFFICE_HOURS, now=utc(2026, 3, 29, 12, 0))  # Sunday: public
    assert ChargePoint.objects.get(pk=station.pk).current_access_mode == PUBLIC
    # Monday after the spring change: 06:00 CEST is 04:00 UTC.
    assert access_services.access_modes_sync(now=utc(2026, 3, 30, 3, 59)) == 0
    assert access_services.access_modes_sync(now=utc(2026, 3, 30, 4, 0)) == 1
    assert access_services.access_modes_sync(now=utc(2026, 3, 30, 4, 1)) == 0
    stored = ChargePoint.objects.get(pk=station.pk)
    assert (stored.current_access_mode, stored.access_mode_since) == (PRIVATE, utc(2026, 3, 30, 4, 0))
    assert access_services.access_modes_sync(now=utc(2026, 3, 30, 16, 0)) == 1  # 18:00 CEST
    switches = AuditLogEntry.objects.filter(action="chargepoint.access_mode_switched", target_id=str(station.pk))
    assert [entry.changes["current_access_mode"] for entry in switches.order_by("at")] == [
        ["private", "public"], ["public", "private"], ["private", "public"]]
    assert switches.order_by("at").last().actor is None


def test_the_switch_task_also_follows_a_mode_edited_elsewhere(station):
    ChargePoint.objects.filter(pk=station.pk).update(access_mode=PUBLIC)  # e.g. the charge point form or CSV import
    assert access_services.access_modes_sync(now=T0) == 1
    assert ChargePoint.objects.get(pk=station.pk).current_access_mode == PUBLIC


def test_an_invalid_schedule_is_refused_with_the_engines_message(station):
    overlapping = (ScheduleRule(WORKDAYS, time(6), time(18), PRIVATE),
                   ScheduleRule({2}, time(17), time(20), SEMI_PUBLIC))
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        configure(station, PUBLIC, overlapping)
    assert "overlaps rule 2 (Wednesday 17:00–20:00 semi_public)" in str(caught.value.message_dict["access_schedule"])
    assert ChargePoint.objects.get(pk=station.pk).access_schedule == []


def test_setting_access_is_audited_with_old_and_new_values(station, brf_a):
    configure(station, PUBLIC, OFFICE_HOURS, groups=[brf_a.group], user=brf_a.board)
    entry = AuditLogEntry.objects.get(action="chargepoint.access_changed")
    assert entry.actor == brf_a.board
    assert entry.reason == "Board decision"
    assert entry.changes["access_mode"] == ["private", "public"]
    assert entry.changes["access_schedule"] == [
        [], ["Monday, Tuesday, Wednesday, Thursday, Friday 06:00–18:00 private"]]
    assert entry.changes["allowed_groups"] == [[], [brf_a.group.pk]]
    configure(station, PUBLIC, OFFICE_HOURS, groups=[brf_a.group])  # nothing changed: nothing recorded
    assert AuditLogEntry.objects.filter(action="chargepoint.access_changed").count() == 1


# --- Private stations: organizations and groups --------------------------------------------------------------------

def test_a_private_station_refuses_another_organizations_token(station, brf_b):
    result = status(station, brf_b.tokens[0].uid)
    assert result.status == AuthStatus.NOT_ALLOWED_HERE
    assert AuthorizationAttempt.objects.get().reason == "Private station: token of another organization"


def test_a_group_restriction_lets_only_members_charge(station, brf_a):
    member, outsider = brf_a.residents
    user_group_add_members(group=brf_a.group, users=[member], acting_user=None, reason="test")
    configure(station, PRIVATE, groups=[brf_a.group])
    assert status(station, brf_a.tokens[0].uid).status == AuthStatus.ACCEPTED
    refused = status(station, brf_a.tokens[1].uid)
    assert refused.status == AuthStatus.NOT_ALLOWED_HERE
    assert refused.reason == (
        f"Private station: the token's owner is not in the allowed user groups ({brf_a.group.name})")
    assert AuthorizationAttempt.objects.get(id_token_uid=brf_a.tokens[1].uid).reason == refused.reason
    shared = IdTokenFactory(organization=brf_a.org)  # a tag without an owner
    assert "has no owner" in status(station, shared.uid).reason


def test_groups_apply_only_while_private(station, brf_a):
    configure(station, PUBLIC, rules=(ScheduleRule(WORKDAYS, time(6), time(18), PRIVATE),), groups=[brf_a.group])
    outsider = brf_a.tokens[1].uid
    assert status(station, outsider, at=utc(2026, 11, 18, 8, 0)).status == AuthStatus.NOT_ALLOWED_HERE  # 09:00
    assert status(station, outsider, at=utc(2026, 11, 18, 20, 0)).status == AuthStatus.ACCEPTED  # 21:00


def test_only_the_stations_own_groups_can_be_allowed(station, brf_b):
    with pytest.raises(ValidationError) as caught:
        configure(station, PRIVATE, groups=[brf_b.group])
    assert "allowed_groups" in caught.value.message_dict


def test_a_deactivated_users_tokens_are_blocked(station, brf_a):
    user_set_active(user=brf_a.residents[0], active=False, acting_user=brf_a.board, reason="Moved out")
    result = status(station, brf_a.tokens[0].uid)
    assert (result.status, result.reason) == (AuthStatus.BLOCKED, "The owner's account is deactivated")


# --- Semi-public stations and charging keys ----------------------------------------------------------------------

def issue_key(org, *, valid_from=T0 - timedelta(hours=1), valid_until=T0 + timedelta(days=2), charge_points=(),
              code=""):
    return access_services.charging_key_issue(organization=org, guest_name="Guest", valid_from=valid_from,
                                              valid_until=valid_until, charge_points=charge_points, code=code,
                                              acting_user=None, reason="Visiting family", now=T0 - timedelta(hours=2))


def test_a_semi_public_station_accepts_a_charging_key_and_its_owners_tags(station, brf_a, brf_b):
    configure(station, SEMI_PUBLIC)
    key = issue_key(brf_a.org)
    assert key.id_token.type == IdToken.Type.KEY_CODE
    assert all(ch in PUBLIC_CODE_ALPHABET for ch in key.id_token.uid)
    assert len(key.id_token.uid) == 8
    assert status(station, key.id_token.uid).status == AuthStatus.ACCEPTED
    assert status(station, key.id_token.uid.lower()).status == AuthStatus.ACCEPTED  # typed in lower case
    assert status(station, brf_a.tokens[0].uid).status == AuthStatus.ACCEPTED
    refused = status(station, brf_b.tokens[0].uid)
    assert (refused.status, refused.reason) == (
        AuthStatus.NOT_ALLOWED_HERE, "Semi-public station: start with its QR code or a charging key")
    # The QR code's start page starts remotely: anyone with a valid token.
    assert status(station, brf_b.tokens[0].uid, purpose="remote start").status == AuthStatus.ACCEPTED


def test_a_charging_key_has_a_validity_window(station, brf_a):
    configure(station, SEMI_PUBLIC)
    key = issue_key(brf_a.org, valid_from=T0 + timedelta(hours=1), valid_until=T0 + timedelta(hours=5))
    early = status(station, key.id_token.uid, at=T0)
    assert early.status == AuthStatus.NOT_AT_THIS_TIME
    assert early.reason.startswith("Charging key valid from")
    assert status(station, key.id_token.uid, at=T0 + timedelta(hours=2)).status == AuthStatus.ACCEPTED
    assert status(station, key.id_token.uid, at=T0 + timedelta(hours=5)).status == AuthStatus.EXPIRED


def test_a_charging_key_limited_to_some_stations_and_not_at_private_ones(station, brf_a, brf_b):
    other = register(brf_a.org, identity="CP-A2")
    configure(station, SEMI_PUBLIC)
    configure(other, SEMI_PUBLIC)
    key = issue_key(brf_a.org, charge_points=[station])
    assert status(station, key.id_token.uid).status == AuthStatus.ACCEPTED
    assert status(other, key.id_token.uid).reason == "Charging key not valid at this charge point"
    configure(station, PRIVATE)
    assert status(station, key.id_token.uid).status == AuthStatus.NOT_ALLOWED_HERE
    configure(station, PUBLIC)
    assert status(station, key.id_token.uid).status == AuthStatus.ACCEPTED
    foreign_station = register(brf_b.org, identity="CP-B1")
    configure(foreign_station, PUBLIC)
    assert status(foreign_station, key.id_token.uid).reason == "Charging key of another organization"


def test_a_charging_key_is_checked_before_it_is_issued(brf_a, brf_b):
    other_org_station = register(brf_b.org, identity="CP-B1")
    with pytest.raises(ValidationError) as caught:
        issue_key(brf_a.org, valid_from=T0, valid_until=T0 - timedelta(hours=1), charge_points=[other_org_station])
    assert set(caught.value.message_dict) == {"valid_until", "charge_points"}
    issue_key(brf_a.org, code="GUEST-2026")
    with pytest.raises(ValidationError) as caught:
        issue_key(brf_a.org, code="guest2026")
    assert "code" in caught.value.message_dict
    assert ChargingKey.objects.count() == 1


def test_revoking_a_key_blocks_it(station, brf_a):
    configure(station, SEMI_PUBLIC)
    key = issue_key(brf_a.org)
    access_services.charging_key_revoke(key=key, acting_user=brf_a.board, reason="Guest left", now=T0)
    assert status(station, key.id_token.uid).status == AuthStatus.BLOCKED


# --- EVSE overrides, roaming and publication ----------------------------------------------------------------------

def test_an_evse_can_have_its_own_mode(station, brf_b):
    public_evse = station.evses.get(evse_id=2)
    access_services.evse_access_mode_set(evse=public_evse, mode=PUBLIC, acting_user=None, reason="Visitor bay")
    foreign = brf_b.tokens[0].uid
    assert status(station, foreign, evse=station.evses.get(evse_id=1), purpose="start").status == (
        AuthStatus.NOT_ALLOWED_HERE)
    assert status(station, foreign, evse=public_evse, purpose="start").status == AuthStatus.ACCEPTED
    # Authorize names no EVSE: accepted, because one EVSE would take the token.
    assert status(station, foreign).status == AuthStatus.ACCEPTED
    assert AuditLogEntry.objects.get(action="evse.access_mode_changed").changes == {"access_mode": ["", "public"]}


def test_unknown_tokens_go_to_a_registered_roaming_authorizer_only_where_public(station):
    asked = []

    def partner(request):
        asked.append((request.uid, request.purpose))
        return RoamingDecision(status=AuthStatus.ACCEPTED, reason="partner SE-XYZ") if request.uid == "ROAM1" else None

    assert status(station, "ROAM1").status == AuthStatus.INVALID  # nobody to ask
    register_roaming_authorizer(partner)
    try:
        private = status(station, "ROAM1")
        assert (private.status, private.reason, asked) == (AuthStatus.INVALID, "Unknown token", [])
        configure(station, PUBLIC)
        accepted = status(station, "ROAM1")
        assert (accepted.status, accepted.reason) == (AuthStatus.ACCEPTED, "Roaming: partner SE-XYZ")
        assert status(station, "ROAM2").reason == "Unknown token"
        assert asked == [("ROAM1", "authorize"), ("ROAM2", "authorize")]  # once per request, not per EVSE
    finally:
        unregister_roaming_authorizer(partner)
    assert status(station, "ROAM1").status == AuthStatus.INVALID


def test_only_public_stations_are_published(station):
    assert not selectors.is_published(station, T0)
    configure(station, SEMI_PUBLIC)
    assert not selectors.is_published(station, T0)
    station = configure(station, PUBLIC, rules=(ScheduleRule(WORKDAYS, time(6), time(18), SEMI_PUBLIC),))
    assert not selectors.is_published(station, utc(2026, 11, 18, 9, 0))  # Wednesday 10:00: semi-public
    assert selectors.is_published(station, utc(2026, 11, 21, 9, 0))  # Saturday
    station = configure(station, PRIVATE)
    access_services.evse_access_mode_set(evse=station.evses.get(evse_id=2), mode=PUBLIC, acting_user=None,
                                         reason="Visitor bay")
    assert [e.evse_id for e in selectors.published_evses(station, T0)] == [2]
    assert selectors.is_published(station, T0)
    ChargePoint.objects.filter(pk=station.pk).update(decommissioned_at=T0)
    assert not selectors.is_published(ChargePoint.objects.get(pk=station.pk), T0)


# --- Public codes and QR codes -----------------------------------------------------------------------------------

def test_every_evse_gets_a_stable_unique_public_code(station, settings):
    codes = list(Evse.objects.values_list("public_code", flat=True))
    assert len(codes) == len(set(codes)) == 2
    assert all(len(code) == 8 and set(code) <= set(PUBLIC_CODE_ALPHABET) for code in codes)
    evse = station.evses.get(evse_id=1)
    stations.ensure_evse(charge_point=station, evse_id=1)
    assert Evse.objects.get(pk=evse.pk).public_code == evse.public_code
    code = evse.public_code
    assert selectors.evse_by_public_code(f"{code[:4].lower()}-{code[4:]}") == evse
    assert selectors.evse_by_public_code("O0O0O0O0") is None
    assert selectors.start_url(evse) == f"https://csms.test/c/{code}"
    svg = selectors.qr_svg(evse)
    assert svg.startswith("<?xml")
    assert "<svg" in svg
    assert f"<title>{code}</title>" in svg


# --- The admin ---------------------------------------------------------------------------------------------------

def _page(charge_point):
    return reverse("admin:charging_chargepointaccess_change", args=[charge_point.pk])


def _form(charge_point, *, mode="public", rows=(), groups=(), evse_modes=None, reason="Board meeting 12"):
    evses = list(charge_point.evses.order_by("evse_id"))
    data = {"access_mode": mode, "schedule-rows": str(len(rows) + 1), "change_reason": reason,
            "evses-TOTAL_FORMS": str(len(evses)), "evses-INITIAL_FORMS": str(len(evses)),
            "evses-MIN_NUM_FORMS": "0", "evses-MAX_NUM_FORMS": "1000"}
    for number, (days, start, end, rule_mode, overnight) in enumerate(rows):
        data.update({f"schedule-{number}-weekdays": [str(d) for d in days], f"schedule-{number}-start": start,
                     f"schedule-{number}-end": end, f"schedule-{number}-mode": rule_mode})
        if overnight:
            data[f"schedule-{number}-overnight"] = "1"
    for number, evse in enumerate(evses):
        data[f"evses-{number}-id"] = str(evse.pk)
        data[f"evses-{number}-charge_point"] = str(charge_point.pk)
        data[f"evses-{number}-access_mode"] = (evse_modes or {}).get(evse.evse_id, "")
    if groups:
        data["groups"] = [str(g.pk) for g in groups]
    return data


def test_a_board_edits_its_stations_schedule_groups_and_evse_modes(client, station, brf_a, brf_b):
    client.force_login(brf_a.board)
    page = client.get(_page(station))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="schedule-0-start"' in html
    assert "<svg" in html
    assert station.evses.first().public_code in html
    assert brf_a.group.name in html
    assert brf_b.group.name not in html
    response = client.post(_page(station), _form(
        station, rows=[((0, 1, 2, 3, 4), "06:00", "18:00", "private", False),
                       ((5,), "22:00", "06:00", "semi_public", True)],
        groups=[brf_a.group], evse_modes={2: "public"}))
    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = ChargePoint.objects.get(pk=station.pk)
    assert stored.access_mode == "public"
    assert stored.access_schedule == [
        {"weekdays": [0, 1, 2, 3, 4], "start": "06:00", "end": "18:00", "mode": "private", "overnight": False},
        {"weekdays": [5], "start": "22:00", "end": "06:00", "mode": "semi_public", "overnight": True}]
    assert list(stored.allowed_groups.all()) == [brf_a.group]
    assert station.evses.get(evse_id=2).access_mode == "public"
    assert AuditLogEntry.objects.get(action="chargepoint.access_changed").reason == "Board meeting 12"
    assert AuditLogEntry.objects.get(action="evse.access_mode_changed").actor == brf_a.board


@pytest.mark.parametrize(("rows", "message"), [
    ([((0,), "18:00", "06:00", "private", False)], "Mark it as overnight"),
    ([((), "06:00", "18:00", "private", False)], "tick at least one weekday"),
    ([((0,), "6 o'clock", "18:00", "private", False)], "HH:MM"),
    ([((0,), "06:00", "18:00", "", False)], "choose a mode"),
    ([((0, 1), "06:00", "18:00", "private", False), ((1,), "17:00", "19:00", "public", False)], "overlaps rule 2"),
], ids=["end-before-start", "no-weekday", "bad-time", "no-mode", "overlap"])
def test_schedule_mistakes_are_form_errors_and_nothing_is_saved(client, station, brf_a, rows, message):
    client.force_login(brf_a.board)
    with translation.override("en"):
        response = client.post(_page(station), _form(station, rows=rows), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["schedule"])
    assert message in errors
    assert ChargePoint.objects.get(pk=station.pk).access_schedule == []
    assert not AuditLogEntry.objects.filter(action="chargepoint.access_changed").exists()


def test_another_boards_station_and_qr_code_are_not_found(client, station, brf_b):
    client.force_login(brf_b.board)
    evse = station.evses.first()
    assert client.get(_page(station)).status_code in (302, 404)
    qr = reverse("admin:charging_chargepointaccess_qr", args=[station.pk, evse.pk])
    assert client.get(qr).status_code == 404
    listing = client.get(reverse("admin:charging_chargepointaccess_changelist"))
    assert station.identity not in listing.content.decode()


def test_the_qr_code_downloads_as_svg(client, station, brf_a):
    client.force_login(brf_a.board)
    evse = station.evses.first()
    response = client.get(reverse("admin:charging_chargepointaccess_qr", args=[station.pk, evse.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Disposition"] == f'attachment; filename="qr-{evse.public_code}.svg"'
    assert b"<svg" in response.content


def test_a_board_issues_a_charging_key_in_the_admin(client, station, brf_a, brf_b):
    foreign = register(brf_b.org, identity="CP-B1")
    client.force_login(brf_a.board)
    add = reverse("admin:charging_chargingkey_add")
    page = client.get(add)
    assert page.status_code == 200
    assert foreign.identity not in page.content.decode()
    data = {"organization": str(brf_a.org.pk), "guest_name": "Moster Agda", "guest_contact": "+46701234567",
            "code": "", "valid_from_0": "2030-01-01", "valid_from_1": "10:00", "valid_until_0": "2030-01-03",
            "valid_until_1": "10:00", "charge_points": [str(station.pk)], "note": "", "change_reason": "Visit"}
    response = client.post(add, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    key = ChargingKey.objects.get()
    assert key.guest_name == "Moster Agda"
    assert list(key.charge_points.all()) == [station]
    assert key.id_token.valid_until == datetime(2030, 1, 3, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    bad = client.post(add, {**data, "valid_until_0": "2029-12-31"})
    assert bad.status_code == 200
    assert "valid_until" in bad.context["adminform"].form.errors
    assert ChargingKey.objects.count() == 1
    assert client.get(reverse("admin:charging_chargingkey_changelist")).status_code == 200


def test_board_members_may_use_the_access_pages_and_viewers_only_look(client, station, brf_a):
    viewer = MembershipFactory(organization=brf_a.org, role="org_viewer").user
    viewer.email = "viewer@example.com"
    viewer.save()
    user_grant_admin_access(user=viewer, organization=brf_a.org, acting_user=None, reason="test")
    client.force_login(viewer)
    assert client.get(_page(station)).status_code == 200
    response = client.post(_page(station), _form(station))
    assert response.status_code == 403
    assert ChargePoint.objects.get(pk=station.pk).access_mode == "private"
    for name in ("booking", "bookingpolicy", "chargingkey"):
        assert client.get(reverse(f"admin:charging_{name}_changelist")).status_code == 200


def test_groups_offered_are_the_stations_own(station, brf_a, brf_b):
    other = UserGroupFactory(organization=brf_a.org, name="Garage B")
    form = AccessSettingsForm(instance=station)
    assert set(form.fields["groups"].queryset) == {brf_a.group, other}
