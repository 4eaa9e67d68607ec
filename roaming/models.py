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
