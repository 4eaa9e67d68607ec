"""Access settings of charge points and EVSEs, the record of mode switches, and charging keys for guests.

- ``charge_point_access_set``: mode, weekly schedule and allowed user groups, checked by ``charging.access``;
- ``evse_access_mode_set``: an EVSE's own mode (or none: it follows its charge point);
- ``access_modes_sync``: run every minute; stores the mode in force now on each charge point whose schedule
  switched (``current_access_mode``, ``access_mode_since``) with an audit row per switch, so lists and publication
  (OCPI, later) follow the schedule within a minute. Authorization never waits for it: it evaluates the schedule
  at the instant of each request;
- ``charging_key_issue`` / ``charging_key_revoke``: key-code ID tokens for guests with a validity window.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from accounts.models import IdToken, Organization, User, UserGroup
from accounts.services import audit, tokens
from charging import access
from charging.models import ChargePoint, ChargingKey, Evse
from charging.selectors import access as selectors


def schedule_error_message(error: access.ScheduleError) -> str:
    """The engine's English message, translated for the person reading the form."""
    return _(error.template) % error.params


def _describe(data: list) -> list[str]:
    try:
        return [rule.describe() for rule in access.rules_from_data(data)]
    except access.ScheduleError:
        return [str(item) for item in data]


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})


def _mode(value: str, field: str) -> access.AccessMode:
    try:
        return access.AccessMode(value)
    except ValueError:
        raise ValidationError({field: _("Unknown access mode %(mode)s.") % {"mode": value}}) from None


def _switch(charge_point: ChargePoint, *, now: datetime, acting_user: User | None, reason: str) -> bool:
    """Store the mode in force at ``now`` on the (locked) charge point; True when it changed."""
    mode = selectors.charge_point_mode(charge_point, now)
    old = charge_point.current_access_mode
    if old == mode:
        return False
    charge_point.current_access_mode = mode.value
    charge_point.access_mode_since = now
    charge_point.save(update_fields=["current_access_mode", "access_mode_since"])
    audit.record(action="chargepoint.access_mode_switched", target=charge_point, acting_user=acting_user,
                 reason=reason, changes={"current_access_mode": (old, mode.value)}, at=now)
    return True


@transaction.atomic
def charge_point_access_set(*, charge_point: ChargePoint, mode: str, rules: Sequence[access.ScheduleRule],
                            allowed_groups: Iterable[UserGroup], acting_user: User | None, reason: str,
                            now: datetime) -> ChargePoint:
    """Set the mode outside the schedule, the schedule's rules and the user groups a private station is limited to.

    The mode in force now is stored at once (and audited as a switch if it changed)."""
    _require_reason(reason)
    locked = ChargePoint.objects.select_for_update(of=("self",)).select_related("location").get(pk=charge_point.pk)
    mode = _mode(mode, "access_mode")
    try:
        access.WeeklySchedule(default_mode=mode, rules=tuple(rules), time_zone=selectors.time_zone_of(locked))
    except access.ScheduleError as exc:
        raise ValidationError({"access_schedule": schedule_error_message(exc)}) from exc
    groups = list(allowed_groups)
    foreign = sorted(str(group) for group in groups if group.organization_id != locked.organization_id)
    if foreign:
        raise ValidationError({"allowed_groups": _("Not groups of %(org)s: %(groups)s") % {
            "org": locked.organization, "groups": ", ".join(foreign)}})
    schedule = [access.rule_to_data(rule) for rule in rules]
    old_groups = sorted(locked.allowed_groups.values_list("pk", flat=True))
    new_groups = sorted(group.pk for group in groups)
    changes = {name: (old, new) for name, old, new in (
        ("access_mode", locked.access_mode, mode.value), ("access_schedule", locked.access_schedule, schedule),
        ("allowed_groups", old_groups, new_groups)) if old != new}
    if not changes:
        return locked
    if "access_schedule" in changes:  # the History page shows rules as sentences, not JSON
        changes["access_schedule"] = (_describe(locked.access_schedule), [rule.describe() for rule in rules])
    locked.access_mode, locked.access_schedule = mode.value, schedule
    locked.save(update_fields=["access_mode", "access_schedule"])
    if "allowed_groups" in changes:
        locked.allowed_groups.set(groups)
    audit.record(action="chargepoint.access_changed", target=locked, acting_user=acting_user, reason=reason,
                 changes=changes, at=now)
    _switch(locked, now=now, acting_user=acting_user, reason=reason)
    return locked


@transaction.atomic
def evse_access_mode_set(*, evse: Evse, mode: str, acting_user: User | None, reason: str) -> Evse:
    """Give one EVSE its own mode, or ``""`` to follow its charge point (and its schedule) again."""
    _require_reason(reason)
    locked = Evse.objects.select_for_update(of=("self",)).select_related("charge_point").get(pk=evse.pk)
    value = _mode(mode, "access_mode").value if mode else ""
    if locked.access_mode == value:
        return locked
    old = locked.access_mode
    locked.access_mode = value
    locked.save(update_fields=["access_mode"])
    audit.record(action="evse.access_mode_changed", target=locked, acting_user=acting_user, reason=reason,
                 organization=locked.charge_point.organization, changes={"access_mode": (old, value)})
    return locked


def access_modes_sync(*, now: datetime) -> int:
    """Record the mode in force at ``now`` on every charge point whose schedule (or mode) switched it; returns how
    many switched. Each switch is its own transaction, so one station's trouble never holds back the rest."""
    candidates = ChargePoint.objects.filter(~Q(access_schedule=[]) | ~Q(current_access_mode=F("access_mode")))
    switched = 0
    for charge_point in candidates.select_related("location").only(
            "identity", "organization", "access_mode", "access_schedule", "current_access_mode", "location",
            "location__time_zone").iterator(chunk_size=500):
        if selectors.charge_point_mode(charge_point, now) == charge_point.current_access_mode:
            continue
        with transaction.atomic():
            locked = ChargePoint.objects.select_for_update(of=("self",)).select_related("location").get(
                pk=charge_point.pk)
            switched += _switch(locked, now=now, acting_user=None, reason=_("Weekly access schedule"))
    return switched


# --- Charging keys -----------------------------------------------------------------------------------------------

def _new_key_code() -> str:
    for _attempt in range(10):
        code = access.random_public_code()
        if not IdToken.objects.filter(uid=code).exists():
            return code
    raise ValidationError({"code": _("No free key code was found; try again.")})


@transaction.atomic
def charging_key_issue(*, organization: Organization, guest_name: str, valid_from: datetime, valid_until: datetime,
                       charge_points: Iterable[ChargePoint] = (), code: str = "", guest_contact: str = "",
                       note: str = "", acting_user: User | None, reason: str, now: datetime) -> ChargingKey:
    """Issue a key code to a guest, valid from ``valid_from`` until ``valid_until`` (at the organization's public
    and semi-public charge points, or only at ``charge_points``). ``code`` empty: a random one."""
    _require_reason(reason)
    errors = {}
    if not guest_name.strip():
        errors["guest_name"] = _("Name the guest the key is for.")
    if valid_until <= valid_from:
        errors["valid_until"] = _("The key must end after it starts.")
    elif valid_until <= now:
        errors["valid_until"] = _("The key would already have ended.")
    stations = list(charge_points)
    foreign = sorted(str(cp) for cp in stations if cp.organization_id != organization.pk)
    if foreign:
        errors["charge_points"] = _("Not charge points of %(org)s: %(stations)s") % {
            "org": organization, "stations": ", ".join(foreign)}
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            token = tokens.id_token_issue(organization=organization, uid=code.strip() or _new_key_code(),
                                          type=IdToken.Type.KEY_CODE, valid_until=valid_until,
                                          acting_user=acting_user, reason=reason)
    except ValidationError as exc:
        raise ValidationError({"code": exc.messages}) from exc
    except IntegrityError as exc:  # the same code issued a moment ago by someone else
        raise ValidationError({"code": _("This code was just taken; try again.")}) from exc
    key = ChargingKey.objects.create(id_token=token, guest_name=guest_name.strip(),
                                     guest_contact=guest_contact.strip(), valid_from=valid_from, note=note.strip(),
                                     issued_by=acting_user if acting_user is not None and acting_user.pk else None,
                                     issued_at=now)
    key.charge_points.set(stations)
    audit.record(action="chargingkey.issued", target=key, acting_user=acting_user, reason=reason,
                 organization=organization, at=now, changes={
                     "code": (None, token.uid), "guest_name": (None, key.guest_name),
                     "valid_from": (None, valid_from.isoformat()), "valid_until": (None, valid_until.isoformat()),
                     "charge_points": ([], sorted(cp.pk for cp in stations))})
    return key


def charging_key_revoke(*, key: ChargingKey, acting_user: User | None, reason: str, now: datetime) -> ChargingKey:
    """Stop a key at once (its token is blocked; the audit row is the token's)."""
    tokens.id_token_block(token=key.id_token, reason=reason, acting_user=acting_user, now=now)
    key.id_token.refresh_from_db()
    return key
