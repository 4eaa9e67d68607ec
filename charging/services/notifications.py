"""E-mail to notification groups when an alarm opens.

``alarm_notify`` runs in a Celery task queued after the alarm's transaction commits. It finds the active groups
that cover the alarm (kind, severity, and the station named directly, by site, by owner, or — for a group that
names none of these — every station its organization may see) and writes one e-mail per group, from the templates
in templates/charging/email/. A group never hears about a station its organization may not see, whatever it names.

Rate limit: a group e-mailed about the same station and kind less than ALARM_NOTIFY_MIN_INTERVAL seconds ago gets
a held-back AlarmNotification instead of another e-mail, so a flapping charger does not flood anyone.

Retries: each group's AlarmNotification row is claimed (committed) before its e-mail goes out, under a lock on the
alarm, so a retried or doubled task never mails a group twice; a send that fails removes its claim again and the
task is retried for the groups still owed an e-mail.
"""

import logging
import re
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Organization
from accounts.services import audit
from charging.models import Alarm, AlarmNotification, ChargePoint, NotificationGroup

logger = logging.getLogger(__name__)

_SEPARATORS = re.compile(r"[\s,;]+")


class NotificationFailed(Exception):
    """Some groups' e-mails could not be sent; their claims were removed so a retry sends them."""


def parse_addresses(text: str) -> tuple[list[str], list[str]]:
    """Split addresses written one per line or separated by commas (semicolons and spaces work too). Returns
    (valid addresses without duplicates, in order; the invalid ones as written)."""
    valid, invalid = [], []
    for item in _SEPARATORS.split(text or ""):
        if not item:
            continue
        try:
            validate_email(item)
        except ValidationError:
            invalid.append(item)
            continue
        if item.lower() not in {v.lower() for v in valid}:
            valid.append(item)
    return valid, invalid


def _sees_owner(charge_point: ChargePoint) -> Q:
    """Groups whose organization may see this station's owner (tenancy.organizations_seen_by turned around)."""
    owner = charge_point.organization
    sees = Q(organization__kind=Organization.Kind.OPERATOR) | Q(organization_id=owner.pk)
    if owner.parent_id:
        sees |= Q(organization_id=owner.parent_id)
    return sees


def groups_covering(alarm: Alarm) -> list[NotificationGroup]:
    """The active groups to tell about ``alarm`` (see the module docstring for the rules)."""
    charge_point = alarm.charge_point
    named_stations = NotificationGroup.charge_points.through.objects.filter(notificationgroup_id=OuterRef("pk"))
    named_sites = NotificationGroup.locations.through.objects.filter(notificationgroup_id=OuterRef("pk"))
    named_owners = NotificationGroup.organizations.through.objects.filter(notificationgroup_id=OuterRef("pk"))
    names_it = (Exists(named_stations.filter(chargepoint_id=charge_point.pk))
                | Exists(named_owners.filter(organization_id=charge_point.organization_id)))
    if charge_point.location_id:
        names_it |= Exists(named_sites.filter(location_id=charge_point.location_id))
    names_nothing = ~Exists(named_stations) & ~Exists(named_sites) & ~Exists(named_owners)
    groups = NotificationGroup.objects.filter(is_active=True, min_severity__lte=alarm.severity).filter(
        _sees_owner(charge_point)).filter(names_it | names_nothing).select_related("organization").order_by("pk")
    # kinds is a JSON list; "contains" on JSON is not portable to SQLite, and there are few groups.
    return [group for group in groups if not group.kinds or alarm.kind in group.kinds]


def alarm_notify(*, alarm_id: int, now: datetime) -> list[AlarmNotification]:
    """E-mail each group covering the alarm once (or note that the rate limit held it back). Returns the rows
    written by this call; a repeated call for the same alarm writes and sends nothing."""
    claimed = _claim(alarm_id=alarm_id, now=now)
    failed = []
    for notification in claimed:
        if notification.suppressed:
            continue
        try:
            _send(notification)
        except Exception:
            logger.exception("Alarm %s: e-mail to group %s failed", alarm_id, notification.group_id)
            notification.delete()
            failed.append(notification.group_id)
    if failed:
        raise NotificationFailed(f"Alarm {alarm_id}: e-mail to group(s) {failed} failed")
    return claimed


@transaction.atomic
def _claim(*, alarm_id: int, now: datetime) -> list[AlarmNotification]:
    # The lock on the alarm makes a second copy of the task wait here and then find every group already claimed.
    alarm = Alarm.objects.select_for_update().filter(pk=alarm_id).first()
    if alarm is None:
        return []
    alarm = Alarm.objects.select_related("charge_point__organization", "charge_point__location").get(pk=alarm.pk)
    already = set(AlarmNotification.objects.filter(alarm=alarm).values_list("group_id", flat=True))
    groups = [group for group in groups_covering(alarm) if group.pk not in already]
    if not groups:
        return []
    since = now - timedelta(seconds=settings.ALARM_NOTIFY_MIN_INTERVAL)
    recently_told = set(AlarmNotification.objects.filter(
        group__in=groups, charge_point_id=alarm.charge_point_id, kind=alarm.kind, suppressed=False, at__gt=since,
    ).values_list("group_id", flat=True))
    rows = []
    for group in groups:
        addresses, invalid = parse_addresses(group.emails)
        if invalid:
            logger.warning("Notification group %s has invalid addresses %s", group.pk, invalid)
        if not addresses:
            logger.warning("Notification group %s has no valid address: alarm %s not sent", group.pk, alarm.pk)
            continue
        row = AlarmNotification(alarm=alarm, group=group, charge_point_id=alarm.charge_point_id, kind=alarm.kind,
                                recipients=", ".join(addresses), suppressed=group.pk in recently_told, at=now)
        rows.append(row)
    AlarmNotification.objects.bulk_create(rows)
    return rows


def _send(notification: AlarmNotification) -> None:
    group, alarm = notification.group, notification.alarm
    # In the group's language, with times in the station's time zone.
    with translation.override(group.organization.locale or settings.LANGUAGE_CODE), \
            timezone.override(station_time_zone(alarm.charge_point)):
        context = {**email_context(alarm), "group": group}
        subject = " ".join(render_to_string("charging/email/alarm_subject.txt", context).split())
        body = render_to_string("charging/email/alarm_body.txt", context)
    EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL,
                 to=notification.recipients.split(", ")).send()


def station_time_zone(charge_point: ChargePoint) -> zoneinfo.ZoneInfo:
    """The site's time zone (TIME_ZONE without a site, or with one Python does not know)."""
    location = charge_point.location
    try:
        return zoneinfo.ZoneInfo(location.time_zone if location is not None else settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def email_context(alarm: Alarm) -> dict:
    """What the alarm e-mail shows: the station, its owner and site, the alarm and links to the admin pages.
    Build and render it inside translation.override / timezone.override of the reader."""
    charge_point = alarm.charge_point
    location = charge_point.location
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    address = ""
    if location is not None:
        town = " ".join(filter(None, [location.postal_code, location.city]))
        address = ", ".join(filter(None, [location.street_address, town]))
    return {
        "alarm": alarm,
        "charge_point": charge_point,
        "station_name": charge_point.display_name or charge_point.identity,
        "owner": charge_point.organization,
        "location": location,
        "address": address,
        "kind": alarm.get_kind_display(),
        "severity": alarm.get_severity_display(),
        "time_zone": timezone.get_current_timezone_name(),
        "alarm_url": base + reverse("admin:charging_alarm_change", args=[alarm.pk]),
        "station_url": base + reverse("admin:charging_chargepoint_change", args=[charge_point.pk]),
    }


@transaction.atomic
def notification_group_create(*, organization: Organization, name: str, emails: str, kinds: list[str] | None = None,
                              min_severity: int = Alarm.Severity.WARNING, acting_user, reason: str
                              ) -> NotificationGroup:
    """A group covering every station ``organization`` may see (name stations, sites or owners in the admin to
    narrow it)."""
    valid, invalid = parse_addresses(emails)
    if invalid or not valid:
        raise ValidationError({"emails": _("Not e-mail addresses: %(bad)s") % {"bad": ", ".join(invalid)}
                               if invalid else _("Give at least one e-mail address.")})
    unknown = set(kinds or []) - set(Alarm.Kind.values)
    if unknown:
        raise ValidationError({"kinds": _("Unknown alarm kinds: %(kinds)s") % {"kinds": ", ".join(sorted(unknown))}})
    group = NotificationGroup.objects.create(organization=organization, name=name, emails="\n".join(valid),
                                             kinds=list(kinds or []), min_severity=min_severity)
    audit.record(action="notificationgroup.created", target=group, acting_user=acting_user, reason=reason,
                 changes={"emails": (None, group.emails), "kinds": (None, group.kinds)})
    return group
