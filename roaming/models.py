"""Roaming partners (OCPI parties) and the log of every OCPI request we answer or send.

Credentials tokens: the names follow the case where a partner registers with us (OCPI "token A → B → C"), but
each field keeps one meaning whoever starts the handshake:

- ``token_a_hash``: a token A we issued, so that the partner can register with us. Single use; only its SHA-256
  hash is stored because we only ever verify it.
- ``token_b``: the token WE send when calling the partner. Kept in clear because it has to be sent. When we
  register with the partner, it first holds the token A the partner gave us, then the token from their answer.
- ``token_c_hash``: the token the partner uses to call us. Hashed: we only verify it. ``token_c_pending_hash``
  holds a new one while a handshake we started (POST or PUT to the partner) is under way, because the partner calls
  our versions endpoint with it before answering.

Partners are not tenants: they belong to the platform, so only operator staff see them.
"""

import hashlib

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a credentials token (tokens are long random strings, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class OcpiParty(models.Model):
    """A roaming partner platform (usually an eMSP or a hub) connected to us over OCPI."""

    class Role(models.TextChoices):
        CPO = "CPO", _("Charge point operator")
        EMSP = "EMSP", _("eMobility service provider")
        HUB = "HUB", _("Hub")
        NAP = "NAP", _("National access point")
        NSP = "NSP", _("Navigation service provider")
        OTHER = "OTHER", _("Other")
        SCSP = "SCSP", _("Smart charging service provider")

    class Version(models.TextChoices):
        V221 = "2.2.1", "2.2.1"
        V22 = "2.2", "2.2"

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        REGISTERED = "registered", _("Registered")
        SUSPENDED = "suspended", _("Suspended")
        UNREGISTERED = "unregistered", _("Unregistered")

    name = models.CharField(_("name"), max_length=100)
    country_code = models.CharField(_("country code"), max_length=2, blank=True,
                                    help_text=_("ISO 3166 alpha-2; learnt from the partner's credentials."))
    party_id = models.CharField(_("party id"), max_length=3, blank=True,
                                help_text=_("Learnt from the partner's credentials."))
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.EMSP)
    roles = models.JSONField(_("credentials roles"), default=list, blank=True, editable=False,
                             help_text=_("Every role the partner reported in its credentials."))
    business_details = models.JSONField(_("business details"), default=dict, blank=True, editable=False)
    versions_url = models.URLField(_("versions URL"), max_length=255, blank=True,
                                   help_text=_("The partner's OCPI versions endpoint."))
    version = models.CharField(_("negotiated version"), max_length=8, choices=Version.choices, blank=True,
                               editable=False)
    endpoints = models.JSONField(_("endpoints"), default=dict, blank=True, editable=False,
                                 help_text=_("Module → {interface role → URL} of the negotiated version."))
    token_a_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    token_a_issued_at = models.DateTimeField(_("token A issued"), null=True, blank=True, editable=False)
    token_b = models.CharField(_("token for calling the partner"), max_length=64, blank=True,
                               help_text=_("To register with the partner, enter the token A they gave us."))
    token_c_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    token_c_pending_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    plain_token = models.BooleanField(
        _("plain tokens"), default=False,
        help_text=_("OCPI 2.2 partners send and expect the token without Base64 encoding."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PLANNED)
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("OCPI party")
        verbose_name_plural = _("OCPI parties")
        ordering = ["name"]
        constraints = [
            # An unregistered row may stay for the record while the same partner connects again.
            models.UniqueConstraint(fields=["country_code", "party_id", "role"],
                                    condition=~Q(party_id="") & ~Q(status="unregistered"),
                                    name="roaming_party_unique_identity"),
        ]

    def __str__(self) -> str:
        if self.party_id:
            return f"{self.name} ({self.country_code}*{self.party_id} {self.role})"
        return self.name

    @property
    def is_registered(self) -> bool:
        """Registered in the credentials sense (a suspended partner is still registered)."""
        return self.status in (self.Status.REGISTERED, self.Status.SUSPENDED)

    def endpoint(self, module: str, role: str) -> str | None:
        """The partner's URL of ``module`` for interface ``role`` (SENDER/RECEIVER), if it offers one."""
        return (self.endpoints.get(module) or {}).get(role)


class OcpiRequestLog(models.Model):
    """One OCPI request we answered (in) or sent (out), for the admin's request and push log."""

    class Direction(models.TextChoices):
        IN = "in", _("Received")
        OUT = "out", _("Sent")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    party = models.ForeignKey(OcpiParty, verbose_name=_("party"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="request_logs")
    method = models.CharField(_("method"), max_length=8)
    url = models.CharField(_("URL"), max_length=500)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    ocpi_status = models.PositiveSmallIntegerField(_("OCPI status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    correlation_id = models.CharField(_("correlation id"), max_length=64, blank=True, db_index=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("OCPI request")
        verbose_name_plural = _("OCPI requests")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["party", "-at"], name="roaming_log_party_at")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.method} {self.url} → {self.http_status}"


class OcpiToken(models.Model):
    """A token an eMSP put into our store (tokens module, we are the receiver): who may charge at our public
    stations on its account, and how we may authorize it (``whitelist``)."""

    class Type(models.TextChoices):
        AD_HOC_USER = "AD_HOC_USER", "AD_HOC_USER"
        APP_USER = "APP_USER", "APP_USER"
        OTHER = "OTHER", "OTHER"
        RFID = "RFID", "RFID"

    class Whitelist(models.TextChoices):
        ALWAYS = "ALWAYS", _("always (no real-time check)")
        ALLOWED = "ALLOWED", _("allowed (real-time check when reachable)")
        ALLOWED_OFFLINE = "ALLOWED_OFFLINE", _("allowed offline only")
        NEVER = "NEVER", _("never (real-time check required)")

    # ``owner`` is the registered partner that put it here; ``country_code``/``party_code`` are the token's own
    # (OCPI's party_id: an eMSP behind a hub may differ from the partner we talk to).
    owner = models.ForeignKey(OcpiParty, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="tokens")
    country_code = models.CharField(_("country code"), max_length=2)
    party_code = models.CharField(_("party id"), max_length=3)
    uid = models.CharField(_("uid"), max_length=36)
    type = models.CharField(_("type"), max_length=12, choices=Type.choices)
    contract_id = models.CharField(_("contract id"), max_length=36)
    visual_number = models.CharField(_("visual number"), max_length=64, blank=True)
    issuer = models.CharField(_("issuer"), max_length=64)
    group_id = models.CharField(_("group id"), max_length=36, blank=True)
    valid = models.BooleanField(_("valid"))
    whitelist = models.CharField(_("whitelist"), max_length=16, choices=Whitelist.choices)
    language = models.CharField(_("language"), max_length=2, blank=True)
    default_profile_type = models.CharField(_("default profile type"), max_length=10, blank=True)
    energy_contract = models.JSONField(_("energy contract"), null=True, blank=True)
    last_updated = models.DateTimeField(_("last updated"))

    class Meta:
        verbose_name = _("roaming token")
        verbose_name_plural = _("roaming tokens")
        ordering = ["country_code", "party_code", "uid"]
        constraints = [models.UniqueConstraint(fields=["country_code", "party_code", "uid", "type"],
                                               name="ocpi_token_unique")]
        indexes = [models.Index(fields=["uid"], name="ocpi_token_uid")]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_code} {self.uid} ({self.type})"


class OcpiCommand(models.Model):
    """A command an eMSP sent us (commands module): answered at once with a CommandResponse, its outcome POSTed
    to ``response_url`` later as a CommandResult (ACCEPTED, REJECTED, …, TIMEOUT when the charger never answered)."""

    party = models.ForeignKey(OcpiParty, verbose_name=_("party"), on_delete=models.PROTECT, related_name="commands")
    command = models.CharField(_("command"), max_length=20)
    response_url = models.URLField(_("response URL"), max_length=500)
    request = models.JSONField(_("request"))
    response = models.CharField(_("response"), max_length=20, blank=True)
    result = models.CharField(_("result"), max_length=30, blank=True)
    result_message = models.CharField(_("result message"), max_length=300, blank=True)
    remote_command = models.ForeignKey("charging.RemoteCommand", verbose_name=_("charger command"), null=True,
                                       blank=True, on_delete=models.SET_NULL, related_name="+")
    session = models.ForeignKey("charging.ChargingSession", verbose_name=_("session"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    result_sent_at = models.DateTimeField(_("result sent"), null=True, blank=True)
    result_attempts = models.PositiveSmallIntegerField(_("result attempts"), default=0)

    class Meta:
        verbose_name = _("roaming command")
        verbose_name_plural = _("roaming commands")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.command} from {self.party} ({self.result or self.response or 'new'})"


class OcpiPush(models.Model):
    """One object to push to one partner (sender modules: PUT/PATCH locations, sessions, tariffs; POST CDRs). One
    pending row per (party, module, object): a later change replaces the payload instead of queueing more; after
    the last attempt it is given up (the partner resyncs by GET, as OCPI intends)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        GIVEN_UP = "given_up", _("given up")

    party = models.ForeignKey(OcpiParty, verbose_name=_("party"), on_delete=models.CASCADE, related_name="pushes")
    module = models.CharField(_("module"), max_length=20)
    object_id = models.CharField(_("object id"), max_length=100)
    method = models.CharField(_("method"), max_length=6)
    url = models.CharField(_("URL"), max_length=500)
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("roaming push")
        verbose_name_plural = _("roaming pushes")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["party", "module", "object_id"], condition=Q(status="pending"),
                                               name="ocpi_push_one_pending_per_object")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="ocpi_push_due")]

    def __str__(self) -> str:
        return f"{self.method} {self.module}/{self.object_id} → {self.party} ({self.get_status_display()})"


class OcpiClientInfo(models.Model):
    """What a hub tells us about the parties behind it (hubclientinfo module, we are the receiver): whether each is
    connected to the hub, so we do not push to or wait for a party that is offline."""

    class Status(models.TextChoices):
        CONNECTED = "CONNECTED", "CONNECTED"
        OFFLINE = "OFFLINE", "OFFLINE"
        PLANNED = "PLANNED", "PLANNED"
        SUSPENDED = "SUSPENDED", "SUSPENDED"

    hub = models.ForeignKey(OcpiParty, verbose_name=_("hub"), on_delete=models.CASCADE, related_name="client_infos")
    country_code = models.CharField(_("country code"), max_length=2)
    party_code = models.CharField(_("party id"), max_length=3)
    role = models.CharField(_("role"), max_length=5)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    last_updated = models.DateTimeField(_("last updated"))

    class Meta:
        verbose_name = _("hub client")
        verbose_name_plural = _("hub clients")
        ordering = ["country_code", "party_code", "role"]
        constraints = [models.UniqueConstraint(fields=["hub", "country_code", "party_code", "role"],
                                               name="ocpi_client_info_once")]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_code} {self.role}: {self.status}"
