"""Field service: ticket status rules, maintenance due dates (month ends included), the overdue list, and the admin
pages that drive them through the services with a reason."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry
from charging.models import Alarm, ChargePoint, MaintenancePlan, ServiceTicket
from charging.services import field_service
from charging.services.field_service import add_months

pytestmark = pytest.mark.django_db

Status = ServiceTicket.Status
AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def station(brf_a):
    return ChargePoint.objects.create(identity="A-01", organization=brf_a.org, display_name="Laddplats 01")


@pytest.fixture
def other_station(brf_b):
    return ChargePoint.objects.create(identity="B-01", organization=brf_b.org)


def _open(station, user, **kwargs):
    return field_service.service_ticket_open(charge_point=station, problem="Does not start charging",
                                             acting_user=user, reason="Customer call 311", **kwargs)


def _update(ticket, user, at=AT, **changes):
    return field_service.service_ticket_update(ticket=ticket, changes=changes, acting_user=user,
                                               reason="Work order 88", at=at)


# --- due dates ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),      # leap year
    (date(2026, 8, 31), 6, date(2027, 2, 28)),
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2026, 3, 31), 1, date(2026, 4, 30)),
    (date(2026, 12, 31), 2, date(2027, 2, 28)),
    (date(2026, 3, 15), 12, date(2027, 3, 15)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
])
def test_add_months_clamps_to_the_last_day_of_the_month(day, months, expected):
    assert add_months(day, months) == expected


def test_maintenance_done_moves_the_next_due_date_one_interval_on(station, operator_staff):
    plan = field_service.maintenance_plan_set(charge_point=station, interval_months=12,
                                              next_due_on=date(2026, 1, 31), acting_user=operator_staff,
                                              reason="Annual inspection contract")
    plan = field_service.maintenance_done(plan=plan, done_on=date(2026, 1, 31), acting_user=operator_staff,
                                          reason="Inspection report 17")
    assert (plan.last_done_on, plan.next_due_on) == (date(2026, 1, 31), date(2027, 1, 31))
    field_service.maintenance_plan_set(charge_point=station, interval_months=1, next_due_on=plan.next_due_on,
                                       acting_user=operator_staff, reason="Monthly from now on")
    plan = field_service.maintenance_done(plan=plan, done_on=date(2026, 1, 31), acting_user=operator_staff,
                                          reason="Inspection report 18")
    assert plan.next_due_on == date(2026, 2, 28)
    done = AuditLogEntry.objects.filter(action="maintenanceplan.done").order_by("pk")
    assert [(e.actor, e.reason, e.organization_id) for e in done] == [
        (operator_staff, "Inspection report 17", station.organization_id),
        (operator_staff, "Inspection report 18", station.organization_id)]
    assert done[1].changes == {"last_done_on": ["2026-01-31", "2026-01-31"],
                               "next_due_on": ["2027-01-31", "2026-02-28"]}
    assert AuditLogEntry.objects.get(action="maintenanceplan.changed").changes == {"interval_months": [12, 1]}


def test_maintenance_cannot_be_done_in_the_future_or_without_a_reason(station, operator_staff):
    plan = field_service.maintenance_plan_set(charge_point=station, interval_months=12, next_due_on=date(2026, 5, 1),
                                              acting_user=operator_staff, reason="Contract")
    with pytest.raises(ValidationError, match="in the future"):
        field_service.maintenance_done(plan=plan, done_on=timezone.localdate() + timedelta(days=1),
                                       acting_user=operator_staff, reason="Report")
    with pytest.raises(ValidationError, match="Say why"):
        field_service.maintenance_done(plan=plan, done_on=timezone.localdate(), acting_user=operator_staff,
                                       reason=" ")
    plan.refresh_from_db()
    assert plan.last_done_on is None


def test_maintenance_overdue_lists_plans_due_before_today_the_viewer_may_see(station, other_station, brf_a,
                                                                          operator_staff):
    third = ChargePoint.objects.create(identity="A-02", organization=station.organization)
    for charge_point, due in ((station, date(2026, 3, 1)), (other_station, date(2026, 2, 1)),
                              (third, date(2026, 3, 10))):
        field_service.maintenance_plan_set(charge_point=charge_point, interval_months=12, next_due_on=due,
                                           acting_user=operator_staff, reason="Contract")
    today = date(2026, 3, 10)
    assert [p.charge_point.identity for p in field_service.maintenance_overdue(today, viewer=operator_staff)] == [
        "B-01", "A-01"]
    assert [p.charge_point.identity for p in field_service.maintenance_overdue(today, viewer=brf_a.board)] == [
        "A-01"]


# --- tickets -----------------------------------------------------------------------------------------------------

def test_opening_a_ticket_is_audited_and_links_only_an_alarm_of_that_station(station, other_station,
                                                                            operator_staff):
    alarm = Alarm.objects.create(charge_point=station, kind=Alarm.Kind.FAULTED, severity=Alarm.Severity.MAJOR)
    foreign = Alarm.objects.create(charge_point=other_station, kind=Alarm.Kind.FAULTED,
                                   severity=Alarm.Severity.MAJOR)
    ticket = _open(station, operator_staff, alarm=alarm, technician="Elfirma AB")
    assert (ticket.status, ticket.opened_by, ticket.alarm, ticket.technician) == (
        Status.OPEN, operator_staff, alarm, "Elfirma AB")
    entry = AuditLogEntry.objects.get(action="serviceticket.opened")
    assert (entry.actor, entry.reason, entry.organization) == (operator_staff, "Customer call 311",
                                                               station.organization)
    with pytest.raises(ValidationError, match="another charge point"):
        _open(station, operator_staff, alarm=foreign)
    assert ServiceTicket.objects.count() == 1


def test_a_ticket_moves_along_the_allowed_statuses_and_resolving_stamps_the_time(station, operator_staff):
    ticket = _open(station, operator_staff)
    ticket = _update(ticket, operator_staff, status=Status.REMOTE, remote_attempts="Soft reset: Accepted")
    ticket = _update(ticket, operator_staff, status=Status.SCHEDULED, technician="Elfirma AB",
                     visit_on=date(2026, 11, 25))
    assert ticket.resolved_at is None
    ticket = _update(ticket, operator_staff, status=Status.RESOLVED, on_site_action="replace_part",
                     parts="RCD module", warranty="covered")
    assert ticket.resolved_at == AT
    reopened = _update(ticket, operator_staff, status=Status.OPEN, at=AT + timedelta(days=2))
    assert reopened.resolved_at is None
    ticket = _update(reopened, operator_staff, status=Status.RESOLVED, at=AT + timedelta(days=3))
    ticket = _update(ticket, operator_staff, status=Status.CLOSED, at=AT + timedelta(days=4))
    assert (ticket.status, ticket.resolved_at) == (Status.CLOSED, AT + timedelta(days=3))
    changes = [e.changes for e in AuditLogEntry.objects.filter(action="serviceticket.changed").order_by("pk")]
    assert changes[0] == {"status": ["open", "remote"], "remote_attempts": ["", "Soft reset: Accepted"]}
    assert changes[2]["status"] == ["scheduled", "resolved"]
    assert changes[2]["resolved_at"][0] is None
    assert changes[3]["resolved_at"][1] is None


@pytest.mark.parametrize(("path", "forbidden"), [
    ([Status.SCHEDULED], Status.CLOSED),
    ([Status.SCHEDULED], Status.OPEN),
    ([Status.WAITING_PARTS], Status.OPEN),
    ([Status.RESOLVED], Status.SCHEDULED),
])
def test_forbidden_status_changes_are_refused(station, operator_staff, path, forbidden):
    ticket = _open(station, operator_staff)
    for status in path:
        ticket = _update(ticket, operator_staff, status=status)
    with pytest.raises(ValidationError, match="cannot go from"):
        _update(ticket, operator_staff, status=forbidden, technician="Someone")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.technician) == (path[-1], "")


def test_a_closed_ticket_cannot_change(station, operator_staff):
    ticket = _update(_open(station, operator_staff), operator_staff, status=Status.CLOSED)
    with pytest.raises(ValidationError, match="closed and cannot change"):
        _update(ticket, operator_staff, documentation="Late note")
    assert field_service.status_change_allowed(Status.CLOSED, Status.CLOSED) is False


# --- admin -------------------------------------------------------------------------------------------------------

def test_support_opens_a_ticket_in_the_admin_through_the_service(client, operator_staff, station):
    client.force_login(operator_staff)
    response = client.post(reverse("admin:charging_serviceticket_add"), {
        "charge_point": station.pk, "problem": "Cable stuck", "technician": "", "remote_attempts": "",
        "change_reason": "Customer call 312"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    ticket = ServiceTicket.objects.get()
    assert (ticket.charge_point, ticket.problem, ticket.opened_by) == (station, "Cable stuck", operator_staff)
    assert AuditLogEntry.objects.get(action="serviceticket.opened").reason == "Customer call 312"


def test_the_ticket_form_offers_only_allowed_statuses_and_a_closed_ticket_is_view_only(client, operator_staff,
                                                                                      station):
    ticket = _update(_open(station, operator_staff), operator_staff, status=Status.SCHEDULED)
    client.force_login(operator_staff)
    url = reverse("admin:charging_serviceticket_change", args=[ticket.pk])
    form = client.get(url).context["adminform"].form
    assert {value for value, _label in form.fields["status"].choices} == {"scheduled", "remote", "waiting_parts",
                                                                         "resolved"}
    response = client.post(url, {"problem": ticket.problem, "status": "closed", "change_reason": "x",
                                 "cost_0": "", "cost_1": "SEK"})
    assert response.status_code == 200
    assert "status" in response.context["adminform"].form.errors
    response = client.post(url, {"problem": ticket.problem, "status": "resolved", "technician": "Elfirma AB",
                                 "warranty": "covered", "cost_0": "1250.00", "cost_1": "SEK",
                                 "change_reason": "Visit report 5"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    ticket.refresh_from_db()
    assert (ticket.status, ticket.technician, str(ticket.cost.amount)) == ("resolved", "Elfirma AB", "1250.00")
    assert ticket.resolved_at is not None
    entry = AuditLogEntry.objects.filter(action="serviceticket.changed").latest("pk")
    assert entry.reason == "Visit report 5"
    assert entry.changes["status"] == ["scheduled", "resolved"]
    _update(ticket, operator_staff, status=Status.CLOSED)
    assert client.post(url, {"problem": "changed", "status": "closed", "change_reason": "x"}).status_code == 403


def test_a_board_sees_only_tickets_of_its_own_stations(client, brf_a, station, other_station, operator_staff):
    _open(station, operator_staff)
    _open(other_station, operator_staff)
    brf_a.board.user_permissions.add(Permission.objects.get(codename="view_serviceticket"))
    client.force_login(brf_a.board)
    response = client.get(reverse("admin:charging_serviceticket_changelist"))
    assert [t.charge_point for t in response.context["cl"].result_list] == [station]


def test_the_due_filter_and_mark_done_today(client, operator_staff, station, other_station):
    today = timezone.localdate()
    overdue = field_service.maintenance_plan_set(charge_point=station, interval_months=12,
                                                 next_due_on=today - timedelta(days=3), acting_user=operator_staff,
                                                 reason="Contract")
    field_service.maintenance_plan_set(charge_point=other_station, interval_months=12,
                                       next_due_on=today + timedelta(days=10), acting_user=operator_staff,
                                       reason="Contract")
    client.force_login(operator_staff)
    url = reverse("admin:charging_maintenanceplan_changelist")
    listed = {value: [p.charge_point.identity for p in client.get(url, {"due": value}).context["cl"].result_list]
              for value in ("overdue", "soon", "later")}
    assert listed == {"overdue": ["A-01"], "soon": ["B-01"], "later": []}
    assert "overdue by 3 days" in client.get(url, {"due": "overdue"}).content.decode()
    client.post(url, {"action": "mark_done_today", ACTION_CHECKBOX_NAME: [overdue.pk], "apply": "1",
                      "reason": "Inspection report 19"})
    overdue.refresh_from_db()
    assert (overdue.last_done_on, overdue.next_due_on) == (today, add_months(today, 12))
    assert AuditLogEntry.objects.get(action="maintenanceplan.done").reason == "Inspection report 19"


def test_a_plan_added_in_the_admin_goes_through_the_service(client, operator_staff, station):
    client.force_login(operator_staff)
    response = client.post(reverse("admin:charging_maintenanceplan_add"), {
        "charge_point": station.pk, "interval_months": "12", "next_due_on": "2027-01-31", "technician": "Elfirma AB",
        "notes": "", "change_reason": "Service contract 2026"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    plan = MaintenancePlan.objects.get()
    assert (plan.charge_point, plan.next_due_on, plan.technician) == (station, date(2027, 1, 31), "Elfirma AB")
    entry = AuditLogEntry.objects.get(action="maintenanceplan.created")
    assert (entry.actor, entry.reason) == (operator_staff, "Service contract 2026")


def test_tickets_are_found_by_number_station_or_problem(client, operator_staff, station, other_station):
    first = _open(station, operator_staff)
    field_service.service_ticket_open(charge_point=other_station, problem="Display broken", acting_user=operator_staff,
                                      reason="Customer call 313")
    client.force_login(operator_staff)
    url = reverse("admin:charging_serviceticket_changelist")

    def found(query):
        return [t.charge_point.identity for t in client.get(url, {"q": query}).context["cl"].result_list]

    assert found("Laddplats 01") == ["A-01"]
    assert found("display") == ["B-01"]
    assert "A-01" in found(str(first.pk))  # by number (other rows may contain the digit too)
