"""Tariffs and where they apply: create and edit tariffs, assign them, end and remove assignments. Every change a
person makes is audited with the reason given.

The price-increase notice rule (billing.price_rules, DOMAIN.md): a change that makes a tariff apply somewhere (a new
assignment, an ended assignment letting the next level's tariff apply, an edit of a tariff's prices) is compared,
for each EVSE and audience it reaches, with every tariff in force there during the last 30 days, with the prices
those tariffs had then (revisions). More than 7 % above the highest needs a valid-from at least 30 days ahead,
otherwise a ValidationError names the earliest allowed date. An audience is "drivers without a group price" for a
station-level change and "members of the group" for a group's price. Each change is simulated on the resolution
records (billing.selectors) before anything is written, and checked again inside the writing transaction.

An edit of a tariff applies from the moment it is saved (the old prices are kept as a TariffRevision); a dearer
price therefore passes only within 7 %: for more, create a new tariff and assign it with notice. A tariff's
currency never changes.

``*_check`` functions run the same checks without writing, so forms can show their errors on the right field.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.models import Organization, User, UserGroup
from accounts.services import audit
from billing import pricing
from billing.models import Tariff, TariffAssignment, TariffRevision
from billing.price_rules import LOOKBACK_PERIOD, PriceIncreaseCheck, check_tariff_change
from billing.selectors import (
    AssignmentRecord,
    StationContext,
    TariffVersions,
    assignment_records,
    effective_end,
    has_fallback_spot_price,
    record_of,
    resolve,
    station_contexts,
    tariffs_in_force,
    with_effective_end,
)
from charging.models import ChargePoint, Evse, Location

#: How far in the past a valid-from or an end may lie (the time it takes to fill in a form); earlier would reprice
#: charging that has already happened.
BACKDATE_GRACE = timedelta(minutes=5)
#: Fields tariff_create and tariff_update accept besides the owner, the name and the currency.
TARIFF_FIELDS = frozenset({"is_active", *Tariff.PRICE_FIELDS})
_UNSAVED = 0


def _require_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})


def _aware(value: datetime, name: str) -> datetime:
    if value is None or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError({name: _("Give a date and time with a time zone.")})
    return value


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- Tariffs ------------------------------------------------------------------------------------------------------
def _validated(tariff: Tariff) -> Tariff:
    tariff.full_clean()
    if tariff.dynamic and not has_fallback_spot_price(tariff.currency):
        raise ValidationError({"dynamic": _("No fallback spot price is configured for %(currency)s "
                                            "(SPOT_FALLBACK_PRICE), so a dynamic price cannot be priced when spot "
                                            "prices are missing.") % {"currency": tariff.currency}})
    return tariff


@transaction.atomic
def tariff_create(*, organization: Organization, name: str, currency: str, acting_user: User | None, reason: str,
                  now: datetime | None = None, **values) -> Tariff:
    """A new tariff of ``organization``. ``values``: any of Tariff.PRICE_FIELDS and ``is_active``."""
    _require_reason(reason)
    unknown = set(values) - TARIFF_FIELDS
    if unknown:
        raise TypeError(f"tariff_create() got unexpected fields {sorted(unknown)}")
    now = now or timezone.now()
    tariff = _validated(Tariff(organization=organization, name=name, currency=currency, created_at=now, **values))
    tariff.save()
    audit.record(action="tariff.created", target=tariff, acting_user=acting_user, reason=reason, at=now,
                 changes={name: (None, getattr(tariff, name))
                          for name in ("name", "currency", *Tariff.PRICE_FIELDS, "is_active")})
    return tariff


def _edited(current: Tariff, changes: dict) -> Tariff:
    """A copy of ``current`` with ``changes``, validated; currency and owner are fixed."""
    if "currency" in changes and changes["currency"] != current.currency:
        raise ValidationError({"currency": _("A tariff's currency cannot change after it is created (it is "
                                             "%(currency)s); create a new tariff instead.") % {
            "currency": current.currency}})
    if "organization" in changes and getattr(changes["organization"], "pk", changes["organization"]) != \
            current.organization_id:
        raise ValidationError({"organization": _("A tariff's owner cannot change; create a new tariff instead.")})
    unknown = set(changes) - TARIFF_FIELDS - {"name", "currency", "organization"}
    if unknown:
        raise TypeError(f"tariff_update() got unexpected fields {sorted(unknown)}")
    edited = Tariff.objects.get(pk=current.pk)
    for name, value in changes.items():
        if name not in ("currency", "organization"):
            setattr(edited, name, value)
    return _validated(edited)


def _live_assignments(tariff: Tariff, now: datetime) -> list[TariffAssignment]:
    """The tariff's assignments in force at ``now`` or scheduled."""
    assignments = with_effective_end(tariff.assignments.select_related(
        "organization", "charge_point", "evse", "location", "user_group"))
    return [assignment for assignment in assignments
            if (end := effective_end(assignment)) is None or end > now]


def _check_edit(current: Tariff, edited: Tariff, changed: list[str], now: datetime) -> None:
    live = _live_assignments(current, now)
    if "is_active" in changed and not edited.is_active and live:
        raise ValidationError({"is_active": _("The tariff is in force or scheduled at %(targets)s; end those "
                                              "assignments before deactivating it.") % {
            "targets": ", ".join(sorted({assignment.target_label() for assignment in live}))}})
    if not live or not any(name in Tariff.PRICE_FIELDS for name in changed):
        return
    stations = _stations_of_all(live)
    records, versions = assignment_records(stations.values())
    old = versions[current.pk]
    new = TariffVersions(current.pk, edited.name, edited.to_pricing(), (*old.earlier, (now, old.current)))
    after = [replace(record, tariff=new) if record.tariff.tariff_id == current.pk else record for record in records]
    refusals: list[tuple[StationContext, PriceIncreaseCheck]] = []
    for assignment in live:
        contexts = _contexts(assignment, stations)
        refusals += _refusals(records, after, contexts, max(now, assignment.valid_from), now)[0]
    if refusals:
        raise ValidationError({NON_FIELD_ERRORS: [_notice_message(refusals) + " " + _(
            "To raise it more, create a new tariff and assign it from %(earliest)s or later.") % {
            "earliest": _local(refusals[0][1].earliest_valid_from)}]}, code="price_increase_notice")


def tariff_update_check(*, tariff: Tariff, changes: dict, now: datetime) -> None:
    """Raise the ValidationError ``tariff_update`` would raise, writing nothing."""
    current = Tariff.objects.get(pk=tariff.pk)
    edited = _edited(current, changes)
    _check_edit(current, edited, _changed(current, edited, changes), now)


def _changed(current: Tariff, edited: Tariff, changes: dict) -> list[str]:
    return [name for name in changes if name not in ("currency", "organization")
            and getattr(current, name) != getattr(edited, name)]


@transaction.atomic
def tariff_update(*, tariff: Tariff, changes: dict, acting_user: User | None, reason: str,
                  now: datetime) -> Tariff:
    """Change a tariff's name, active flag or prices (``changes``: field → new value). Price changes apply from
    ``now`` and pass the notice rule wherever the tariff is in force or scheduled; the old prices are kept as a
    revision. Audited with old and new values."""
    _require_reason(reason)
    current = Tariff.objects.select_for_update().get(pk=tariff.pk)
    edited = _edited(current, changes)
    changed = _changed(current, edited, changes)
    if not changed:
        return current
    _check_edit(current, edited, changed, now)
    if any(name in Tariff.PRICE_FIELDS for name in changed):
        TariffRevision.objects.create(tariff=current, replaced_at=now,
                                      prices=pricing.tariff_snapshot(current.to_pricing()))
        edited.updated_at = now
    edited.save()
    audit.record(action="tariff.changed", target=edited, acting_user=acting_user, reason=reason, at=now,
                 changes={name: (getattr(current, name), getattr(edited, name)) for name in changed})
    return edited


# --- Stations and contexts a change reaches -----------------------------------------------------------------------
def _stations(*, organization_id: int, charge_point: ChargePoint | None, location: Location | None,
              ) -> list[ChargePoint]:
    if charge_point is not None:
        return [charge_point]
    stations = ChargePoint.objects.filter(decommissioned_at__isnull=True).prefetch_related("evses")
    if location is not None:
        return list(stations.filter(location=location))
    return list(stations.filter(organization_id=organization_id))


def _stations_of(assignment: TariffAssignment) -> list[ChargePoint]:
    return _stations(organization_id=assignment.organization_id, charge_point=assignment.charge_point,
                     location=assignment.location)


def _stations_of_all(assignments: list[TariffAssignment]) -> dict[int, ChargePoint]:
    stations: dict[int, ChargePoint] = {}
    for assignment in assignments:
        for station in _stations_of(assignment):
            stations.setdefault(station.pk, station)
    return stations


def _contexts(assignment: TariffAssignment, stations: dict[int, ChargePoint] | list[ChargePoint]
              ) -> list[StationContext]:
    groups = frozenset() if assignment.user_group_id is None else frozenset({assignment.user_group_id})
    pool = stations if isinstance(stations, dict) else {station.pk: station for station in stations}
    contexts = []
    for station in _stations_of(assignment):
        station = pool.get(station.pk, station)
        contexts += station_contexts(station, group_ids=groups, evse=assignment.evse)
    return contexts


def _refusals(before: list[AssignmentRecord], after: list[AssignmentRecord], contexts: list[StationContext],
              effective_at: datetime, now: datetime
              ) -> tuple[list[tuple[StationContext, PriceIncreaseCheck]], list[str]]:
    """Where the change makes another tariff apply at ``effective_at``: the notice rule's refusals, and the
    stations whose tariff in force has another currency."""
    refusals, currency_clashes = [], []
    for context in contexts:
        new = resolve(after, context, effective_at)
        old = resolve(before, context, effective_at)
        if new is None or (old is not None and old.record.id == new.record.id and old.tariff == new.tariff):
            continue
        if old is not None and old.tariff.currency != new.tariff.currency:
            currency_clashes.append(_("%(station)s charges in %(currency)s") % {
                "station": context.label, "currency": old.tariff.currency})
            continue
        recent = tariffs_in_force(before, context, now - LOOKBACK_PERIOD, now)
        check = check_tariff_change(recent_tariffs=recent, new_tariff=new.tariff, valid_from=effective_at, now=now)
        if not check.allowed:
            refusals.append((context, check))
    return refusals, currency_clashes


def _price_text(price) -> str:
    """A price per kWh with its significant decimals, at least two (4,00; 4,2875)."""
    normalized = price.normalize()
    if normalized.as_tuple().exponent > -2:
        normalized = normalized.quantize(Decimal("0.01"))
    return number_format(normalized)


def _notice_message(refusals: list[tuple[StationContext, PriceIncreaseCheck]]) -> str:
    check = refusals[0][1]
    params = dict(check.params)
    if "earliest" in params:
        params["earliest"] = _local(check.earliest_valid_from)
    for key in ("new", "highest"):
        if key in params:
            params[key] = _price_text(params[key])
    labels: list[str] = []
    for context, _check in refusals:
        if context.label not in labels:
            labels.append(context.label)
    stations = ", ".join(labels[:3]) + (" …" if len(labels) > 3 else "")
    return _("%(stations)s: %(rule)s") % {"stations": stations, "rule": _(check.template) % params}


def _rule_errors(before, after, contexts, effective_at, now, field: str) -> None:
    refusals, clashes = _refusals(before, after, contexts, effective_at, now)
    if clashes:
        raise ValidationError({"tariff": _("A station's tariffs must share one currency: %(stations)s.") % {
            "stations": "; ".join(clashes[:3])}})
    if refusals:
        raise ValidationError({field: _notice_message(refusals)}, code="price_increase_notice")


# --- Assignments --------------------------------------------------------------------------------------------------
def _target(*, tariff: Tariff, charge_point: ChargePoint | None, evse: Evse | None, location: Location | None,
            user_group: UserGroup | None, organization: Organization | None, valid_from: datetime,
            now: datetime) -> TariffAssignment:
    """The unsaved assignment, its target checked."""
    errors: dict[str, str] = {}
    if evse is not None:
        if charge_point is None:
            charge_point = evse.charge_point
        elif evse.charge_point_id != charge_point.pk:
            errors["evse"] = _("The EVSE belongs to another charge point.")
    if location is not None and charge_point is not None:
        errors["location"] = _("Choose a charge point or a location, not both.")
    if location is not None and user_group is not None:
        errors["user_group"] = _("A user group's price applies at a charge point or at all the owner's stations, "
                                 "not at a location.")
    if charge_point is not None:
        owner = charge_point.organization
        if charge_point.is_decommissioned:
            errors["charge_point"] = _("The charge point is decommissioned.")
    elif location is not None:
        owner = location.organization
    elif user_group is not None:
        owner = user_group.organization
    else:
        owner = organization
    if owner is None:
        raise ValidationError({NON_FIELD_ERRORS: _("Choose where the tariff applies: a charge point (or EVSE), a "
                                                   "location, a user group, or an organization for its default.")})
    if organization is not None and organization.pk != owner.pk:
        errors["organization"] = _("The chosen target belongs to %(owner)s.") % {"owner": owner}
    if user_group is not None and user_group.organization_id != owner.pk:
        errors["user_group"] = _("The group belongs to another organization than the station.")
    if tariff.organization_id != owner.pk:
        errors["tariff"] = _("The tariff belongs to %(tariff_owner)s; the stations belong to %(owner)s.") % {
            "tariff_owner": tariff.organization, "owner": owner}
    elif not tariff.is_active:
        errors["tariff"] = _("The tariff is not active.")
    _aware(valid_from, "valid_from")
    if valid_from < now - BACKDATE_GRACE:
        errors["valid_from"] = _("Valid from cannot lie in the past: a price change never reprices charging that "
                                 "has already happened.")
    if errors:
        raise ValidationError(errors)
    level, key = TariffAssignment.level_and_key(
        organization_id=owner.pk, charge_point_id=None if charge_point is None else charge_point.pk,
        evse_id=None if evse is None else evse.pk, location_id=None if location is None else location.pk,
        user_group_id=None if user_group is None else user_group.pk)
    return TariffAssignment(organization=owner, tariff=tariff, valid_from=valid_from, charge_point=charge_point,
                            evse=evse, location=location, user_group=user_group, level=level, target_key=key,
                            created_at=now)


def _check_assignment(assignment: TariffAssignment, now: datetime) -> None:
    if TariffAssignment.objects.filter(target_key=assignment.target_key, valid_from=assignment.valid_from).exists():
        raise ValidationError({"valid_from": _("This target already has a tariff starting at that time.")})
    stations = _stations_of(assignment)
    records, versions = assignment_records(stations, extra_tariffs=[assignment.tariff])
    new = record_of(assignment, versions[assignment.tariff_id])
    new = replace(new, id=_UNSAVED)
    _rule_errors(records, [*records, new], _contexts(assignment, stations), assignment.valid_from, now,
                 "valid_from")


def tariff_assign_check(*, tariff: Tariff, valid_from: datetime, charge_point: ChargePoint | None = None,
                        evse: Evse | None = None, location: Location | None = None,
                        user_group: UserGroup | None = None, organization: Organization | None = None,
                        now: datetime) -> TariffAssignment:
    """The unsaved assignment ``tariff_assign`` would write, or its ValidationError."""
    assignment = _target(tariff=tariff, charge_point=charge_point, evse=evse, location=location,
                         user_group=user_group, organization=organization, valid_from=valid_from, now=now)
    _check_assignment(assignment, now)
    return assignment


@transaction.atomic
def tariff_assign(*, tariff: Tariff, valid_from: datetime, charge_point: ChargePoint | None = None,
                  evse: Evse | None = None, location: Location | None = None, user_group: UserGroup | None = None,
                  organization: Organization | None = None, acting_user: User | None, reason: str,
                  now: datetime) -> TariffAssignment:
    """Make ``tariff`` apply from ``valid_from`` at one target: a charge point (optionally one EVSE), a location, a
    user group at a charge point/EVSE or (with no station) at all its organization's stations, or (only
    ``organization``) as the organization's default. Checked by the notice rule."""
    _require_reason(reason)
    assignment = _target(tariff=tariff, charge_point=charge_point, evse=evse, location=location,
                         user_group=user_group, organization=organization, valid_from=valid_from, now=now)
    # One change at a time per owner, so two concurrent assignments cannot each pass the rule on stale data.
    Organization.objects.select_for_update().filter(pk=assignment.organization_id).first()
    _check_assignment(assignment, now)
    assignment.save()
    audit.record(action="tariffassignment.created", target=assignment, acting_user=acting_user, reason=reason, at=now,
                 changes={"tariff": (None, tariff.pk), "target": (None, assignment.target_label()),
                          "valid_from": (None, assignment.valid_from.isoformat())})
    return assignment


def _check_end(assignment: TariffAssignment, at: datetime, now: datetime) -> None:
    _aware(at, "valid_until")
    end = effective_end(assignment)
    if end is not None and end <= now:
        raise ValidationError({"valid_until": _("The assignment is no longer in force.")})
    if at <= assignment.valid_from:
        raise ValidationError({"valid_until": _("The end must come after the start (%(start)s).") % {
            "start": _local(assignment.valid_from)}})
    if at < now - BACKDATE_GRACE:
        raise ValidationError({"valid_until": _("The end cannot lie in the past.")})
    successor = getattr(assignment, "replaced_at", None)
    if successor is not None and at > successor:
        raise ValidationError({"valid_until": _("A later assignment of the same target takes over at %(start)s; "
                                                "end this one before that or remove the later one.") % {
            "start": _local(successor)}})
    stations = _stations_of(assignment)
    records, _versions = assignment_records(stations)
    after = [replace(record, valid_until=at) if record.id == assignment.pk else record for record in records]
    _rule_errors(records, after, _contexts(assignment, stations), at, now, "valid_until")


def assignment_end_check(*, assignment: TariffAssignment, at: datetime, now: datetime) -> None:
    """Raise the ValidationError ``assignment_end`` would raise, writing nothing."""
    _check_end(with_effective_end(TariffAssignment.objects.all()).get(pk=assignment.pk), at, now)


@transaction.atomic
def assignment_end(*, assignment: TariffAssignment, at: datetime, acting_user: User | None, reason: str,
                   now: datetime) -> TariffAssignment:
    """End an assignment at ``at``: from then its target has no tariff of its own and the next level applies,
    which passes the notice rule like a new assignment."""
    _require_reason(reason)
    locked = with_effective_end(TariffAssignment.objects.select_for_update()).get(pk=assignment.pk)
    Organization.objects.select_for_update().filter(pk=locked.organization_id).first()
    _check_end(locked, at, now)
    old = locked.valid_until
    locked.valid_until = at
    locked.save(update_fields=["valid_until"])
    audit.record(action="tariffassignment.ended", target=locked, acting_user=acting_user, reason=reason, at=now,
                 changes={"valid_until": (None if old is None else old.isoformat(), at.isoformat())})
    return locked


@transaction.atomic
def assignment_remove(*, assignment: TariffAssignment, acting_user: User | None, reason: str,
                      now: datetime) -> None:
    """Delete an assignment that has not taken effect yet (one already in force is ended instead, so the
    history of what applied stays)."""
    _require_reason(reason)
    locked = TariffAssignment.objects.select_for_update().select_related("tariff").get(pk=assignment.pk)
    if locked.valid_from <= now:
        raise ValidationError(_("Only an assignment that has not taken effect yet can be removed; end this one "
                                "instead."))
    audit.record(action="tariffassignment.removed", target=locked, acting_user=acting_user, reason=reason, at=now,
                 changes={"tariff": (locked.tariff_id, None), "target": (locked.target_label(), None),
                          "valid_from": (locked.valid_from.isoformat(), None)})
    locked.delete()
