"""What the operations console keeps about stations beyond what chargers report: alarms and who is told about them,
connect/disconnect history, support notes, field service (tickets and the maintenance plan) and saved list views.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField

from accounts.models import Organization
from charging.models.stations import ChargePoint, Location


class ServerProcess(models.Model):
    """A running OCPP server process (ASGI) and until when it is known to be alive: it renews its row every
    OCPP_PRESENCE_BEAT_SECONDS. The chargers of a process whose row ran out are marked offline by any other
    process (or the offline sweep), so a process that died without a goodbye leaves no charger shown online."""

    name = models.CharField(_("name"), max_length=100, unique=True, help_text=_("host:pid"))
    started_at = models.DateTimeField(_("started"))
    alive_until = models.DateTimeField(_("alive until"), db_index=True)
    chargers = models.PositiveIntegerField(_("connected chargers"), default=0)

    class Meta:
        verbose_name = _("server process")
        verbose_name_plural = _("server processes")
        ordering = ["name"]

    def __str__(self):
        return self.name


class ConnectionEvent(models.Model):
    """A charger's websocket opened or closed (the connectivity history support looks at)."""

    class Kind(models.TextChoices):
        CONNECTED = "connected", _("Connected")
        DISCONNECTED = "disconnected", _("Disconnected")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="connection_events")
    kind = models.CharField(_("event"), max_length=12, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    detail = models.CharField(_("detail"), max_length=200, blank=True,
                              help_text=_("Subprotocol on connect, close code on disconnect."))

    class Meta:
        verbose_name = _("connection event")
        verbose_name_plural = _("connection events")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["charge_point", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()}"


class Alarm(models.Model):
    """Something wrong with a station that support must see. Opened and closed by the services that learn of it
    (statuses, offline detection, security and firmware events); a person acknowledges it with a comment."""

    class Kind(models.TextChoices):
        OFFLINE = "offline", _("Offline")
        FAULTED = "faulted", _("Faulted")
        FUSE_TRIPPED = "fuse_tripped", _("Fuse tripped / over-current")
        UNAVAILABLE = "unavailable", _("Unavailable")
        SECURITY_EVENT = "security_event", _("Security event")
        FIRMWARE_FAILED = "firmware_failed", _("Firmware update failed")
        SESSION_FAILED_TO_START = "session_failed_to_start", _("Session failed to start")
        ORPHAN_TRANSACTION = "orphan_transaction", _("Orphan transaction")

    class Severity(models.IntegerChoices):
        INFO = 10, _("Info")
        WARNING = 20, _("Warning")
        MAJOR = 30, _("Major")
        CRITICAL = 40, _("Critical")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="alarms")
    evse_number = models.PositiveIntegerField(_("EVSE"), default=0, help_text=_("0: the whole station."))
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    severity = models.PositiveSmallIntegerField(_("severity"), choices=Severity.choices)
    message = models.CharField(_("message"), max_length=300, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    close_reason = models.CharField(_("closed because"), max_length=200, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("acknowledged by"), null=True,
                                        blank=True, on_delete=models.SET_NULL, related_name="+")
    acknowledgement = models.CharField(_("comment"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "kind", "evse_number"],
                                    condition=models.Q(closed_at__isnull=True), name="alarm_one_open_per_kind"),
        ]
        indexes = [models.Index(fields=["closed_at", "severity"]), models.Index(fields=["charge_point", "opened_at"])]

    def __str__(self) -> str:
        where = f" #{self.evse_number}" if self.evse_number else ""
        return f"{self.get_kind_display()}: {self.charge_point}{where}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class NotificationGroup(models.Model):
    """Who is e-mailed when an alarm opens: a set of stations (directly, by site or by owner), some alarm kinds,
    and the addresses to write to."""

    name = models.CharField(_("name"), max_length=100)
    organization = models.ForeignKey(Organization, verbose_name=_("managed by"), on_delete=models.CASCADE,
                                     related_name="notification_groups",
                                     help_text=_("The group only ever covers stations this organization may see."))
    charge_points = models.ManyToManyField(ChargePoint, verbose_name=_("charge points"), blank=True,
                                           related_name="notification_groups")
    locations = models.ManyToManyField(Location, verbose_name=_("locations"), blank=True, related_name="+")
    organizations = models.ManyToManyField(Organization, verbose_name=_("station owners"), blank=True,
                                           related_name="+", help_text=_("Every station these organizations own."))
    kinds = models.JSONField(_("alarm kinds"), default=list, blank=True,
                             help_text=_("Empty: every kind."))
    min_severity = models.PositiveSmallIntegerField(_("lowest severity"), choices=Alarm.Severity.choices,
                                                    default=Alarm.Severity.WARNING)
    emails = models.TextField(_("e-mail addresses"), help_text=_("One per line or separated by commas."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("notification group")
        verbose_name_plural = _("notification groups")
        ordering = ["organization__name", "name"]

    def __str__(self) -> str:
        return self.name


class AlarmNotification(models.Model):
    """One e-mail about one alarm to one group, or the note that it was held back by the rate limit."""

    alarm = models.ForeignKey(Alarm, verbose_name=_("alarm"), on_delete=models.CASCADE,
                              related_name="notifications")
    group = models.ForeignKey(NotificationGroup, verbose_name=_("group"), on_delete=models.CASCADE,
                              related_name="notifications")
    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="+")
    kind = models.CharField(_("kind"), max_length=30, choices=Alarm.Kind.choices)
    recipients = models.TextField(_("recipients"), blank=True)
    suppressed = models.BooleanField(_("held back"), default=False,
                                     help_text=_("Not sent: the group was told about this station and kind "
                                                 "shortly before."))
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("alarm notification")
        verbose_name_plural = _("alarm notifications")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["group", "charge_point", "kind", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.group} ← {self.alarm}"


class StationNote(models.Model):
    """A support note on a station, with who wrote it and when."""

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="notes")
    text = models.TextField(_("note"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("author"), null=True,
                               on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("written"), default=timezone.now)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.text[:60]}"


class ServiceTicket(models.Model):
    """A fault handled by field service: what was tried remotely, what the technician did on site, and who pays."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        REMOTE = "remote", _("Remote troubleshooting")
        SCHEDULED = "scheduled", _("Technician scheduled")
        WAITING_PARTS = "waiting_parts", _("Waiting for parts")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    class OnSiteAction(models.TextChoices):
        NONE = "", _("None yet")
        RESTART = "restart", _("Restart")
        REPLACE_PART = "replace_part", _("Replace part")
        RECONFIGURE = "reconfigure", _("Reconfigure")
        REPLACE_UNIT = "replace_unit", _("Replace the charger")
        OTHER = "other", _("Other")

    class Warranty(models.TextChoices):
        UNDECIDED = "", _("Not decided")
        COVERED = "covered", _("Covered by warranty")
        NOT_COVERED = "not_covered", _("Not covered (customer pays)")
        GOODWILL = "goodwill", _("Goodwill (operator pays)")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.PROTECT,
                                     related_name="service_tickets")
    alarm = models.ForeignKey(Alarm, verbose_name=_("alarm"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="service_tickets")
    problem = models.TextField(_("problem"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.OPEN)
    remote_attempts = models.TextField(_("remote attempts"), blank=True,
                                       help_text=_("What support tried from here (reset, unlock, configuration)."))
    technician = models.CharField(_("technician"), max_length=200, blank=True)
    visit_on = models.DateField(_("visit date"), null=True, blank=True)
    on_site_action = models.CharField(_("on-site action"), max_length=20, choices=OnSiteAction.choices,
                                      blank=True)
    parts = models.CharField(_("parts replaced"), max_length=300, blank=True)
    warranty = models.CharField(_("warranty decision"), max_length=20, choices=Warranty.choices, blank=True)
    cost = MoneyField(_("cost"), max_digits=12, decimal_places=2, default_currency="SEK", null=True, blank=True)
    documentation = models.TextField(_("documentation"), blank=True,
                                     help_text=_("What was found and done, for the next technician."))
    attachment = models.FileField(_("report / photo"), upload_to="service-tickets/%Y/%m/", blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("opened by"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField(_("opened"), default=timezone.now, editable=False)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("service ticket")
        verbose_name_plural = _("service tickets")
        ordering = ["-opened_at", "-pk"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.charge_point}: {self.problem[:50]}"


class MaintenancePlan(models.Model):
    """The periodic (usually annual) inspection of one station."""

    charge_point = models.OneToOneField(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                        related_name="maintenance_plan")
    interval_months = models.PositiveSmallIntegerField(_("interval (months)"), default=12)
    last_done_on = models.DateField(_("last done"), null=True, blank=True)
    next_due_on = models.DateField(_("next due"), db_index=True)
    technician = models.CharField(_("technician / contractor"), max_length=200, blank=True)
    notes = models.TextField(_("checklist and notes"), blank=True)

    class Meta:
        verbose_name = _("maintenance plan")
        verbose_name_plural = _("maintenance plans")
        ordering = ["next_due_on"]

    def __str__(self) -> str:
        return f"{self.charge_point}: due {self.next_due_on:%Y-%m-%d}"


class SavedStationView(models.Model):
    """A support user's named set of station-list filters (the query string of the list page)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE,
                             related_name="saved_station_views")
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filters"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("saved station view")
        verbose_name_plural = _("saved station views")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name")]

    def __str__(self) -> str:
        return self.name
