"""AuthorizationKey rotation without lockout (issue 13), against a real daphne server with simulated 1.6 and 2.0.1
chargers: the CSMS tells the connected charger its new password over OCPP; only once the charger accepts is the new
key stored (hashed), and the old one keeps opening the connection for the grace period, so neither a prompt nor a
late reconnect locks the charger out. A refusal changes nothing. The key is never stored in clear: not in the
command, not in the frame log, and the generic configuration change refuses it.
"""

import asyncio
import base64
import json
import uuid
from datetime import timedelta

import pytest
import websockets
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLogEntry
from charging.models import ChargePoint, OcppFrame, RemoteCommand
from charging.services import remote
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory, UserFactory
from tests.conformance.clients import Charger16, Charger201, connected, raw_socket
from tests.conformance.test_ocpp16 import db
from tests.conformance.test_remote_actions import booted

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
OLD_KEY = "the-original-authorization-key"
CHARGER = {"1.6": Charger16, "2.0.1": Charger201}


@pytest.fixture
def support(db):
    return UserFactory(email="support@example.com", is_staff=True)


def register(version: str) -> ChargePoint:
    return charge_point_register(identity=f"ROT-{version}-{uuid.uuid4().hex[:6]}",
                                 organization=OrganizationFactory(name="BRF Nyckeln"), evses=1, auth_key=OLD_KEY,
                                 acting_user=None, reason="test", ocpp_version=version)


async def opens(url: str, identity: str, version: str, key: str) -> bool:
    try:
        async with raw_socket(url, identity, version=version, key=key):
            return True
    except websockets.exceptions.InvalidStatus:
        return False


def sent_key(charger, version: str) -> str:
    if version == "1.6":
        ((_action, change),) = [item for item in charger.received if item[0] == "ChangeConfiguration"]
        assert change["key"] == "AuthorizationKey"
        return change["value"]
    ((_action, change),) = [item for item in charger.received if item[0] == "SetVariables"]
    (item,) = change["set_variable_data"]
    assert (item["component"]["name"], item["variable"]["name"]) == ("SecurityCtrlr", "BasicAuthPassword")
    return item["attribute_value"]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_rotated_key_reaches_the_charger_and_nobody_is_locked_out(csms_server, server_settings, support,
                                                                          version):
    station = await db(register, version)
    async with connected(csms_server, station.identity, version=version, key=OLD_KEY,
                         charger_class=CHARGER[version]) as charger:
        station = await booted(charger, station, version)
        rotation = await db(remote.auth_key_rotate, charge_point=station, acting_user=support,
                            reason="Yearly key rotation", now=timezone.now())
    assert rotation.auth_key is not None
    assert sent_key(charger, version) == rotation.auth_key
    # The new key and, for the grace period, the old one both open the connection; a wrong one does not.
    assert await opens(csms_server, station.identity, version, rotation.auth_key)
    assert await opens(csms_server, station.identity, version, OLD_KEY)
    assert not await opens(csms_server, station.identity, version, "guessed-key")

    def after_grace():
        ChargePoint.objects.filter(pk=station.pk).update(auth_key_previous_until=timezone.now() - timedelta(seconds=1))

    await db(after_grace)
    assert not await opens(csms_server, station.identity, version, OLD_KEY)
    assert await opens(csms_server, station.identity, version, rotation.auth_key)

    # Nowhere in clear: the stored command, the frame log, the audit row.
    command = await db(RemoteCommand.objects.get, pk=rotation.command.pk)
    assert rotation.auth_key not in json.dumps(command.payload)
    for _ in range(30):
        frames = await db(lambda: list(OcppFrame.objects.filter(charge_point=station, direction="out")
                                       .values_list("raw", flat=True)))
        if frames:
            break
        await asyncio.sleep(0.1)
    assert frames
    assert not any(rotation.auth_key in raw for raw in frames)
    entry = await db(AuditLogEntry.objects.get, action="chargepoint.auth_key_rotated")
    assert (entry.actor_id, entry.reason) == (support.pk, "Yearly key rotation")


async def test_a_charger_that_refuses_keeps_its_key(csms_server, server_settings, support):
    station = await db(register, "1.6")
    async with connected(csms_server, station.identity, key=OLD_KEY, charger_class=Charger16,
                         answers={"ChangeConfiguration": "Rejected"}) as charger:
        station = await booted(charger, station, "1.6")
        rotation = await db(remote.auth_key_rotate, charge_point=station, acting_user=support, reason="Rotation",
                            now=timezone.now())
    assert rotation.auth_key is None
    assert remote.answer_status(rotation.command) == "Rejected"
    assert (await db(ChargePoint.objects.get, pk=station.pk)).auth_key_hash == station.auth_key_hash
    assert await opens(csms_server, station.identity, "1.6", OLD_KEY)
    assert not await db(AuditLogEntry.objects.filter(action="chargepoint.auth_key_rotated").exists)


def test_the_password_cannot_be_set_through_the_generic_configuration_change(support):
    station = register("1.6")
    with pytest.raises(ValidationError, match="Rotate the AuthorizationKey"):
        remote.configuration_change(charge_point=station, setting=remote.Setting(name="AuthorizationKey"),
                                    value="in-clear", acting_user=support, reason="x", now=timezone.now())
    assert not RemoteCommand.objects.exists()


async def test_a_charger_cannot_pass_as_another(csms_server):
    """Each charger's key opens only its own identity: B's valid credentials on A's address, or A's key with B's
    user name, are refused before the websocket opens."""
    a, b = await db(register, "1.6"), await db(register, "1.6")

    def set_key(station, key):
        from charging.services.stations import charge_point_set_auth_key

        charge_point_set_auth_key(charge_point=station, auth_key=key, acting_user=None, reason="test")

    await db(set_key, b, "key-of-charger-b-0123456789")
    assert await opens(csms_server, b.identity, "1.6", "key-of-charger-b-0123456789")
    assert not await opens(csms_server, a.identity, "1.6", "key-of-charger-b-0123456789")
    headers = {"Authorization": "Basic " + base64.b64encode(f"{b.identity}:{OLD_KEY}".encode()).decode()}
    with pytest.raises(websockets.exceptions.InvalidStatus):
        await websockets.connect(f"{csms_server}/ocpp/{a.identity}", subprotocols=["ocpp1.6"],
                                 additional_headers=headers, open_timeout=10)
