"""Bulk tools on the station list: CSV import (dry run, row errors, all or nothing), export of the filtered list,
cloning a station's set-up and moving stations to another organization."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditLogEntry
from charging.models import ChargePoint, ChargingSession, Connector, Evse, Location
from charging.services import provisioning
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

HEADER = "identity,serial_number,display_name,organization,location,evse_ids,connectors,system_name,locked_box," \
         "access_mode"
CHANGELIST = "admin:charging_chargepoint_changelist"


@pytest.fixture
def solrosen(db):
    organization = OrganizationFactory(name="BRF Solrosen", org_number="769600-1234")
    Location.objects.create(organization=organization, name="Garaget")
    return organization


def _csv(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def _upload(client, text: str, name: str = "stations.csv"):
    return client.post(reverse("admin:charging_chargepoint_import"), {
        "import_file": SimpleUploadedFile(name, text.encode(), content_type="text/csv"),
        "format": "0", "resource": "0"})


def _row_errors(response) -> dict[int, dict[str, list[str]]]:
    result = response.context["result"]
    return {row.number: row.error_dict for row in result.invalid_rows}


GOOD = ("SOL-01,SN001,Laddplats 01,769600-1234,Garaget,SE*LNN*E0001;SE*LNN*E0002,Type2;Type2,Box A,yes,public",
        "SOL-02,SN002,Laddplats 02,BRF Solrosen,,,CCS2+CHAdeMO,,no,private")


# --- import ------------------------------------------------------------------------------------------------------

def test_a_dry_run_lists_every_row_error_and_writes_nothing(client, operator_staff, solrosen, brf_a):
    charge_point_register(identity="TAKEN-1", organization=solrosen, acting_user=None, reason="existing")
    Evse.objects.filter(charge_point__identity="TAKEN-1").update(public_id="SE*LNN*E0099")
    before = (ChargePoint.objects.count(), Evse.objects.count(), AuditLogEntry.objects.count())
    client.force_login(operator_staff)
    response = _upload(client, _csv(
        GOOD[0],
        "bad identity!,,,769600-1234,,,Type2,,,",                     # 2: identity
        "SOL-01,,,769600-1234,,,Type2,,,",                             # 3: twice in the file
        "TAKEN-1,,,769600-1234,,,Type2,,,",                            # 4: exists already
        "SOL-05,,,BRF Nowhere,,,Type2,,,",                             # 5: unknown organization
        "SOL-06,,,769600-1234,Källaren,,Type2,,,",                     # 6: unknown location
        "SOL-07,,,769600-1234,,SE*LNN*E0007,Type2;Type2,,,",           # 7: 1 EVSE-ID, 2 EVSEs
        "SOL-08,,,769600-1234,,,Type9,,,",                             # 8: bad connector type
        "SOL-09,,,769600-1234,,SE*LNN*E0099,Type2,,maybe,shared",      # 9: EVSE-ID taken, bad flags
    ))
    assert response.status_code == 200
    errors = _row_errors(response)
    assert set(errors) == {2, 3, 4, 5, 6, 7, 8, 9}
    assert "not a valid OCPP identity" in errors[2]["identity"][0]
    assert errors[3]["identity"] == ["SOL-01 appears twice in the file (first on row 1)."]
    assert errors[4]["identity"] == ["A charge point with identity TAKEN-1 exists already."]
    assert "No organization “BRF Nowhere”" in errors[5]["organization"][0]
    assert errors[6]["location"] == ["BRF Solrosen has no location called “Källaren”."]
    assert "1 EVSE-IDs but 2 EVSEs" in errors[7]["evse_ids"][0]
    assert "“Type9” is not a connector type" in errors[8]["connectors"][0]
    assert errors[9]["evse_ids"] == ["EVSE-IDs in use already: SE*LNN*E0099."]
    assert set(errors[9]) == {"evse_ids", "locked_box", "access_mode"}
    page = response.content.decode()
    assert "“Type9” is not a connector type" in page
    assert "Confirm import" not in page
    assert response.context.get("confirm_form") is None
    assert (ChargePoint.objects.count(), Evse.objects.count(), AuditLogEntry.objects.count()) == before


def test_an_organization_the_importer_may_not_see_is_a_row_error(brf_a, brf_b):
    with pytest.raises(ValidationError) as caught:
        provisioning.import_row_check(values={"identity": "X-1", "organization": brf_b.org.name,
                                              "connectors": "Type2"},
                                      importer=brf_a.board, seen=provisioning.ImportSeen(), row_number=1)
    assert "No organization “BRF B” that you may manage" in caught.value.message_dict["organization"][0]


def test_a_missing_column_is_reported_and_nothing_is_offered_for_import(client, operator_staff, solrosen):
    client.force_login(operator_staff)
    response = _upload(client, "identity,organization,connectors\nSOL-01,BRF Solrosen,Type2\n")
    result = response.context["result"]
    assert result.has_errors()
    assert "no column serial_number, display_name, location, evse_ids" in str(result.base_errors[0].error)
    assert response.context.get("confirm_form") is None
    assert not ChargePoint.objects.exists()


def test_a_good_file_imports_after_confirmation_with_evses_connectors_and_audit_rows(client, operator_staff,
                                                                                    solrosen):
    client.force_login(operator_staff)
    response = _upload(client, _csv(*GOOD), name="solrosen-2026.csv")
    assert not _row_errors(response)
    confirm = response.context["confirm_form"]
    assert not ChargePoint.objects.exists(), "the dry run writes nothing"
    response = client.post(reverse("admin:charging_chargepoint_process_import"),
                           {name: confirm.initial[name] for name in ("import_file_name", "original_file_name",
                                                                      "format", "resource")}, follow=True)
    assert "2 charge points imported." in [str(m) for m in response.context["messages"]]

    first = ChargePoint.objects.get(identity="SOL-01")
    assert (first.organization, first.location.name, first.serial_number, first.display_name) == (
        solrosen, "Garaget", "SN001", "Laddplats 01")
    assert (first.system_name, first.locked_box, first.access_mode) == ("Box A", True, "public")
    assert [(e.evse_id, e.public_id, e.current_type) for e in first.evses.order_by("evse_id")] == [
        (1, "SE*LNN*E0001", "AC"), (2, "SE*LNN*E0002", "AC")]
    second = ChargePoint.objects.get(identity="SOL-02")
    assert second.location is None
    assert second.access_mode == "private"
    evse = second.evses.get()
    assert (evse.public_id, evse.current_type) == ("", "DC")
    assert list(Connector.objects.filter(evse=evse).order_by("connector_id").values_list(
        "connector_id", "standard")) == [(1, "CCS2"), (2, "CHAdeMO")]
    entries = AuditLogEntry.objects.filter(action="chargepoint.registered").order_by("target_repr")
    assert [(e.actor, e.reason, e.organization_id) for e in entries] == [
        (operator_staff, "CSV import solrosen-2026.csv", solrosen.pk)] * 2
    assert entries[0].changes["evse_ids"] == [None, ["SE*LNN*E0001", "SE*LNN*E0002"]]


def test_an_identity_taken_between_dry_run_and_confirmation_imports_nothing(client, operator_staff, solrosen):
    client.force_login(operator_staff)
    confirm = _upload(client, _csv(*GOOD)).context["confirm_form"]
    charge_point_register(identity="SOL-02", organization=solrosen, acting_user=None, reason="meanwhile")
    response = client.post(reverse("admin:charging_chargepoint_process_import"),
                           {name: confirm.initial[name] for name in ("import_file_name", "original_file_name",
                                                                      "format", "resource")}, follow=True)
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "Nothing was imported" in shown
    assert "SOL-02" in shown
    assert list(ChargePoint.objects.values_list("identity", flat=True)) == ["SOL-02"]


def test_only_operator_staff_may_import(client, brf_a):
    brf_a.board.user_permissions.add(*Permission.objects.filter(
        codename__in=["add_chargepoint", "view_chargepoint"]))
    client.force_login(brf_a.board)
    assert client.get(reverse("admin:charging_chargepoint_import")).status_code == 403
    assert _upload(client, _csv(f"A-9,,,{brf_a.org.name},,,Type2,,,")).status_code == 403
    assert not ChargePoint.objects.exists()


# --- export ------------------------------------------------------------------------------------------------------

def _export(client, query: str = "") -> list[dict[str, str]]:
    response = client.post(reverse("admin:charging_chargepoint_export") + query, {"format": "0", "resource": "0"})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_export_honours_the_list_filters_and_uses_the_import_columns(client, operator_staff, solrosen):
    online = charge_point_register(identity="ON-1", organization=solrosen, evses=2, acting_user=None, reason="t",
                                   location=Location.objects.get(name="Garaget"), locked_box=True)
    Evse.objects.filter(charge_point=online, evse_id=1).update(public_id="SE*LNN*E0001")
    Evse.objects.filter(charge_point=online, evse_id=2).update(public_id="SE*LNN*E0002")
    Connector.objects.create(evse=online.evses.get(evse_id=2), connector_id=2, standard="CCS2")
    ChargePoint.objects.filter(pk=online.pk).update(is_connected=True)
    charge_point_register(identity="OFF-1", organization=solrosen, acting_user=None, reason="t")
    client.force_login(operator_staff)

    rows = _export(client, "?is_connected__exact=1")
    assert list(rows[0]) == list(provisioning.IMPORT_COLUMNS)
    assert rows == [{"identity": "ON-1", "serial_number": "", "display_name": "", "organization": "769600-1234",
                     "location": "Garaget", "evse_ids": "SE*LNN*E0001;SE*LNN*E0002",
                     "connectors": "Type2;Type2+CCS2", "system_name": "", "locked_box": "yes",
                     "access_mode": "private"}]
    assert [row["identity"] for row in _export(client, "?q=OFF")] == ["OFF-1"]
    assert {row["identity"] for row in _export(client)} == {"ON-1", "OFF-1"}


def test_an_exported_file_checks_clean_as_an_import_for_new_identities(operator_staff, solrosen):
    source = charge_point_register(identity="ON-1", organization=solrosen, evses=2, acting_user=None, reason="t")
    Evse.objects.filter(charge_point=source, evse_id=2).update(public_id="SE*LNN*E0002")
    from charging.imports import ChargePointResource

    exported = ChargePointResource().export(queryset=ChargePoint.objects.all()).dict[0]
    assert (exported["evse_ids"], exported["connectors"]) == (";SE*LNN*E0002", "Type2;Type2")
    row = provisioning.import_row_check(values={**exported, "identity": "ON-2", "evse_ids": ";SE*LNN*E0003"},
                                        importer=operator_staff, seen=provisioning.ImportSeen(), row_number=1)
    assert [spec.public_id for spec in row.layout] == ["", "SE*LNN*E0003"]


def test_a_board_member_exports_only_their_own_stations(client, brf_a, brf_b):
    charge_point_register(identity="A-1", organization=brf_a.org, acting_user=None, reason="t")
    charge_point_register(identity="B-1", organization=brf_b.org, acting_user=None, reason="t")
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(brf_a.board)
    assert [row["identity"] for row in _export(client)] == ["A-1"]


# --- clone -------------------------------------------------------------------------------------------------------

@pytest.fixture
def source(solrosen):
    charge_point = charge_point_register(
        identity="SRC-1", organization=solrosen, evses=2, display_name="Laddplats 01", acting_user=None,
        reason="t", location=Location.objects.get(name="Garaget"), locked_box=True, access_mode="public",
        heartbeat_interval=120, serial_number="SN-SRC",
        configuration={"MeterValueSampleInterval": {"value": "60", "readonly": False},
                       "ChargePointModel": {"value": "X1", "readonly": True},
                       "AuthorizeRemoteTxRequests": {"value": "true", "readonly": False}})
    Evse.objects.filter(charge_point=charge_point, evse_id=1).update(public_id="SE*LNN*E0001", max_power_w=22_000)
    evse2 = charge_point.evses.get(evse_id=2)
    Evse.objects.filter(pk=evse2.pk).update(current_type="DC", max_power_w=50_000)
    Connector.objects.filter(evse=evse2).update(standard="CCS2")
    Connector.objects.create(evse=evse2, connector_id=2, standard="CHAdeMO")
    return charge_point


def test_clone_copies_owner_site_settings_layout_and_writable_configuration(operator_staff, source):
    clones = provisioning.charge_point_clone(source=source, identities=["NEW-1", "NEW-2"],
                                             acting_user=operator_staff, reason="Order 4711")
    assert [c.identity for c in clones] == ["NEW-1", "NEW-2"]
    clone = ChargePoint.objects.get(identity="NEW-1")
    assert (clone.organization, clone.location, clone.access_mode, clone.locked_box, clone.heartbeat_interval) == (
        source.organization, source.location, "public", True, 120)
    assert (clone.display_name, clone.serial_number, clone.auth_key_hash) == ("", "", "")
    assert clone.configuration == {"MeterValueSampleInterval": {"value": "60", "readonly": False},
                                   "AuthorizeRemoteTxRequests": {"value": "true", "readonly": False}}
    layout = [(e.evse_id, e.public_id, e.current_type, e.max_power_w,
               [c.standard for c in e.connectors.order_by("connector_id")]) for e in clone.evses.order_by("evse_id")]
    assert layout == [(1, "", "AC", 22_000, ["Type2"]), (2, "", "DC", 50_000, ["CCS2", "CHAdeMO"])]
    entry = AuditLogEntry.objects.get(action="chargepoint.registered", target_id=str(clone.pk))
    assert (entry.actor, entry.reason, entry.changes["cloned_from"]) == (operator_staff, "Order 4711",
                                                                         [None, "SRC-1"])


def test_clone_is_all_or_nothing_and_names_every_bad_identity(operator_staff, source):
    with pytest.raises(ValidationError) as caught:
        provisioning.charge_point_clone(source=source, identities=["OK-1", "SRC-1", "bad id", "OK-2", "OK-2"],
                                        acting_user=operator_staff, reason="Order 4711")
    problems = " ".join(caught.value.message_dict["identities"])
    assert "Taken already: SRC-1." in problems
    assert "“bad id” is not a valid OCPP identity" in problems
    assert "Given more than once: OK-2." in problems
    assert list(ChargePoint.objects.values_list("identity", flat=True)) == ["SRC-1"]


def _action(client, action: str, selected: list[int], **data):
    return client.post(reverse(CHANGELIST), {"action": action, ACTION_CHECKBOX_NAME: selected, **data}, follow=True)


def test_clone_action_asks_for_identities_and_reason_then_creates(client, operator_staff, source):
    client.force_login(operator_staff)
    form_page = _action(client, "clone_configuration", [source.pk])
    assert "admin/action_with_reason.html" in [t.name for t in form_page.templates]
    refused = _action(client, "clone_configuration", [source.pk], apply="1", identities="SRC-1\nNEW-1",
                      reason="Order 4711")
    assert "Taken already: SRC-1." in refused.content.decode()
    assert not ChargePoint.objects.filter(identity="NEW-1").exists()
    done = _action(client, "clone_configuration", [source.pk], apply="1", identities="NEW-1\n\n NEW-2 \n",
                   reason="Order 4711")
    assert "Created 2 charge points like Laddplats 01 (SRC-1): NEW-1, NEW-2." in [
        str(m) for m in done.context["messages"]]
    assert set(ChargePoint.objects.values_list("identity", flat=True)) == {"SRC-1", "NEW-1", "NEW-2"}


def test_clone_needs_exactly_one_source(client, operator_staff, source, solrosen):
    other = charge_point_register(identity="SRC-2", organization=solrosen, acting_user=None, reason="t")
    client.force_login(operator_staff)
    response = _action(client, "clone_configuration", [source.pk, other.pk], apply="1", identities="NEW-1",
                       reason="x")
    assert "Select exactly one charge point to copy from." in [str(m) for m in response.context["messages"]]
    assert ChargePoint.objects.count() == 2


def test_board_members_cannot_clone_or_move(client, brf_a, brf_b):
    own = charge_point_register(identity="A-1", organization=brf_a.org, acting_user=None, reason="t")
    brf_a.board.user_permissions.add(*Permission.objects.filter(
        codename__in=["add_chargepoint", "change_chargepoint", "view_chargepoint"]))
    client.force_login(brf_a.board)
    action_form = client.get(reverse(CHANGELIST)).context["action_form"]
    actions = dict(action_form.fields["action"].choices) if action_form else {}
    assert "clone_configuration" not in actions
    assert "move_to_organization" not in actions
    _action(client, "clone_configuration", [own.pk], apply="1", identities="A-2", reason="x")
    _action(client, "move_to_organization", [own.pk], apply="1", organization=brf_b.org.pk, reason="x")
    own.refresh_from_db()
    assert own.organization == brf_a.org
    assert not ChargePoint.objects.filter(identity="A-2").exists()


# --- move --------------------------------------------------------------------------------------------------------

def test_move_changes_owner_clears_a_foreign_site_and_keeps_past_sessions(operator_staff, source, brf_b):
    evse = source.evses.get(evse_id=1)
    session = ChargingSession.objects.create(charge_point=source, evse=evse, organization=source.organization,
                                             started_at=datetime(2026, 5, 1, 8, tzinfo=UTC), meter_start_wh=0)
    old_owner, old_site = source.organization, source.location
    provisioning.charge_point_move(charge_point=source, organization=brf_b.org, acting_user=operator_staff,
                                   reason="Sold to BRF B, contract 12")
    source.refresh_from_db()
    session.refresh_from_db()
    assert (source.organization, source.location) == (brf_b.org, None)
    assert session.organization == old_owner
    entry = AuditLogEntry.objects.get(action="chargepoint.moved")
    assert (entry.actor, entry.reason, entry.organization) == (operator_staff, "Sold to BRF B, contract 12",
                                                               brf_b.org)
    assert entry.changes == {"organization": [old_owner.pk, brf_b.org.pk], "location": [old_site.pk, None]}


def test_move_keeps_a_site_of_the_new_owner_and_refuses_the_same_owner(operator_staff, solrosen):
    garage = Location.objects.get(name="Garaget")
    cp = charge_point_register(identity="M-1", organization=OrganizationFactory(), acting_user=None, reason="t")
    ChargePoint.objects.filter(pk=cp.pk).update(location=garage)  # a site already of the future owner
    provisioning.charge_point_move(charge_point=cp, organization=solrosen, acting_user=operator_staff, reason="r")
    cp.refresh_from_db()
    assert (cp.organization, cp.location) == (solrosen, garage)
    with pytest.raises(ValidationError, match="belongs to BRF Solrosen already"):
        provisioning.charge_point_move(charge_point=cp, organization=solrosen, acting_user=operator_staff,
                                       reason="r")


def test_move_action_offers_active_organizations_and_moves_the_selection(client, operator_staff, source, brf_b):
    closed = OrganizationFactory(name="BRF Closed", is_active=False)
    client.force_login(operator_staff)
    page = _action(client, "move_to_organization", [source.pk])
    choices = page.context["form"].fields["organization"].queryset
    assert brf_b.org in choices
    assert closed not in choices
    refused = _action(client, "move_to_organization", [source.pk], apply="1", organization=closed.pk, reason="r")
    assert refused.context["form"].errors["organization"]
    done = _action(client, "move_to_organization", [source.pk], apply="1", organization=brf_b.org.pk,
                   reason="Sold, contract 12")
    assert "1 charge points moved to BRF B." in [str(m) for m in done.context["messages"]]
    source.refresh_from_db()
    assert source.organization == brf_b.org


def test_the_station_list_offers_import_to_support_and_export_of_the_filtered_list(client, operator_staff, brf_a):
    client.force_login(operator_staff)
    page = client.get(reverse(CHANGELIST), {"is_connected__exact": "0"}).content.decode()
    assert f'{reverse("admin:charging_chargepoint_import")}\' class="import_link"' in page
    assert f'{reverse("admin:charging_chargepoint_export")}?is_connected__exact=0" class="export_link"' in page
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(brf_a.board)
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert reverse("admin:charging_chargepoint_import") not in page
    assert reverse("admin:charging_chargepoint_export") in page
