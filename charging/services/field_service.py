"""Field service: service tickets (a fault from first report to closing, with what was done and who pays) and each
station's periodic maintenance plan, plus the overdue-maintenance list.

A ticket moves through the statuses in ALLOWED_TRANSITIONS; resolving stamps resolved_at, reopening clears it, and a
closed ticket is final. Due dates move by whole calendar months, clamped to the month's last day (31 January + 1
month is 28 or 29 February).
"""

import calendar
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from accounts.tenancy import scope
from charging.models import Alarm, ChargePoint, MaintenancePlan, ServiceTicket

Status = ServiceTicket.Status

#: Where a ticket may go from each status. A ticket closed without a visit (a duplicate, no fault found) may close
#: straight from open or remote troubleshooting; one with a technician involved is resolved first.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.OPEN: frozenset({Status.REMOTE, Status.SCHEDULED, Status.WAITING_PARTS, Status.RESOLVED, Status.CLOSED}),
    Status.REMOTE: frozenset({Status.OPEN, Status.SCHEDULED, Status.WAITING_PARTS, Status.RESOLVED,
                              Status.CLOSED}),
    Status.SCHEDULED: frozenset({Status.REMOTE, Status.WAITING_PARTS, Status.RESOLVED}),
    Status.WAITING_PARTS: frozenset({Status.SCHEDULED, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.OPEN}),
    Status.CLOSED: frozenset(),
}
#: Ticket fields a person may fill in when opening a ticket (besides the station, problem and alarm).
OPEN_FIELDS = frozenset({"remote_attempts", "technician", "visit_on"})
#: Ticket fields service_ticket_update changes.
UPDATE_FIELDS = frozenset({"problem", "alarm", "status", "remote_attempts", "technician", "visit_on",
                           "on_site_action", "parts", "warranty", "cost", "documentation", "attachment"})


def status_change_allowed(old: str, new: str) -> bool:
    """True when a ticket in status ``old`` may be saved with status ``new`` (staying put counts, unless closed)."""
    return (old == new and old != Status.CLOSED) or new in ALLOWED_TRANSITIONS.get(old, frozenset())


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, on the same day of the month or the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _require_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})


def _check_alarm(alarm: Alarm | None, charge_point_id: int) -> None:
    if alarm is not None and alarm.charge_point_id != charge_point_id:
        raise ValidationError({"alarm": _("The alarm belongs to another charge point.")})


@transaction.atomic
def service_ticket_open(*, charge_point: ChargePoint, problem: str, alarm: Alarm | None = None,
                        acting_user: User | None, reason: str, at: datetime | None = None,
                        **details) -> ServiceTicket:
    """Open a ticket for a fault at ``charge_point`` (optionally the alarm that showed it).

    ``details``: remote_attempts, technician, visit_on.
    """
    _require_reason(reason)
    if not (problem or "").strip():
        raise ValidationError({"problem": _("Describe the problem.")})
    unknown = set(details) - OPEN_FIELDS
    if unknown:
        raise TypeError(f"service_ticket_open() got unexpected fields {sorted(unknown)}")
    _check_alarm(alarm, charge_point.pk)
    ticket = ServiceTicket(charge_point=charge_point, alarm=alarm, problem=problem.strip(), opened_by=acting_user,
                           opened_at=at or timezone.now(), **details)
    ticket.full_clean()
    ticket.save()
    audit.record(action="serviceticket.opened", target=ticket, acting_user=acting_user, reason=reason,
                 organization=charge_point.organization,
                 changes={"status": (None, ticket.status), "problem": (None, ticket.problem)})
    return ticket


@transaction.atomic
def service_ticket_update(*, ticket: ServiceTicket, changes: dict, acting_user: User | None, reason: str,
                          at: datetime | None = None) -> ServiceTicket:
    """Change a ticket's fields (UPDATE_FIELDS), its status only along ALLOWED_TRANSITIONS.

    Resolving stamps resolved_at (``at``, default now); reopening clears it. A closed ticket cannot change.
    """
    _require_reason(reason)
    unknown = set(changes) - UPDATE_FIELDS
    if unknown:
        raise TypeError(f"service_ticket_update() got unexpected fields {sorted(unknown)}")
    ticket = ServiceTicket.objects.select_for_update().select_related("charge_point").get(pk=ticket.pk)
    if ticket.status == Status.CLOSED:
        raise ValidationError(_("Ticket #%(pk)d is closed and cannot change.") % {"pk": ticket.pk})
    old_status, new_status = ticket.status, changes.get("status", ticket.status)
    if new_status not in Status.values:
        raise ValidationError({"status": _("Unknown status %(status)s.") % {"status": new_status}})
    if not status_change_allowed(old_status, new_status):
        raise ValidationError({"status": _("A ticket cannot go from “%(old)s” to “%(new)s”.") % {
            "old": Status(ticket.status).label, "new": Status(new_status).label}})
    if "alarm" in changes:
        _check_alarm(changes["alarm"], ticket.charge_point_id)
    if "problem" in changes and not (changes["problem"] or "").strip():
        raise ValidationError({"problem": _("Describe the problem.")})
    recorded = {}
    for name, value in changes.items():
        if name == "attachment" and value is False:
            value = ""  # the form's "clear" box
        old = getattr(ticket, name)
        if old != value:
            recorded[name] = (old, value)
            setattr(ticket, name, value)
    if new_status != old_status and new_status == Status.RESOLVED:
        recorded["resolved_at"] = (ticket.resolved_at, at or timezone.now())
        ticket.resolved_at = recorded["resolved_at"][1]
    elif old_status == Status.RESOLVED and new_status == Status.OPEN:
        recorded["resolved_at"] = (ticket.resolved_at, None)
        ticket.resolved_at = None
    if not recorded:
        return ticket
    ticket.full_clean()
    ticket.save()
    audit.record(action="serviceticket.changed", target=ticket, acting_user=acting_user, reason=reason,
                 organization=ticket.charge_point.organization, changes=recorded)
    return ticket


@transaction.atomic
def maintenance_plan_set(*, charge_point: ChargePoint, interval_months: int, next_due_on: date,
                         technician: str | None = None, notes: str | None = None, acting_user: User | None,
                         reason: str) -> MaintenancePlan:
    """Create or change the station's maintenance plan (one per station)."""
    _require_reason(reason)
    if not 1 <= interval_months <= 120:
        raise ValidationError({"interval_months": _("Between 1 and 120 months.")})
    plan = MaintenancePlan.objects.select_for_update().filter(charge_point=charge_point).first()
    created = plan is None
    if created:
        plan = MaintenancePlan(charge_point=charge_point, next_due_on=next_due_on)
    wanted = {"interval_months": interval_months, "next_due_on": next_due_on}
    if technician is not None:
        wanted["technician"] = technician
    if notes is not None:
        wanted["notes"] = notes
    changes = {name: (None if created else getattr(plan, name), value) for name, value in wanted.items()
               if created or getattr(plan, name) != value}
    for name, value in wanted.items():
        setattr(plan, name, value)
    if not changes:
        return plan
    plan.full_clean()
    plan.save()
    audit.record(action="maintenanceplan.created" if created else "maintenanceplan.changed", target=plan,
                 acting_user=acting_user, reason=reason, organization=charge_point.organization, changes=changes)
    return plan


@transaction.atomic
def maintenance_done(*, plan: MaintenancePlan, done_on: date, acting_user: User | None,
                     reason: str) -> MaintenancePlan:
    """Record the maintenance as done on ``done_on``; the next one falls one interval later."""
    _require_reason(reason)
    if done_on > timezone.localdate():
        raise ValidationError({"done_on": _("Maintenance cannot be done in the future.")})
    plan = MaintenancePlan.objects.select_for_update().select_related("charge_point").get(pk=plan.pk)
    old_done, old_due = plan.last_done_on, plan.next_due_on
    plan.last_done_on = done_on
    plan.next_due_on = add_months(done_on, plan.interval_months)
    plan.save(update_fields=["last_done_on", "next_due_on"])
    audit.record(action="maintenanceplan.done", target=plan, acting_user=acting_user, reason=reason,
                 organization=plan.charge_point.organization,
                 changes={"last_done_on": (old_done, done_on), "next_due_on": (old_due, plan.next_due_on)})
    return plan


def maintenance_overdue(today: date, *, viewer) -> QuerySet[MaintenancePlan]:
    """Plans due before ``today``, most overdue first, narrowed to what ``viewer`` may see (None: the system,
    which sees every station)."""
    plans = MaintenancePlan.objects.filter(next_due_on__lt=today).select_related(
        "charge_point__organization", "charge_point__location").order_by("next_due_on", "pk")
    return plans if viewer is None else scope(plans, viewer, "charge_point__organization")
