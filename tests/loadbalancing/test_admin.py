"""The load balancing admin: power groups as a tree with what each fuse carries, loops refused, other owners' groups
and EVSEs never shown or accepted, the simulate page (engine results, nothing written), "Recompute now" and what a
board viewer may not do."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils.formats import number_format

from accounts.models import AuditLogEntry, Membership
from accounts.services.organizations import user_grant_admin_access
from charging.models import ChargingSession
from loadbalancing.admin import PowerGroupForm
from loadbalancing.models import EvseAllocation, EvseWiring, GridMeterReading, GroupPriority, Mode, PowerGroup
from tests.accounts import conftest as accounts_fixtures
from tests.accounts.factories import MembershipFactory, UserFactory, UserGroupFactory
from tests.charging.factories import ChargePointFactory, ChargingSessionFactory, EvseFactory

pytestmark = pytest.mark.django_db

# The tenants and support staff of the accounts tests (tests/loadbalancing has no conftest of its own).
brf_a, brf_b, operator_staff = accounts_fixtures.brf_a, accounts_fixtures.brf_b, accounts_fixtures.operator_staff

D = Decimal
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MODELS = ["powergroup", "evsewiring", "grouppriority", "gridmeterreading", "evseallocation"]


def group(owner, name, parent=None, amps=25, mode=Mode.DYNAMIC):
    return PowerGroup.objects.create(organization=owner, parent=parent, name=name, limit_l1=D(amps),
                                     limit_l2=D(amps), limit_l3=D(amps), mode=mode)


def wire(power_group, *, phases=3, rotation="123", max_current=16, identity=None):
    station = ChargePointFactory(organization=power_group.organization, **({"identity": identity} if identity else {}))
    evse = EvseFactory(charge_point=station, evse_id=1)
    EvseWiring.objects.create(evse=evse, group=power_group, phases=phases, rotation=rotation,
                              max_current=D(max_current))
    return evse


def allocate(evse, power_group, limit, *, active=True):
    session = ChargingSessionFactory(charge_point=evse.charge_point, evse=evse, started_at=NOW,
                                     status=ChargingSession.Status.ACTIVE if active else
                                     ChargingSession.Status.COMPLETED)
    return EvseAllocation.objects.create(evse=evse, group=power_group, session=session, limit=limit,
                                         computed_at=NOW)


def amps(*values):
    """Amperes as the admin shows them in the active language, e.g. "10,0 / 10,0 / 16,0" in Swedish."""
    return " / ".join(number_format(D(value), 1) for value in values)


def url(model, view, *args):
    return reverse(f"admin:loadbalancing_{model}_{view}", args=args)


def viewer_of(tenant):
    user = MembershipFactory(organization=tenant.org, role=Membership.Role.ORG_VIEWER,
                             user=UserFactory(email=f"viewer@{tenant.org.slug}.example")).user
    user_grant_admin_access(user=user, organization=tenant.org, acting_user=None, reason="test")
    return user


def change_data(power_group, **overrides):
    data = {
        "name": power_group.name, "parent": power_group.parent_id or "", "location": "",
        "limit_l1": power_group.limit_l1, "limit_l2": power_group.limit_l2, "limit_l3": power_group.limit_l3,
        "mode": power_group.mode, "failsafe_limit": "6", "min_current": "6", "hysteresis": "1",
        "grid_reading_max_age": "120", "schedule": "[]", "is_active": "on",
        "change_reason": "Fuse upgraded, work order 12",
        "wirings-TOTAL_FORMS": "0", "wirings-INITIAL_FORMS": "0",
        "priorities-TOTAL_FORMS": "0", "priorities-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


@pytest.fixture
def site(brf_a):
    """BRF A: an annex fuse and a 25 A main fuse feeding garages A and B, row 1 below garage B; one three-phase
    EVSE in row 1 (10 A now) and one single-phase EVSE on grid phase L3 in garage A (6 A now, charging)."""
    owner = brf_a.org
    main = group(owner, "Huvudsäkring")
    garage_b = group(owner, "Garage B", parent=main, amps=20)
    row = group(owner, "Rad 1", parent=garage_b, amps=16)
    garage_a = group(owner, "Garage A", parent=main, amps=16)
    annex = group(owner, "Annex", amps=10)
    three = wire(row)
    single = wire(garage_a, phases=1, rotation="312")
    allocate(three, row, D("10.0"), active=False)
    allocate(single, garage_a, D("6.0"))
    return {"main": main, "garage_a": garage_a, "garage_b": garage_b, "row": row, "annex": annex,
            "three": three, "single": single}


def test_the_list_is_the_tree_with_what_each_fuse_carries_per_phase(client, brf_a, site):
    client.force_login(brf_a.board)
    response = client.get(url("powergroup", "changelist"))
    assert response.status_code == 200
    changelist = response.context["cl"]
    listed = list(changelist.result_list)
    assert [g.name for g in listed] == ["Annex", "Huvudsäkring", "Garage A", "Garage B", "Rad 1"]
    admin = changelist.model_admin
    cells = {g.name: (admin.evses_wired(g), admin.active_sessions(g), admin.allocated_now(g)) for g in listed}
    assert cells == {
        "Annex": (0, 0, amps(0, 0, 0)),
        "Huvudsäkring": (2, 1, amps(10, 10, 16)),
        "Garage A": (1, 1, amps(0, 0, 6)),
        "Garage B": (1, 0, amps(10, 10, 10)),
        "Rad 1": (1, 0, amps(10, 10, 10)),
    }
    assert "padding-left: 3.0em" in admin.tree_name(listed[-1])  # row 1 sits two levels down
    html = response.content.decode()
    assert amps(16, 16, 16) in html  # a limit cell
    assert amps(10, 10, 16) in html  # an allocation cell


def test_a_loop_in_the_fuse_tree_is_refused(client, operator_staff, site):
    client.force_login(operator_staff)
    main = site["main"]
    for parent in (site["row"], main):  # a group below it, and the group itself
        response = client.post(url("powergroup", "change", main.pk), change_data(main, parent=parent.pk))
        assert response.status_code == 200
        assert "loop" in " ".join(response.context["adminform"].form.errors["parent"])
    main.refresh_from_db()
    assert main.parent_id is None
    assert not AuditLogEntry.objects.filter(target_type__model="powergroup").exists()
    # The form itself refuses a loop even when its choice list would offer the group.
    form = PowerGroupForm(instance=main, data={**change_data(main, parent=site["row"].pk),
                                               "organization": main.organization_id})
    assert not form.is_valid()
    assert "loop" in form.errors["parent"][0]


def test_the_parent_choices_leave_out_the_group_and_everything_below_it(client, operator_staff, site, brf_b):
    group(brf_b.org, "B main")
    client.force_login(operator_staff)
    response = client.get(url("powergroup", "change", site["garage_b"].pk))
    choices = {str(label) for _value, label in response.context["adminform"].form.fields["parent"].choices}
    assert choices == {"---------", "Huvudsäkring", "Garage A", "Annex"}


def test_other_organizations_groups_and_evses_are_never_listed_or_accepted(client, brf_a, brf_b, site):
    other_main = group(brf_b.org, "B main")
    other_evse = wire(other_main)
    other_user_group = UserGroupFactory(organization=brf_b.org)
    GridMeterReading.objects.create(group=other_main, measured_at=NOW, l1=D(1), l2=D(1), l3=D(1))
    GridMeterReading.objects.create(group=site["main"], measured_at=NOW, l1=D(2), l2=D(2), l3=D(2))
    client.force_login(brf_a.board)

    names = [g.name for g in client.get(url("powergroup", "changelist")).context["cl"].result_list]
    assert sorted(names) == ["Annex", "Garage A", "Garage B", "Huvudsäkring", "Rad 1"]
    assert client.get(url("powergroup", "change", other_main.pk)).status_code == 302  # "does not exist"
    assert client.get(url("powergroup", "simulate", other_main.pk)).status_code == 404
    readings = client.get(url("gridmeterreading", "changelist"))
    assert [r.group_id for r in readings.context["cl"].result_list] == [site["main"].pk]
    assert "B main" not in readings.content.decode()  # nor among the filter's choices
    other_allocation = allocate(other_evse, other_main, D("16.0"))
    allocations = client.get(url("evseallocation", "changelist")).context["cl"].result_list
    assert {a.group_id for a in allocations} == {site["row"].pk, site["garage_a"].pk}
    assert other_allocation not in allocations

    page = client.get(url("powergroup", "change", site["main"].pk))
    form = page.context["adminform"].form
    parents = {g.pk for g in form.fields["parent"].queryset}
    assert other_main.pk not in parents
    inline_forms = {formset.formset.prefix: formset.formset for formset in page.context["inline_admin_formsets"]}
    evses = set(inline_forms["wirings"].form.base_fields["evse"].queryset)
    assert other_evse not in evses
    assert site["single"] in evses
    user_groups = set(inline_forms["priorities"].form.base_fields["user_group"].queryset)
    assert user_groups == {brf_a.group}

    # Posting another owner's EVSE or user group anyway is refused and writes nothing.
    free_evse = EvseFactory(charge_point=ChargePointFactory(organization=brf_a.org), evse_id=1)
    data = change_data(site["main"], **{
        "wirings-TOTAL_FORMS": "2", "wirings-0-evse": other_evse.pk, "wirings-0-phases": "3",
        "wirings-0-rotation": "123", "wirings-0-max_current": "16", "wirings-0-priority": "0",
        "wirings-1-evse": free_evse.pk, "wirings-1-phases": "3", "wirings-1-rotation": "123",
        "wirings-1-max_current": "16", "wirings-1-priority": "0",
        "priorities-TOTAL_FORMS": "1", "priorities-0-user_group": other_user_group.pk, "priorities-0-priority": "5",
    })
    response = client.post(url("powergroup", "change", site["main"].pk), data)
    assert response.status_code == 200
    assert not EvseWiring.objects.filter(evse=free_evse).exists()
    assert not GroupPriority.objects.exists()
    assert EvseWiring.objects.get(evse=other_evse).group == other_main


def test_a_board_admin_wires_an_evse_of_its_own_with_a_reason(client, brf_a, site):
    free_evse = EvseFactory(charge_point=ChargePointFactory(organization=brf_a.org), evse_id=1)
    client.force_login(brf_a.board)
    # Garage A already has one wiring, which the form carries along unchanged.
    existing = EvseWiring.objects.get(evse=site["single"])
    data = change_data(site["garage_a"], **{
        "wirings-TOTAL_FORMS": "2", "wirings-INITIAL_FORMS": "1",
        "wirings-0-id": existing.pk, "wirings-0-group": site["garage_a"].pk, "wirings-0-evse": site["single"].pk,
        "wirings-0-phases": "1", "wirings-0-rotation": "312", "wirings-0-max_current": "16",
        "wirings-0-priority": "0",
        "wirings-1-evse": free_evse.pk, "wirings-1-phases": "1", "wirings-1-rotation": "231",
        "wirings-1-max_current": "32", "wirings-1-priority": "2"})
    response = client.post(url("powergroup", "change", site["garage_a"].pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    wiring = EvseWiring.objects.get(evse=free_evse)
    assert (wiring.group, wiring.grid_phases()) == (site["garage_a"], (2,))
    entry = AuditLogEntry.objects.get(target_type__model="evsewiring", target_id=str(wiring.pk))
    assert (entry.actor, entry.reason) == (brf_a.board, "Fuse upgraded, work order 12")


@pytest.fixture
def pair(brf_a):
    """A 16 A group with two three-phase EVSEs that can take 16 A each."""
    power_group = group(brf_a.org, "Carport", amps=16)
    return power_group, [wire(power_group, identity="CARPORT-1"), wire(power_group, identity="CARPORT-2")]


def test_simulate_shows_what_the_engine_would_give_and_writes_nothing(client, brf_a, pair):
    power_group, (first, second) = pair
    client.force_login(brf_a.board)
    page = client.get(url("powergroup", "simulate", power_group.pk))
    assert page.status_code == 200
    assert page.context["form"][f"max_{first.pk}"].value() == D(16)
    audit_rows = AuditLogEntry.objects.count()
    response = client.post(url("powergroup", "simulate", power_group.pk), {
        f"charging_{first.pk}": "on", f"max_{first.pk}": "16",
        f"charging_{second.pk}": "on", f"max_{second.pk}": "16", f"measured_{second.pk}": "",
    })
    assert response.status_code == 200
    result = response.context["result"]
    assert {row["wiring"].evse_id: row["limit"] for row in result["evses"]} == {first.pk: D("8.0"),
                                                                               second.pk: D("8.0")}
    assert not any(row["paused"] for row in result["evses"])
    [load] = result["loads"]
    assert [(p["load"], p["limit"]) for p in load["phases"]] == [(D("16.0"), D(16))] * 3
    assert f'<td class="number">{amps(8)}</td>' in response.content.decode()
    assert not EvseAllocation.objects.exists()
    assert AuditLogEntry.objects.count() == audit_rows
    assert not PowerGroup.objects.exclude(pk=power_group.pk).filter(organization=brf_a.org).exists()


def test_simulate_with_external_load_and_only_one_car(client, operator_staff, pair):
    power_group, (first, second) = pair
    client.force_login(operator_staff)
    response = client.post(url("powergroup", "simulate", power_group.pk), {
        f"charging_{first.pk}": "on", f"max_{first.pk}": "16", f"max_{second.pk}": "16", "external_l2": "7.5",
    })
    limits = {row["wiring"].evse_id: row["limit"] for row in response.context["result"]["evses"]}
    assert limits == {first.pk: D("8.5")}


def test_simulate_with_bad_input_shows_form_errors(client, operator_staff, pair):
    power_group, (first, second) = pair
    client.force_login(operator_staff)
    response = client.post(url("powergroup", "simulate", power_group.pk), {
        f"charging_{first.pk}": "on", f"max_{first.pk}": "many", f"measured_{first.pk}": "-3",
        f"max_{second.pk}": "", "external_l1": "abc"})
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {f"max_{first.pk}", f"measured_{first.pk}", f"max_{second.pk}", "external_l1"}
    assert response.context["result"] is None
    assert not EvseAllocation.objects.exists()


def test_recompute_now_is_audited_and_queues_the_whole_tree_after_commit(client, brf_a, site, monkeypatch,
                                                                         django_capture_on_commit_callbacks):
    recomputed = []
    monkeypatch.setattr("loadbalancing.tasks.recompute", recomputed.append)
    client.force_login(brf_a.board)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url("powergroup", "changelist"), {
            "action": "recompute_now", ACTION_CHECKBOX_NAME: [site["row"].pk, site["garage_a"].pk],
            "apply": "1", "reason": "Charger replaced"}, follow=True)
    assert response.status_code == 200
    assert len(callbacks) == 1  # both groups are in the same tree
    assert recomputed == [site["main"].pk]
    entry = AuditLogEntry.objects.get(action="powergroup.recompute")
    assert (entry.actor, entry.reason, entry.target_id, entry.organization_id) == (
        brf_a.board, "Charger replaced", str(site["main"].pk), brf_a.org.pk)


def test_a_board_viewer_looks_but_cannot_change_or_recompute(client, brf_a, site, monkeypatch):
    recomputed = []
    monkeypatch.setattr("loadbalancing.tasks.recompute", recomputed.append)
    viewer = viewer_of(brf_a)
    client.force_login(viewer)
    assert client.get(url("powergroup", "changelist")).status_code == 200
    page = client.get(url("powergroup", "change", site["main"].pk))
    assert page.status_code == 200
    assert "Live allocation" in page.content.decode()
    assert client.get(url("powergroup", "simulate", site["main"].pk)).status_code == 200
    response = client.post(url("powergroup", "change", site["main"].pk), change_data(site["main"], limit_l1="63"))
    assert response.status_code == 403
    assert client.get(url("powergroup", "add")).status_code == 403
    assert client.post(url("powergroup", "delete", site["annex"].pk), {"post": "yes"}).status_code == 403
    client.post(url("powergroup", "changelist"), {"action": "recompute_now", ACTION_CHECKBOX_NAME: [site["main"].pk],
                                                  "apply": "1", "reason": "Just looking"})
    site["main"].refresh_from_db()
    assert site["main"].limit_l1 == D(25)
    assert PowerGroup.objects.filter(pk=site["annex"].pk).exists()
    assert recomputed == []
    assert not AuditLogEntry.objects.filter(action__startswith="powergroup").exists()


def test_the_change_page_shows_the_live_allocation_of_the_subtree(client, operator_staff, site):
    row = EvseAllocation.objects.get(evse=site["three"])
    row.confirmed_limit, row.measured, row.state, row.error = D("9.0"), D("7.4"), "failed", "Rejected"
    row.save()
    client.force_login(operator_staff)
    page = client.get(url("powergroup", "change", site["garage_b"].pk))
    live = page.context["live_allocation"]
    assert [(item["wiring"].evse, item["allocation"].limit) for item in live] == [(site["three"], D("10.0"))]
    html = page.content.decode()
    for text in ("Live allocation", amps(10), amps(9), amps("7.4"), "Rejected", "not confirmed"):
        assert text in html
    # The main fuse's page covers both garages.
    assert len(client.get(url("powergroup", "change", site["main"].pk)).context["live_allocation"]) == 2


def test_a_board_admin_adds_a_group_under_its_own_main_fuse_only(client, brf_a, brf_b, site):
    other_main = group(brf_b.org, "B main")
    client.force_login(brf_a.board)
    page = client.get(url("powergroup", "add"))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert set(form.fields["organization"].queryset) == {brf_a.org}
    assert other_main not in set(form.fields["parent"].queryset)
    data = {**change_data(site["main"], name="Garage C", parent=site["main"].pk, limit_l1="10", limit_l2="10",
                          limit_l3="10"), "organization": brf_a.org.pk}
    response = client.post(url("powergroup", "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    added = PowerGroup.objects.get(name="Garage C")
    assert (added.organization, added.parent) == (brf_a.org, site["main"])
    assert AuditLogEntry.objects.get(target_type__model="powergroup", target_id=str(added.pk)).reason \
        == "Fuse upgraded, work order 12"
    # Another owner's group as the parent is refused.
    response = client.post(url("powergroup", "add"), {**data, "name": "Garage D", "parent": other_main.pk})
    assert response.status_code == 200
    assert "parent" in response.context["adminform"].form.errors
    assert not PowerGroup.objects.filter(name="Garage D").exists()
