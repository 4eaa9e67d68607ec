"""The charging admin: support staff see every list; a board sees only its own charge points."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditLogEntry
from charging.models import (
    AuthorizationAttempt,
    ChargePoint,
    ChargingProfile,
    ChargingSession,
    Connector,
    Evse,
    Location,
    MeterSample,
    OcppFrame,
    OrphanTransactionStop,
    RemoteCommand,
    Reservation,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)


@pytest.fixture
def rows(brf_a):
    """One row of every charging model, all at BRF A's garage."""
    location = Location.objects.create(organization=brf_a.org, name="Garaget")
    cp = ChargePoint.objects.create(identity="BRFA-01", organization=brf_a.org, location=location,
                                    display_name="Laddplats 01")
    evse = Evse.objects.create(charge_point=cp, evse_id=1)
    session = ChargingSession.objects.create(charge_point=cp, evse=evse, organization=brf_a.org,
                                             transaction_id="17", started_at=NOW, meter_start_wh=1000)
    made = [
        location, cp, evse, session,
        Connector.objects.create(evse=evse),
        MeterSample.objects.create(charge_point=cp, evse=evse, session=session, timestamp=NOW,
                                   value=Decimal("1500"), unit="Wh"),
        Reservation.objects.create(charge_point=cp, evse=evse, id_token_uid="04A1B2C3", expires_at=NOW),
        RemoteCommand.objects.create(charge_point=cp, action="Reset", payload={"type": "Soft"}),
        OcppFrame.objects.create(charge_point=cp, identity=cp.identity, direction=OcppFrame.Direction.IN,
                                 message_type=2, message_id="m1", action="Heartbeat", raw='[2,"m1","Heartbeat",{}]'),
        AuthorizationAttempt.objects.create(charge_point=cp, evse=evse, id_token_uid="04A1B2C3",
                                            purpose="authorize", status="Accepted"),
        OrphanTransactionStop.objects.create(charge_point=cp, transaction_id="99", stopped_at=NOW),
        ChargingProfile.objects.create(charge_point=cp, evse=evse, charging_profile_id=1_000_001,
                                       purpose=ChargingProfile.Purpose.TX_DEFAULT,
                                       periods=[{"startPeriod": 0, "limit": 16}]),
    ]
    return {type(obj): obj for obj in made}


MODELS = [Location, ChargePoint, Evse, Connector, ChargingSession, MeterSample, Reservation, RemoteCommand,
          OcppFrame, AuthorizationAttempt, OrphanTransactionStop, ChargingProfile]


def _url(model, view, *args):
    return reverse(f"admin:charging_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_support_staff_can_open_every_charging_list_and_row(client, operator_staff, rows, model):
    client.force_login(operator_staff)
    assert client.get(_url(model, "changelist")).status_code == 200
    assert client.get(_url(model, "change", rows[model].pk)).status_code == 200


@pytest.mark.parametrize("model", [ChargingSession, MeterSample, RemoteCommand, OcppFrame, AuthorizationAttempt,
                                   ChargingProfile], ids=lambda m: m.__name__)
def test_what_chargers_report_cannot_be_added_or_edited_in_the_admin(client, operator_staff, rows, model):
    client.force_login(operator_staff)
    assert client.get(_url(model, "add")).status_code == 403
    obj = rows[model]
    assert client.post(_url(model, "change", obj.pk), {}).status_code == 403
    assert client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_the_session_page_lists_its_meter_samples(client, operator_staff, rows):
    client.force_login(operator_staff)
    response = client.get(_url(ChargingSession, "change", rows[ChargingSession].pk))
    assert "Energy.Active.Import.Register" in response.content.decode()


def test_adding_an_evse_through_the_charge_point_page_is_audited(client, operator_staff, rows):
    client.force_login(operator_staff)
    cp = rows[ChargePoint]
    data = {
        "identity": cp.identity, "organization": cp.organization_id, "location": cp.location_id,
        "display_name": cp.display_name, "registration_status": "Accepted", "heartbeat_interval": "300",
        "access_mode": "private",
        "change_reason": "Second socket installed, work order 88",
        "evses-TOTAL_FORMS": "2", "evses-INITIAL_FORMS": "1",
        "evses-0-id": rows[Evse].pk, "evses-0-charge_point": cp.pk, "evses-0-evse_id": "1",
        "evses-0-current_type": "AC", "evses-0-max_power_w": "11000",
        "evses-1-charge_point": cp.pk, "evses-1-evse_id": "2", "evses-1-current_type": "AC",
        "evses-1-max_power_w": "22000",
    }
    response = client.post(_url(ChargePoint, "change", cp.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    evse = cp.evses.get(evse_id=2)
    assert evse.max_power_w == 22000
    entry = AuditLogEntry.objects.get(target_id=str(evse.pk), target_type__model="evse")
    assert (entry.actor, entry.reason) == (operator_staff, "Second socket installed, work order 88")
    # The charge point's History page shows the inline EVSE change with its reason.
    history = client.get(_url(ChargePoint, "history", cp.pk)).content.decode()
    assert "evse.created" in history
    assert "Second socket installed, work order 88" in history


def test_a_board_with_view_permission_sees_only_its_own_charge_points(client, brf_a, brf_b):
    ChargePoint.objects.create(identity="BRFA-01", organization=brf_a.org)
    ChargePoint.objects.create(identity="BRFB-01", organization=brf_b.org)
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(brf_a.board)
    response = client.get(_url(ChargePoint, "changelist"))
    assert response.status_code == 200
    assert [cp.identity for cp in response.context["cl"].result_list] == ["BRFA-01"]


def test_support_sets_a_new_authorization_key_shown_once(client, operator_staff):
    import re

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    from accounts.models import AuditLogEntry
    from charging.models import ChargePoint
    from charging.services.stations import charge_point_register, check_auth_key
    from tests.accounts.factories import OrganizationFactory

    charge_point = charge_point_register(identity="AUTO-1", organization=OrganizationFactory(), acting_user=None,
                                         reason="auto-registered")
    client.force_login(operator_staff)
    response = client.post(reverse("admin:charging_chargepoint_changelist"), {
        "action": "new_auth_key", ACTION_CHECKBOX_NAME: [charge_point.pk], "apply": "1",
        "reason": "Commissioning ticket 88"}, follow=True)
    shown = " ".join(str(m) for m in response.context["messages"])
    key = re.search(r"AuthorizationKey (\S+)", shown).group(1)
    assert check_auth_key(ChargePoint.objects.get(pk=charge_point.pk), key)
    assert AuditLogEntry.objects.get(action="chargepoint.auth_key_changed").reason == "Commissioning ticket 88"


def test_board_members_see_their_stations_through_their_group(client, brf_a, brf_b):
    from django.urls import reverse

    from charging.services.stations import charge_point_register

    own = charge_point_register(identity="A-1", organization=brf_a.org, acting_user=None, reason="x")
    charge_point_register(identity="B-1", organization=brf_b.org, acting_user=None, reason="x")
    client.force_login(brf_a.board)
    response = client.get(reverse("admin:charging_chargepoint_changelist"))
    assert response.status_code == 200
    assert [cp.pk for cp in response.context["cl"].queryset] == [own.pk]
    assert client.get(reverse("admin:charging_ocppframe_changelist")).status_code == 403
