"""Sites, charge points, EVSEs, connectors, charging sessions, meter samples, reservations, remote commands, the
OCPP frame log and the authorization monitor.

Access control keeps its settings on the station rows (mode, weekly schedule, allowed user groups, the mode in
force now; per EVSE a mode override and the public code of its QR sticker); bookings, booking policies and
charging keys are in ``charging.models.access``.

Energy is integer Wh everywhere; meter samples keep other measurands in their base unit (W, A, V, %, °C).
Nothing here mentions an OCPP version in its logic: the gateway maps both versions onto these rows.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import IdToken, Organization, UserGroup
from charging import access


class Location(models.Model):
    """A site: the address where one or more charge points stand (a garage, a parking lot)."""

    class BiddingArea(models.TextChoices):
        SE1 = "SE1", "SE1 Luleå"
        SE2 = "SE2", "SE2 Sundsvall"
        SE3 = "SE3", "SE3 Stockholm"
        SE4 = "SE4", "SE4 Malmö"

    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.PROTECT,
                                     related_name="locations")
    name = models.CharField(_("name"), max_length=200)
    street_address = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="SE")
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=50, default="Europe/Stockholm")
    bidding_area = models.CharField(_("bidding area"), max_length=3, choices=BiddingArea.choices,
                                    default=BiddingArea.SE3, help_text=_("Electricity price area for spot prices."))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["organization__name", "name"]

    def __str__(self) -> str:
        return self.name


class ChargePoint(models.Model):
    """A charging station, known to the CSMS by its OCPP identity (the last segment of its websocket URL)."""

    class RegistrationStatus(models.TextChoices):
        ACCEPTED = "Accepted", _("Accepted")
        PENDING = "Pending", _("Pending")
        REJECTED = "Rejected", _("Rejected")

    class OcppVersion(models.TextChoices):
        V16 = "1.6", "OCPP 1.6J"
        V201 = "2.0.1", "OCPP 2.0.1"

    class AccessMode(models.TextChoices):
        PRIVATE = "private", _("Private (members of the owner only)")
        PUBLIC = "public", _("Public (anyone may charge)")
        SEMI_PUBLIC = "semi_public", _("Semi-public (QR code or charging key, never published)")

    identity = models.CharField(_("OCPP identity"), max_length=48, unique=True)
    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.PROTECT,
                                     related_name="charge_points")
    location = models.ForeignKey(Location, verbose_name=_("location"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="charge_points")
    display_name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("E.g. Laddplats 01."))
    system_name = models.CharField(_("system name"), max_length=100, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=50, blank=True)
    vendor = models.CharField(_("vendor"), max_length=50, blank=True)
    model = models.CharField(_("model"), max_length=50, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=50, blank=True)
    ocpp_version = models.CharField(_("OCPP version"), max_length=10, choices=OcppVersion.choices, blank=True)
    registration_status = models.CharField(_("registration"), max_length=10, choices=RegistrationStatus.choices,
                                           default=RegistrationStatus.ACCEPTED)
    auth_key_hash = models.CharField(_("authorization key (hashed)"), max_length=128, blank=True, editable=False,
                                     help_text=_("Empty: the charger connects without HTTP Basic auth."))
    auth_key_previous_hash = models.CharField(
        _("previous authorization key (hashed)"), max_length=128, blank=True, editable=False,
        help_text=_("After a rotation the old key still opens the connection until the time below, so a charger "
                    "that took the new key but reconnects late is not locked out."))
    auth_key_previous_until = models.DateTimeField(_("previous key accepted until"), null=True, blank=True,
                                                   editable=False)
    heartbeat_interval = models.PositiveIntegerField(_("heartbeat interval (s)"), default=300)
    is_connected = models.BooleanField(_("connected"), default=False)
    connected_via = models.CharField(
        _("server process"), max_length=100, blank=True, default="", editable=False,
        help_text=_("The server process holding the charger's connection (empty when not connected)."))
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_boot_at = models.DateTimeField(_("last boot"), null=True, blank=True)
    locked_box = models.BooleanField(_("locked box"), default=False,
                                     help_text=_("The charger sits in a locked cabinet (the cable is not free)."))
    access_mode = models.CharField(_("mode"), max_length=16, choices=AccessMode.choices,
                                   default=AccessMode.PRIVATE,
                                   help_text=_("Always, or outside the rules of the weekly schedule."))
    access_schedule = models.JSONField(
        _("weekly access schedule"), default=list, blank=True, editable=False,
        help_text=_("Rules that switch the mode by weekday and local time (charging.access); set through the "
                    "access settings page."))
    allowed_groups = models.ManyToManyField(
        UserGroup, verbose_name=_("allowed user groups"), blank=True, editable=False,
        related_name="restricted_charge_points",
        help_text=_("While private: only members of these groups may charge (none: every member of the owner)."))
    current_access_mode = models.CharField(
        _("mode now"), max_length=16, choices=AccessMode.choices, default=AccessMode.PRIVATE, editable=False,
        help_text=_("The mode in force now, following the schedule; recorded within a minute of each switch."))
    access_mode_since = models.DateTimeField(_("mode now since"), null=True, blank=True, editable=False)
    status = models.CharField(_("station status"), max_length=20, blank=True,
                              help_text=_("Status reported for connector 0 / the whole station."))
    status_at = models.DateTimeField(_("station status since"), null=True, blank=True, editable=False)
    error_code = models.CharField(_("station error code"), max_length=50, blank=True)
    firmware_status = models.CharField(_("firmware status"), max_length=40, blank=True)
    diagnostics_status = models.CharField(_("diagnostics status"), max_length=40, blank=True)
    device_model = models.JSONField(_("device model"), default=dict, blank=True,
                                    help_text=_("Components and variables reported by the station."))
    configuration = models.JSONField(_("configuration"), default=dict, blank=True,
                                     help_text=_("Configuration keys the charger last reported: "
                                                 "{key: {value, readonly}}."))
    configuration_at = models.DateTimeField(_("configuration read"), null=True, blank=True, editable=False)
    sessions_30d = models.PositiveIntegerField(_("sessions (30 days)"), default=0, editable=False)
    failed_sessions_30d = models.PositiveIntegerField(_("failed sessions (30 days)"), default=0, editable=False)
    error_rate = models.DecimalField(_("error rate"), max_digits=5, decimal_places=4, null=True, blank=True,
                                     editable=False,
                                     help_text=_("Failed sessions / all sessions of the last 30 days; empty "
                                                 "without sessions. Recomputed every hour."))
    decommissioned_at = models.DateTimeField(_("decommissioned"), null=True, blank=True, editable=False,
                                             help_text=_("Taken out of service: refused at connect, hidden from "
                                                         "lists by default; its history is kept."))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("charge point")
        verbose_name_plural = _("charge points")
        ordering = ["identity"]
        indexes = [models.Index(fields=["organization", "identity"]),
                   models.Index(fields=["is_connected", "last_seen_at"]),
                   models.Index(fields=["error_rate"])]
        # PostgreSQL also gets a descending error-rate index and trigram search indexes (migration 0006).

    def __str__(self) -> str:
        return f"{self.display_name} ({self.identity})" if self.display_name else self.identity

    @property
    def is_decommissioned(self) -> bool:
        return self.decommissioned_at is not None


def new_public_code() -> str:
    """A public code no EVSE has yet: the default of ``Evse.public_code`` (the unique index still guards a race)."""
    code = access.random_public_code()
    for _attempt in range(5):
        if not Evse.objects.filter(public_code=code).exists():
            break
        code = access.random_public_code()
    return code


class Evse(models.Model):
    """One place a vehicle charges (an OCPP 1.6 connector, an OCPP 2.0.1 EVSE)."""

    class CurrentType(models.TextChoices):
        AC = "AC", "AC"
        DC = "DC", "DC"

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="evses")
    evse_id = models.PositiveIntegerField(_("EVSE number"), help_text=_("1.6 connectorId / 2.0.1 evse id."))
    public_id = models.CharField(_("EVSE-ID"), max_length=48, blank=True,
                                 help_text=_("Public identifier for roaming, e.g. SE*ABC*E0001."))
    current_type = models.CharField(_("current"), max_length=2, choices=CurrentType.choices,
                                    default=CurrentType.AC)
    max_power_w = models.PositiveIntegerField(_("max power (W)"), default=11_000)
    status = models.CharField(_("status"), max_length=20, default="Unknown")
    status_at = models.DateTimeField(_("status since"), null=True, blank=True)
    access_mode = models.CharField(_("mode"), max_length=16, choices=ChargePoint.AccessMode.choices, blank=True,
                                   help_text=_("Empty: as the charge point, following its schedule."))
    public_code = models.CharField(_("public code"), max_length=access.PUBLIC_CODE_LENGTH, unique=True,
                                   default=new_public_code, editable=False,
                                   help_text=_("Printed on the EVSE's QR sticker; its start page is /c/<code>. "
                                               "Never changes."))

    class Meta:
        verbose_name = _("EVSE")
        verbose_name_plural = _("EVSEs")
        ordering = ["charge_point", "evse_id"]
        constraints = [models.UniqueConstraint(fields=["charge_point", "evse_id"], name="evse_unique_per_cp")]

    def __str__(self) -> str:
        return f"{self.charge_point} #{self.evse_id}"


class Connector(models.Model):
    """A plug or socket of an EVSE, with the last status the charger reported for it."""

    class Standard(models.TextChoices):
        TYPE2 = "Type2", _("Type 2")
        CCS2 = "CCS2", _("CCS Combo 2")
        CHADEMO = "CHAdeMO", "CHAdeMO"
        SCHUKO = "Schuko", "Schuko"

    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField(_("connector number"), default=1)
    standard = models.CharField(_("type"), max_length=20, choices=Standard.choices, default=Standard.TYPE2)
    status = models.CharField(_("status"), max_length=20, default="Unknown")
    error_code = models.CharField(_("error code"), max_length=50, blank=True)
    vendor_error_code = models.CharField(_("vendor error code"), max_length=50, blank=True)
    info = models.CharField(_("info"), max_length=50, blank=True)
    status_at = models.DateTimeField(_("status since"), null=True, blank=True)

    class Meta:
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")
        ordering = ["evse", "connector_id"]
        constraints = [models.UniqueConstraint(fields=["evse", "connector_id"], name="connector_unique_per_evse")]

    def __str__(self) -> str:
        return f"{self.evse} / {self.connector_id}"


class Reservation(models.Model):
    """A charge point (or one EVSE) held for one token until a time."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="reservations")
    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="reservations")
    id_token = models.ForeignKey(IdToken, verbose_name=_("ID token"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="reservations")
    id_token_uid = models.CharField(_("token uid"), max_length=36)
    expires_at = models.DateTimeField(_("expires"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.REQUESTED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.charge_point} until {self.expires_at:%Y-%m-%d %H:%M}"


class ChargingSession(models.Model):
    """One charge (an OCPP transaction): who, where, when, how much energy."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed (closed without a stop)")

    class AuthSource(models.TextChoices):
        CHARGER = "charger", _("Presented at the charger")
        REMOTE = "remote", _("Remote start")
        OFFLINE = "offline", _("Started offline")
        NONE = "none", _("No authorization")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.PROTECT,
                                     related_name="sessions")
    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), on_delete=models.PROTECT, related_name="sessions")
    organization = models.ForeignKey(Organization, verbose_name=_("station owner"), on_delete=models.PROTECT,
                                     related_name="charging_sessions")
    id_token = models.ForeignKey(IdToken, verbose_name=_("ID token"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="sessions")
    id_token_uid = models.CharField(_("token uid as presented"), max_length=36, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("driver"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="charging_sessions")
    roaming_party = models.CharField(_("roaming partner"), max_length=6, blank=True,
                                     help_text=_("The eMSP (OCPI country code + party id, e.g. DEABC) whose customer "
                                                 "charged; empty for the operator's own customers."))
    auth_source = models.CharField(_("authorized by"), max_length=10, choices=AuthSource.choices,
                                   default=AuthSource.CHARGER)
    authorization_status = models.CharField(_("authorization"), max_length=20, blank=True)
    transaction_id = models.CharField(_("transaction id"), max_length=36, blank=True, db_index=True)
    remote_start_id = models.IntegerField(_("remote start id"), null=True, blank=True)
    reservation = models.ForeignKey(Reservation, verbose_name=_("reservation"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="sessions")
    started_at = models.DateTimeField(_("started"), db_index=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    meter_start_wh = models.BigIntegerField(_("meter start (Wh)"))
    meter_stop_wh = models.BigIntegerField(_("meter stop (Wh)"), null=True, blank=True)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), default=0)
    stop_reason = models.CharField(_("stop reason"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    offline = models.BooleanField(_("reported offline"), default=False)
    last_seq_no = models.IntegerField(_("last event seqNo"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("charging session")
        verbose_name_plural = _("charging sessions")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "transaction_id"], condition=~models.Q(transaction_id=""),
                                    name="session_transaction_unique_per_cp"),
        ]
        indexes = [models.Index(fields=["evse", "status"]), models.Index(fields=["organization", "started_at"])]

    def __str__(self) -> str:
        return f"{self.charge_point} tx {self.transaction_id or self.pk} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def energy_kwh_display(self) -> str:
        return f"{self.energy_wh / 1000:.2f}"


class MeterSample(models.Model):
    """One sampled value from a charger, converted to its base unit (Wh, W, A, V...)."""

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="meter_samples")
    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="meter_samples")
    session = models.ForeignKey(ChargingSession, verbose_name=_("session"), null=True, blank=True,
                                on_delete=models.CASCADE, related_name="meter_samples")
    timestamp = models.DateTimeField(_("time"))
    measurand = models.CharField(_("measurand"), max_length=50, default="Energy.Active.Import.Register")
    phase = models.CharField(_("phase"), max_length=10, blank=True)
    location = models.CharField(_("location"), max_length=10, blank=True)
    context = models.CharField(_("context"), max_length=30, blank=True)
    unit = models.CharField(_("unit"), max_length=20, blank=True, help_text=_("After conversion (Wh, W, A...)."))
    value = models.DecimalField(_("value"), max_digits=20, decimal_places=4)
    signed_data = models.TextField(_("signed data"), blank=True, help_text=_("Kept byte-exact (e.g. OCMF)."))
    signing_method = models.CharField(_("signing method"), max_length=50, blank=True)
    encoding_method = models.CharField(_("encoding method"), max_length=50, blank=True)
    public_key = models.TextField(_("public key"), blank=True)

    class Meta:
        verbose_name = _("meter sample")
        verbose_name_plural = _("meter samples")
        ordering = ["timestamp", "pk"]
        indexes = [models.Index(fields=["session", "timestamp"]), models.Index(fields=["evse", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.measurand} {self.value} {self.unit}"


class StationEvent(models.Model):
    """Something a charger told us that is not a session or a status: firmware and diagnostics progress, security
    events, log uploads, vendor data transfers, 2.0.1 NotifyEvent."""

    class Kind(models.TextChoices):
        SECURITY = "security", _("Security event")
        FIRMWARE = "firmware", _("Firmware status")
        DIAGNOSTICS = "diagnostics", _("Diagnostics / log status")
        VENDOR = "vendor", _("Vendor data transfer")
        NOTIFY = "notify", _("Device event")
        CERTIFICATE = "certificate", _("Certificate")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    code = models.CharField(_("type / status"), max_length=100)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("station event")
        verbose_name_plural = _("station events")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()}: {self.code}"


class OrphanTransactionStop(models.Model):
    """A stop for a transaction the CSMS never saw start, kept for support to review."""

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="orphan_stops")
    transaction_id = models.CharField(_("transaction id"), max_length=36)
    id_token_uid = models.CharField(_("token uid"), max_length=36, blank=True)
    meter_stop_wh = models.BigIntegerField(_("meter stop (Wh)"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped"))
    stop_reason = models.CharField(_("stop reason"), max_length=40, blank=True)
    payload = models.JSONField(_("message"), default=dict)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    resolved = models.BooleanField(_("resolved"), default=False)

    class Meta:
        verbose_name = _("orphan transaction stop")
        verbose_name_plural = _("orphan transaction stops")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.charge_point} tx {self.transaction_id}"


class AuthorizationAttempt(models.Model):
    """Every authorization decision: which token, where, the answer and why (the authorization monitor)."""

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="authorization_attempts")
    evse = models.ForeignKey(Evse, verbose_name=_("EVSE"), null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    id_token_uid = models.CharField(_("token uid"), max_length=36)
    id_token = models.ForeignKey(IdToken, verbose_name=_("ID token"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="authorization_attempts")
    purpose = models.CharField(_("purpose"), max_length=20, help_text=_("authorize, start, stop, remote start"))
    status = models.CharField(_("answer"), max_length=20)
    reason = models.CharField(_("why"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("authorization attempt")
        verbose_name_plural = _("authorization monitor")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.id_token_uid} {self.status}"


class RemoteCommand(models.Model):
    """A CSMS→charger call: who asked, why, what was sent and what the charger answered."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ANSWERED = "answered", _("Answered")
        CALL_ERROR = "call_error", _("Charger returned an error")
        TIMEOUT = "timeout", _("No answer in time")
        OFFLINE = "offline", _("Charger offline")
        REFUSED = "refused", _("Refused by the CSMS")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), on_delete=models.CASCADE,
                                     related_name="commands")
    action = models.CharField(_("action"), max_length=50)
    payload = models.JSONField(_("request"), default=dict)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    response = models.JSONField(_("answer"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True,
                                     blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("remote command")
        verbose_name_plural = _("remote commands")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} → {self.charge_point} ({self.get_status_display()})"


class OcppFrame(models.Model):
    """Every OCPP frame to or from a charger, as sent on the wire. Purged after OCPP_FRAME_RETENTION_DAYS."""

    class Direction(models.TextChoices):
        IN = "in", _("Charger → CSMS")
        OUT = "out", _("CSMS → charger")

    charge_point = models.ForeignKey(ChargePoint, verbose_name=_("charge point"), null=True, blank=True,
                                     on_delete=models.CASCADE, related_name="frames")
    identity = models.CharField(_("identity"), max_length=48)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(_("type"), null=True, blank=True)
    message_id = models.CharField(_("message id"), max_length=64, blank=True)
    action = models.CharField(_("action"), max_length=50, blank=True)
    raw = models.TextField(_("frame"))
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("OCPP frame")
        verbose_name_plural = _("OCPP frame log")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["charge_point", "at"]), models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.direction} {self.action or self.message_type}"
