"""Putting charge points into the system in bulk and moving them: rows of a CSV import (checked, then registered),
cloning a station's set-up to new identities, and moving a station to another organization.

Registration here has the semantics of ``stations.charge_point_register`` (a full_clean()ed, Accepted station
without an AuthorizationKey, one "chargepoint.registered" audit row) but takes the whole EVSE/connector layout,
since imports and clones carry EVSE-IDs, connector types and several connectors per EVSE. Commissioning through
the Connect API registers the same way with a new AuthorizationKey, and changes a station's name, site, access mode
and EVSE-IDs afterwards.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _

from accounts import identifiers
from accounts.models import Organization, User
from accounts.selectors import organizations_visible_to
from accounts.services import audit
from charging import access
from charging.models import ChargePoint, Connector, Evse, Location
from charging.services.access import charge_point_access_set
from charging.services.stations import generate_auth_key, hash_auth_key

#: The file's columns, in the order of the export. The first seven must be present in an import.
IMPORT_COLUMNS = ("identity", "serial_number", "display_name", "organization", "location", "evse_ids", "connectors",
                  "system_name", "locked_box", "access_mode")
REQUIRED_COLUMNS = IMPORT_COLUMNS[:7]
#: Separates EVSEs in the evse_ids and connectors columns; "+" separates the connectors of one EVSE.
EVSE_SEPARATOR, CONNECTOR_SEPARATOR = ";", "+"
#: OCPP 1.6 identifierString (the charge box identity): letters, digits and * - _ = : + | @ .
_IDENTITY = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")
#: eMI3 / ISO 15118 EVSE-ID: country, operator, "E", the EVSE's own part (the "*" separators are optional).
_EVSE_ID = re.compile(r"^[A-Z]{2}(\*?)[A-Z0-9]{3}\1E[A-Z0-9*]{1,30}$")
_DC_STANDARDS = {Connector.Standard.CCS2, Connector.Standard.CHADEMO}
_TRUE = {"1", "yes", "y", "true", "x", "ja", "j", "sant"}
_FALSE = {"", "0", "no", "n", "false", "nej", "falskt"}
#: Bounds the work (and the audit log) one clone request can cause.
MAX_CLONES = 100


@dataclass(frozen=True)
class EvseLayout:
    """One EVSE to create: its public EVSE-ID (may be blank), current, power and connector types in order."""

    connectors: tuple[str, ...]
    public_id: str = ""
    current_type: str = Evse.CurrentType.AC
    max_power_w: int = 11_000


@dataclass(frozen=True)
class StationImportRow:
    """One checked row of an import file, ready to register."""

    identity: str
    organization: Organization
    location: Location | None
    layout: tuple[EvseLayout, ...]
    serial_number: str = ""
    display_name: str = ""
    system_name: str = ""
    locked_box: bool = False
    access_mode: str = ChargePoint.AccessMode.PRIVATE


@dataclass
class ImportSeen:
    """What earlier rows of the same file used, to report duplicates with the row that had them first."""

    identities: dict[str, int] = field(default_factory=dict)
    evse_ids: dict[str, int] = field(default_factory=dict)
    #: Owners and sites already looked up for this file (most rows of a file name the same few).
    organizations: dict[str, tuple[Organization | None, str | None]] = field(default_factory=dict)
    locations: dict[tuple[int, str], Location | None] = field(default_factory=dict)


def identity_error(identity: str) -> str | None:
    """Why ``identity`` cannot be a charge point's OCPP identity, or None when it can."""
    if not identity:
        return _("The identity is empty.")
    if not _IDENTITY.match(identity):
        return _("“%(identity)s” is not a valid OCPP identity: 1 to 48 letters, digits or * - _ = : + | @ . "
                 "(no spaces or slashes).") % {"identity": identity}
    return None


def _text(values: Mapping[str, object], column: str) -> str:
    value = values.get(column)
    return "" if value is None else str(value).strip()


def _split(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator)] if text else []


def _connector_standard(raw: str) -> str | None:
    wanted = re.sub(r"[\s_\-]", "", raw).lower()
    for value in Connector.Standard.values:
        if value.lower() == wanted:
            return value
    return None


def _parse_bool(raw: str) -> bool | None:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _parse_access_mode(raw: str) -> str | None:
    lowered = raw.lower()
    if not lowered:
        return ChargePoint.AccessMode.PRIVATE
    aliases = {"privat": ChargePoint.AccessMode.PRIVATE, "publik": ChargePoint.AccessMode.PUBLIC,
               "offentlig": ChargePoint.AccessMode.PUBLIC}
    if lowered in aliases:
        return aliases[lowered]
    for value, label in ChargePoint.AccessMode.choices:
        if lowered in (value, str(label).lower()):
            return value
    return None


def _find_organization(raw: str, importer: User) -> tuple[Organization | None, str | None]:
    visible = organizations_visible_to(importer)
    try:
        by_number = identifiers.normalize_swedish_org_number(raw)
    except ValueError:
        by_number = None
    lookup = (Q(name__iexact=raw) | Q(org_number=by_number)) if by_number else Q(name__iexact=raw)
    found = list(visible.filter(lookup)[:2])
    if not found:
        # Deliberately the same words whether it does not exist or is another tenant's.
        return None, _("No organization “%(org)s” that you may manage (give its organisation number or exact "
                       "name).") % {"org": raw}
    if len(found) > 1:
        return None, _("Several organizations are called “%(org)s”; give the organisation number.") % {"org": raw}
    return found[0], None


def import_row_check(*, values: Mapping[str, object], importer: User, seen: ImportSeen,
                     row_number: int) -> StationImportRow:
    """Check one row of an import file and return it parsed, or raise ValidationError keyed by column.

    ``seen`` remembers identities and EVSE-IDs of earlier rows of the same file (it is updated here), so a value
    repeated within the file is reported as well as one that exists already.
    """
    errors: dict[str, list[str]] = {}

    def error(column: str, message: str) -> None:
        errors.setdefault(column, []).append(message)

    identity = _text(values, "identity")
    problem = identity_error(identity)
    if problem:
        error("identity", problem)
    else:
        if identity in seen.identities:
            error("identity", _("%(identity)s appears twice in the file (first on row %(row)d).") % {
                "identity": identity, "row": seen.identities[identity]})
        else:
            seen.identities[identity] = row_number
            # An earlier row of a dry run is in the database by now: that one was reported as a repeat above.
            if ChargePoint.objects.filter(identity=identity).exists():
                error("identity", _("A charge point with identity %(identity)s exists already.") % {
                    "identity": identity})

    organization, location = None, None
    org_text = _text(values, "organization")
    if not org_text:
        error("organization", _("Give the owner's organisation number or name."))
    else:
        if org_text not in seen.organizations:
            seen.organizations[org_text] = _find_organization(org_text, importer)
        organization, problem = seen.organizations[org_text]
        if problem:
            error("organization", problem)
    location_text = _text(values, "location")
    if location_text and organization is not None:
        key = (organization.pk, location_text.lower())
        if key not in seen.locations:
            seen.locations[key] = Location.objects.filter(organization=organization,
                                                          name__iexact=location_text).first()
        location = seen.locations[key]
        if location is None:
            error("location", _("%(org)s has no location called “%(location)s”.") % {
                "org": organization, "location": location_text})

    connector_groups = _split(_text(values, "connectors"), EVSE_SEPARATOR)
    evse_ids = [public_id.upper() for public_id in _split(_text(values, "evse_ids"), EVSE_SEPARATOR)]
    standards: list[tuple[str, ...]] = []
    if not connector_groups:
        error("connectors", _("Give the connector type of each EVSE, e.g. Type2;Type2."))
    for number, group in enumerate(connector_groups, 1):
        types = []
        if not group:
            error("connectors", _("EVSE %(n)d has no connector type.") % {"n": number})
        for raw in _split(group, CONNECTOR_SEPARATOR):
            standard = _connector_standard(raw)
            if standard is None:
                error("connectors", _("EVSE %(n)d: “%(type)s” is not a connector type (use one of %(types)s).") % {
                    "n": number, "type": raw, "types": ", ".join(Connector.Standard.values)})
            else:
                types.append(standard)
        standards.append(tuple(types))
    if evse_ids and len(evse_ids) != len(connector_groups):
        error("evse_ids", _("%(ids)d EVSE-IDs but %(evses)d EVSEs in the connectors column; give one EVSE-ID per "
                            "EVSE (an empty place for an EVSE without one), or leave the column empty.") % {
            "ids": len(evse_ids), "evses": len(connector_groups)})
    for public_id in evse_ids:
        if not public_id:
            continue  # that EVSE has no public EVSE-ID
        if not _EVSE_ID.match(public_id):
            error("evse_ids", _("“%(id)s” is not an EVSE-ID (e.g. SE*ABC*E0001).") % {"id": public_id})
        elif public_id in seen.evse_ids:
            error("evse_ids", _("%(id)s appears twice in the file (first on row %(row)d).") % {
                "id": public_id, "row": seen.evse_ids[public_id]})
        else:
            seen.evse_ids[public_id] = row_number
    given = [public_id for public_id in evse_ids if public_id]
    taken = sorted(Evse.objects.filter(public_id__in=given).values_list("public_id", flat=True)) if given else []
    if taken:
        error("evse_ids", _("EVSE-IDs in use already: %(ids)s.") % {"ids": ", ".join(taken)})

    locked_box = _parse_bool(_text(values, "locked_box"))
    if locked_box is None:
        error("locked_box", _("Write yes or no."))
    access_mode = _parse_access_mode(_text(values, "access_mode"))
    if access_mode is None:
        error("access_mode", _("Write private or public."))
    texts = {}
    for column in ("serial_number", "display_name", "system_name"):
        texts[column] = _text(values, column)
        limit = ChargePoint._meta.get_field(column).max_length
        if len(texts[column]) > limit:
            error(column, _("At most %(limit)d characters.") % {"limit": limit})
    if errors:
        raise ValidationError(errors)
    layout = tuple(
        EvseLayout(connectors=types, public_id=evse_ids[index] if evse_ids else "",
                   current_type=Evse.CurrentType.DC if _DC_STANDARDS & set(types) else Evse.CurrentType.AC)
        for index, types in enumerate(standards))
    return StationImportRow(identity=identity, organization=organization, location=location, layout=layout,
                            locked_box=locked_box, access_mode=access_mode, **texts)


def _register(*, identity: str, organization: Organization, layout: tuple[EvseLayout, ...] | list[EvseLayout],
              acting_user: User | None, reason: str, extra_changes: dict | None = None, **details) -> ChargePoint:
    """Create a station with its EVSEs and connectors; one audit row. Runs inside the caller's transaction."""
    if ChargePoint.objects.filter(identity=identity).exists():
        raise ValidationError({"identity": _("A charge point with identity %(identity)s exists already.") % {
            "identity": identity}})
    charge_point = ChargePoint(identity=identity, organization=organization, **details)
    charge_point.full_clean()
    charge_point.save()
    evses = Evse.objects.bulk_create([
        Evse(charge_point=charge_point, evse_id=number, public_id=spec.public_id, current_type=spec.current_type,
             max_power_w=spec.max_power_w)
        for number, spec in enumerate(layout, 1)])
    Connector.objects.bulk_create([
        Connector(evse=evse, connector_id=position, standard=standard)
        for evse, spec in zip(evses, layout, strict=True) for position, standard in enumerate(spec.connectors, 1)])
    audit.record(action="chargepoint.registered", target=charge_point, acting_user=acting_user, reason=reason,
                 changes={"identity": (None, identity), "evses": (None, len(layout)),
                          "evse_ids": (None, [spec.public_id for spec in layout if spec.public_id]),
                          "connectors": (None, [CONNECTOR_SEPARATOR.join(spec.connectors) for spec in layout]),
                          **(extra_changes or {})})
    return charge_point


@transaction.atomic
def charge_point_import(*, row: StationImportRow, acting_user: User | None, reason: str) -> ChargePoint:
    """Register one checked import row: the station, its EVSEs (with EVSE-IDs) and connectors."""
    # Checked again here: another import may have taken an EVSE-ID since the row was checked.
    public_ids = [spec.public_id for spec in row.layout if spec.public_id]
    if public_ids:
        taken = sorted(Evse.objects.filter(public_id__in=public_ids).values_list("public_id", flat=True))
        if taken:
            raise ValidationError({"evse_ids": _("EVSE-IDs in use already: %(ids)s.") % {"ids": ", ".join(taken)}})
    return _register(identity=row.identity, organization=row.organization, layout=row.layout,
                     acting_user=acting_user, reason=reason, location=row.location,
                     serial_number=row.serial_number, display_name=row.display_name, system_name=row.system_name,
                     locked_box=row.locked_box, access_mode=row.access_mode)


def parse_identities(text: str) -> list[str]:
    """The identities typed one per line (blank lines ignored)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def writable_configuration(configuration: dict) -> dict:
    """The configuration keys a charger reported as writable, in the stored {key: {value, readonly}} shape."""
    return {key: {"value": entry.get("value"), "readonly": False}
            for key, entry in (configuration or {}).items()
            if isinstance(entry, dict) and not entry.get("readonly", True) and entry.get("value") is not None}


@transaction.atomic
def charge_point_clone(*, source: ChargePoint, identities: list[str], acting_user: User | None,
                       reason: str) -> list[ChargePoint]:
    """Create new stations set up like ``source``: owner, site, mode, locked box, heartbeat interval, the EVSE and
    connector layout (types and power; EVSE-IDs are unique, so not copied) and the configuration keys the source
    reported as writable, kept in the clone's ``configuration`` for support to push once the charger connects.

    All or nothing: any invalid, repeated or taken identity raises a ValidationError naming every one of them.
    """
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the charge points are created.")})
    problems = []
    if not identities:
        problems.append(_("Give at least one new identity."))
    if len(identities) > MAX_CLONES:
        problems.append(_("At most %(n)d identities at a time.") % {"n": MAX_CLONES})
    repeated = sorted({identity for identity in identities if identities.count(identity) > 1})
    if repeated:
        problems.append(_("Given more than once: %(ids)s.") % {"ids": ", ".join(repeated)})
    problems += [message for message in map(identity_error, identities) if message]
    taken = sorted(ChargePoint.objects.filter(identity__in=identities).values_list("identity", flat=True))
    if taken:
        problems.append(_("Taken already: %(ids)s.") % {"ids": ", ".join(taken)})
    if problems:
        raise ValidationError({"identities": problems})

    source = ChargePoint.objects.prefetch_related(
        Prefetch("evses", Evse.objects.order_by("evse_id").prefetch_related(
            Prefetch("connectors", Connector.objects.order_by("connector_id"))))).get(pk=source.pk)
    layout = tuple(EvseLayout(connectors=tuple(c.standard for c in evse.connectors.all()),
                              current_type=evse.current_type, max_power_w=evse.max_power_w)
                   for evse in source.evses.all())
    configuration = writable_configuration(source.configuration)
    return [
        _register(identity=identity, organization=source.organization, layout=layout, acting_user=acting_user,
                  reason=reason, extra_changes={"cloned_from": (None, source.identity),
                                                "configuration": (None, sorted(configuration))},
                  location=source.location, access_mode=source.access_mode, locked_box=source.locked_box,
                  heartbeat_interval=source.heartbeat_interval, configuration=configuration)
        for identity in identities]


@transaction.atomic
def charge_point_move(*, charge_point: ChargePoint, organization: Organization, acting_user: User | None,
                      reason: str) -> ChargePoint:
    """Give a station a new owner (operator change). Its site is kept only if it belongs to the new owner.

    Past sessions keep the organization that owned the station when they ran (ChargingSession.organization),
    so the old owner's history and settlements stay as they were.
    """
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the charge point changes owner.")})
    # Lock only the station's row: PostgreSQL refuses FOR UPDATE on the nullable side of the site's outer join.
    charge_point = ChargePoint.objects.select_for_update(of=("self",)).select_related("organization", "location").get(
        pk=charge_point.pk)
    if charge_point.organization_id == organization.pk:
        raise ValidationError(_("%(cp)s belongs to %(org)s already.") % {"cp": charge_point, "org": organization})
    if not organization.is_active:
        raise ValidationError(_("%(org)s is deactivated.") % {"org": organization})
    old_organization, old_location = charge_point.organization, charge_point.location
    charge_point.organization = organization
    if old_location is not None and old_location.organization_id != organization.pk:
        charge_point.location = None
    charge_point.save(update_fields=["organization", "location"])
    changes = {"organization": (old_organization, organization)}
    if charge_point.location != old_location:
        changes["location"] = (old_location, charge_point.location)
    audit.record(action="chargepoint.moved", target=charge_point, acting_user=acting_user, reason=reason,
                 changes=changes)
    return charge_point


@dataclass(frozen=True)
class Commissioned:
    """A station registered through the API, with its AuthorizationKey in clear: shown to the caller once, only
    its hash is stored."""

    charge_point: ChargePoint
    auth_key: str


@transaction.atomic
def charge_point_commission(*, identity: str, organization: Organization, location: Location | None,
                            layout: list[EvseLayout], display_name: str = "",
                            access_mode: str = ChargePoint.AccessMode.PRIVATE, ocpp_version: str = "",
                            serial_number: str = "", acting_user: User | None, reason: str) -> Commissioned:
    """Register a station with its EVSEs (EVSE-IDs, connector types) and a new AuthorizationKey (HTTP Basic auth,
    security profile 1/2): one audit row, the key's hash stored, the key itself returned once."""
    errors: dict[str, list[str]] = {}
    problem = identity_error(identity)
    if problem:
        errors.setdefault("identity", []).append(problem)
    if location is not None and location.organization_id != organization.pk:
        errors.setdefault("location", []).append(_("The location belongs to another organization."))
    if not layout:
        errors.setdefault("evses", []).append(_("Give at least one EVSE."))
    public_ids = [spec.public_id for spec in layout if spec.public_id]
    for public_id in public_ids:
        if not _EVSE_ID.match(public_id):
            errors.setdefault("evses", []).append(_("“%(id)s” is not an EVSE-ID (e.g. SE*ABC*E0001).") % {
                "id": public_id})
    repeated = sorted({public_id for public_id in public_ids if public_ids.count(public_id) > 1})
    if repeated:
        errors.setdefault("evses", []).append(_("Given more than once: %(ids)s.") % {"ids": ", ".join(repeated)})
    taken = sorted(Evse.objects.filter(public_id__in=public_ids).values_list("public_id", flat=True))
    if taken:
        errors.setdefault("evses", []).append(_("EVSE-IDs in use already: %(ids)s.") % {"ids": ", ".join(taken)})
    if any(not spec.connectors for spec in layout):
        errors.setdefault("evses", []).append(_("Every EVSE needs at least one connector."))
    if errors:
        raise ValidationError(errors)
    auth_key = generate_auth_key()
    charge_point = _register(identity=identity, organization=organization, layout=layout, acting_user=acting_user,
                             reason=reason, extra_changes={"auth_key": (None, "set")}, location=location,
                             display_name=display_name, access_mode=access_mode, ocpp_version=ocpp_version,
                             serial_number=serial_number, auth_key_hash=hash_auth_key(auth_key))
    return Commissioned(charge_point=charge_point, auth_key=auth_key)


_UNCHANGED = object()


@transaction.atomic
def charge_point_details_update(*, charge_point: ChargePoint, display_name=_UNCHANGED, location=_UNCHANGED,
                                access_mode=_UNCHANGED, evse_ids: Mapping[int, str] | None = None,
                                acting_user: User | None, reason: str, now) -> ChargePoint:
    """Change what commissioning set: the display name, the site (one of the owner's), the access mode (the
    schedule and allowed groups are kept; through ``access.charge_point_access_set``) and EVSE-IDs by EVSE
    number (blank removes one). One audit row with every change; nothing is written when one value is wrong."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the charge point changes.")})
    locked = ChargePoint.objects.select_for_update(of=("self",)).get(pk=charge_point.pk)
    errors: dict[str, list[str]] = {}
    changes: dict = {}
    fields = []
    if display_name is not _UNCHANGED and display_name != locked.display_name:
        if len(display_name) > ChargePoint._meta.get_field("display_name").max_length:
            errors.setdefault("display_name", []).append(_("At most %(limit)d characters.") % {
                "limit": ChargePoint._meta.get_field("display_name").max_length})
        changes["display_name"] = (locked.display_name, display_name)
        locked.display_name = display_name
        fields.append("display_name")
    if location is not _UNCHANGED and (location.pk if location else None) != locked.location_id:
        if location is not None and location.organization_id != locked.organization_id:
            errors.setdefault("location", []).append(_("The location belongs to another organization."))
        changes["location"] = (str(locked.location) if locked.location_id else None,
                               str(location) if location else None)
        locked.location = location
        fields.append("location")
    evses = {evse.evse_id: evse for evse in Evse.objects.select_for_update().filter(charge_point=locked)}
    evse_changes = []
    for number, public_id in (evse_ids or {}).items():
        public_id = (public_id or "").strip().upper()
        evse = evses.get(number)
        if evse is None:
            errors.setdefault("evses", []).append(_("%(cp)s has no EVSE %(n)d.") % {"cp": locked, "n": number})
            continue
        if public_id == evse.public_id:
            continue
        if public_id and not _EVSE_ID.match(public_id):
            errors.setdefault("evses", []).append(_("“%(id)s” is not an EVSE-ID (e.g. SE*ABC*E0001).") % {
                "id": public_id})
            continue
        if public_id and Evse.objects.filter(public_id=public_id).exclude(pk=evse.pk).exists():
            errors.setdefault("evses", []).append(_("EVSE-IDs in use already: %(ids)s.") % {"ids": public_id})
            continue
        changes[f"evse_id.{number}"] = (evse.public_id, public_id)
        evse.public_id = public_id
        evse_changes.append(evse)
    given = [evse.public_id for evse in evse_changes if evse.public_id]
    if len(given) != len(set(given)):
        errors.setdefault("evses", []).append(_("The same EVSE-ID is given to two EVSEs."))
    if access_mode is not _UNCHANGED and access_mode not in ChargePoint.AccessMode.values:
        errors.setdefault("access_mode", []).append(_("Unknown access mode %(mode)s.") % {"mode": access_mode})
    if errors:
        raise ValidationError(errors)
    if fields:
        locked.save(update_fields=fields)
    for evse in evse_changes:
        evse.save(update_fields=["public_id"])
    if changes:
        audit.record(action="chargepoint.details_changed", target=locked, acting_user=acting_user, reason=reason,
                     changes=changes, at=now)
    if access_mode is not _UNCHANGED and access_mode != locked.access_mode:
        locked = charge_point_access_set(charge_point=locked, mode=access_mode,
                                         rules=access.rules_from_data(locked.access_schedule),
                                         allowed_groups=locked.allowed_groups.all(), acting_user=acting_user,
                                         reason=reason, now=now)
    return locked
