"""The operator's management commands: thin wrappers over the services."""

import pytest
from django.core.management import CommandError, call_command

from accounts.models import IdToken
from charging.models import ChargePoint, RemoteCommand
from charging.services.stations import check_auth_key
from tests.accounts.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_register_charge_point_prints_a_generated_key_once(capsys):
    org = OrganizationFactory(slug="brf-solrosen")
    call_command("register_charge_point", "ZPR164844", "--organization", "brf-solrosen", "--evses", "2",
                 "--name", "Laddplats 01")
    out = capsys.readouterr().out
    key = out.split("AuthorizationKey (shown once): ")[1].strip()
    charge_point = ChargePoint.objects.get(identity="ZPR164844")
    assert charge_point.organization == org
    assert charge_point.evses.count() == 2
    assert check_auth_key(charge_point, key)
    assert key not in charge_point.auth_key_hash


def test_register_charge_point_refuses_an_unknown_organization_and_a_duplicate():
    OrganizationFactory(slug="brf-a")
    with pytest.raises(CommandError, match="No organization"):
        call_command("register_charge_point", "CP-1", "--organization", "nope")
    call_command("register_charge_point", "CP-1", "--organization", "brf-a", "--no-auth")
    with pytest.raises(CommandError, match="identity"):
        call_command("register_charge_point", "CP-1", "--organization", "brf-a", "--no-auth")


def test_issue_tag_normalizes_and_can_issue_blocked(capsys):
    membership = MembershipFactory(organization=OrganizationFactory(slug="brf-a"))
    call_command("issue_tag", "04:a2:3b:1c", "--organization", "brf-a", "--user", membership.user.email,
                 "--status", "blocked")
    token = IdToken.objects.get()
    assert (token.uid, token.status, token.user) == ("04A23B1C", "blocked", membership.user)
    with pytest.raises(CommandError, match="hexadecimal"):
        call_command("issue_tag", "xyz!", "--organization", "brf-a")


def test_ocpp_call_to_an_offline_charger_fails_with_a_clear_error(capsys):
    org = OrganizationFactory(slug="brf-a")
    ChargePoint.objects.create(identity="CP-OFF", organization=org)
    with pytest.raises(CommandError, match="not connected"):
        call_command("ocpp_call", "CP-OFF", "Reset", "--payload", '{"type": "Soft"}', "--reason", "test")
    assert RemoteCommand.objects.get().status == RemoteCommand.Status.OFFLINE
    with pytest.raises(CommandError, match="not JSON"):
        call_command("ocpp_call", "CP-OFF", "Reset", "--payload", "{", "--reason", "test")
    with pytest.raises(CommandError, match="Invalid payload"):
        call_command("ocpp_call", "CP-OFF", "Reset", "--payload", '{"type": "Sideways"}', "--reason", "test")
