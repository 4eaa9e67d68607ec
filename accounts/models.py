"""Tenants, people and credentials: organizations, users, memberships, ID tokens, user groups, API keys, and
the audit log of every change a person makes."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import identifiers


class Organization(models.Model):
    """A tenant: a housing association (BRF), a company, the operator itself, or a reseller of the platform.

    Everything an association board or company admin sees is scoped to its organization(s); the operator's
    support staff see all organizations.
    """

    class Kind(models.TextChoices):
        ASSOCIATION = "association", _("Housing association (BRF)")
        COMPANY = "company", _("Company")
        OPERATOR = "operator", _("Operator")
        RESELLER = "reseller", _("Reseller")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.ASSOCIATION)
    name = models.CharField(_("legal name"), max_length=200)
    slug = models.SlugField(_("short name"), max_length=60, unique=True,
                            help_text=_("Used in commands and URLs, e.g. brf-solrosen."))
    org_number = models.CharField(_("organisation number"), max_length=20, blank=True,
                                  help_text=_("Swedish numbers are checked and stored as NNNNNN-NNNN."))
    vat_number = models.CharField(_("VAT number"), max_length=20, blank=True)
    vat_exempt = models.BooleanField(_("exempt from VAT"), default=False,
                                     help_text=_("Small associations below the VAT threshold invoice without VAT."))
    street_address = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="SE", help_text=_("ISO 3166-1 alpha-2."))
    contact_name = models.CharField(_("contact person"), max_length=200, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    billing_email = models.EmailField(_("billing e-mail"), blank=True,
                                      help_text=_("Where invoices and self-billing statements are sent."))
    bankgiro_number = models.CharField(_("Bankgiro number"), max_length=10, blank=True)
    payout_reference = models.CharField(_("payout reference"), max_length=100, blank=True,
                                        help_text=_("Shown on the bank transfer of each monthly payout."))
    parent = models.ForeignKey("self", verbose_name=_("reseller"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="sub_organizations",
                               limit_choices_to={"kind": Kind.RESELLER},
                               help_text=_("The reseller that manages this organization, if any."))
    round_invoices = models.BooleanField(_("round invoices to whole kronor"), default=False,
                                         help_text=_("Residents' invoices round the amount payable to whole kronor, "
                                                     "shown on its own line (öresavrundning)."))
    locale = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="sv")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.country == "SE":
            for field, normalize in (
                ("org_number", identifiers.normalize_swedish_org_number),
                ("vat_number", identifiers.normalize_swedish_vat_number),
            ):
                value = getattr(self, field)
                if value:
                    try:
                        setattr(self, field, normalize(value))
                    except ValueError as exc:
                        errors[field] = str(exc)
        if self.bankgiro_number:
            try:
                self.bankgiro_number = identifiers.normalize_bankgiro_number(self.bankgiro_number)
            except ValueError as exc:
                errors["bankgiro_number"] = str(exc)
        if self.parent_id and self.parent_id == self.pk:
            errors["parent"] = _("An organization cannot be its own reseller.")
        if errors:
            raise ValidationError(errors)

    @property
    def is_operator(self) -> bool:
        return self.kind == self.Kind.OPERATOR


class UserManager(BaseUserManager):
    """Users log in with their e-mail address; residents invited by mobile number may have none yet."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        email = self.normalize_email(email).lower() if email else None
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username):
        # Addresses are stored in lower case; people type them however they like.
        return self.get(email=(username or "").strip().lower())

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not email:
            raise ValueError("A superuser needs an e-mail address to log in with.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person: support staff, board member, resident, employee or driver.

    Logs in with e-mail. A resident invited by mobile number alone gets an account without e-mail.
    """

    email = models.EmailField(_("e-mail address"), unique=True, null=True, blank=True,
                              help_text=_("Used to log in; stored in lower case."))
    mobile_number = models.CharField(_("mobile number"), max_length=20, null=True, blank=True,
                                     help_text=_("E.164, e.g. +46701234567."))
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="sv")
    is_staff = models.BooleanField(_("staff status"), default=False,
                                   help_text=_("Can log into the admin site."))
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["last_name", "first_name", "email"]
        constraints = [
            models.UniqueConstraint(fields=["mobile_number"], name="user_mobile_number_unique"),
            models.CheckConstraint(condition=~models.Q(email="") & ~models.Q(mobile_number=""),
                                   name="user_contact_not_blank"),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.email or self.mobile_number or f"user {self.pk}"

    def clean(self) -> None:
        super().clean()
        if self.email:
            self.email = self.__class__.objects.normalize_email(self.email).lower()
        else:
            self.email = None
        if self.mobile_number:
            try:
                self.mobile_number = identifiers.normalize_mobile_number(
                    self.mobile_number, settings.PHONE_DEFAULT_REGION)
            except ValueError as exc:
                raise ValidationError({"mobile_number": str(exc)}) from exc
        else:
            self.mobile_number = None

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.get_full_name()


class Membership(models.Model):
    """A user's role in an organization. A person may belong to several (a board member also lives there)."""

    class Role(models.TextChoices):
        OPERATOR_SUPPORT = "operator_support", _("Operator support")
        ORG_ADMIN = "org_admin", _("Administrator (board)")
        ORG_VIEWER = "org_viewer", _("Viewer")
        RESIDENT = "resident", _("Resident / employee")

    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.CASCADE,
                                     related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.RESIDENT)
    reference = models.CharField(_("reference"), max_length=50, blank=True,
                                 help_text=_("Apartment number or employee number, shown on invoices."))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organization__name", "user__last_name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_user_organization_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} – {self.organization}"

    def clean(self) -> None:
        if (self.role == self.Role.OPERATOR_SUPPORT and self.organization_id
                and not self.organization.is_operator):
            raise ValidationError({"role": _("Operator support is a role in the operator organization only.")})


class UserGroup(models.Model):
    """A named set of users within one organization, used for access rules and group prices."""

    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.CASCADE,
                                     related_name="user_groups")
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    members = models.ManyToManyField(User, verbose_name=_("members"), blank=True, related_name="user_groups")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("user group")
        verbose_name_plural = _("user groups")
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="user_group_organization_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization})"


class IdToken(models.Model):
    """Something a driver identifies with at a charger: an RFID tag, a key code, an app token, an eMAID or a MAC.

    The uid is stored normalized (accounts.identifiers) and unique, so the same tag always finds this row
    whatever spelling the charger sends.
    """

    class Type(models.TextChoices):
        RFID = "rfid", _("RFID tag")
        KEY_CODE = "key_code", _("Charging key code")
        CENTRAL = "central", _("App / central token")
        EMAID = "emaid", _("eMAID (contract)")
        MAC = "mac", _("MAC address (Autocharge)")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")
        EXPIRED = "expired", _("Expired")

    uid = models.CharField(_("uid"), max_length=identifiers.MAX_UID_LENGTH, unique=True)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices, default=Type.RFID)
    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.PROTECT,
                                     related_name="id_tokens")
    user = models.ForeignKey(User, verbose_name=_("owner"), null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="id_tokens")
    visual_number = models.CharField(_("printed number"), max_length=50, blank=True,
                                     help_text=_("The number printed on the tag or card."))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    blocked_reason = models.CharField(_("reason blocked"), max_length=500, blank=True)
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)
    blocked_by = models.ForeignKey(User, verbose_name=_("blocked by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("ID token")
        verbose_name_plural = _("ID tokens")
        ordering = ["organization__name", "uid"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return f"{self.uid} ({self.get_type_display()})"

    def clean(self) -> None:
        try:
            self.uid = identifiers.normalize_token_uid(self.type, self.uid)
        except ValueError as exc:
            raise ValidationError({"uid": str(exc)}) from exc
        if self.user_id and self.organization_id and not Membership.objects.filter(
                user_id=self.user_id, organization_id=self.organization_id).exists():
            raise ValidationError({"user": _("The owner must be a member of the token's organization.")})

    def is_usable(self, at) -> bool:
        """True when the token may start a charge at ``at``."""
        if self.status != self.Status.ACTIVE:
            return False
        return self.valid_until is None or at < self.valid_until


class ApiKey(models.Model):
    """A credential for the Connect API, owned by one organization (an operator key sees every organization).

    Only a SHA-256 hash of the secret is stored; the full key is shown once when created. The prefix is kept
    in clear so people can tell keys apart and so a presented key is found with one indexed lookup.
    """

    class Scope(models.TextChoices):
        READ = "read", _("Read")
        WRITE = "write", _("Write")
        COMMANDS = "commands", _("Remote commands")
        BILLING = "billing", _("Invoices and payments")

    organization = models.ForeignKey(Organization, verbose_name=_("organization"), on_delete=models.CASCADE,
                                     related_name="api_keys")
    name = models.CharField(_("name"), max_length=100, help_text=_("What the key is used for."))
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    created_by = models.ForeignKey(User, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(User, verbose_name=_("revoked by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+", editable=False)
    revoked_reason = models.CharField(_("reason revoked"), max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["organization__name", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_valid(self, at) -> bool:
        """True when the key may authenticate a request at ``at``."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or at < self.expires_at

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AuditLogEntry(models.Model):
    """One change made by a person (or by the system on a person's behalf): who, what, to which object, why.

    Written by the services in the same transaction as the change itself, so the log never disagrees with the
    data. Never edited after creation.
    """

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, verbose_name=_("who"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", help_text=_("Empty when the system acted on its own."))
    organization = models.ForeignKey(Organization, verbose_name=_("organization"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+",
                                     help_text=_("The tenant the change belongs to."))
    action = models.CharField(_("action"), max_length=100, db_index=True, help_text=_("e.g. id_token.blocked"))
    target_type = models.ForeignKey(ContentType, verbose_name=_("object type"), null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    target_id = models.CharField(_("object id"), max_length=64, blank=True)
    target_repr = models.CharField(_("object"), max_length=200, blank=True)
    reason = models.TextField(_("why"), blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True,
                               help_text=_("Field name → [old, new] for edits."))

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target_repr}"
