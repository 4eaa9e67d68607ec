"""Creating and inviting people, and their roles in organizations."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import override

from accounts import identifiers, sms
from accounts.models import Membership, Organization, User
from accounts.services import audit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invitation:
    user: User
    membership: Membership
    user_created: bool


def _normalize_contact(email: str | None, mobile_number: str | None) -> tuple[str | None, str | None]:
    errors = {}
    email = (email or "").strip().lower() or None
    mobile = (mobile_number or "").strip() or None
    if mobile:
        try:
            mobile = identifiers.normalize_mobile_number(mobile, settings.PHONE_DEFAULT_REGION)
        except ValueError as exc:
            errors["mobile_number"] = str(exc)
    if not email and not mobile and not errors:
        errors["email"] = _("Give an e-mail address or a mobile number.")
    if errors:
        raise ValidationError(errors)
    return email, mobile


def find_user_by_contact(*, email: str | None, mobile_number: str | None) -> User | None:
    """The existing person with this e-mail or mobile number. Raises if they point at two different people."""
    email, mobile = _normalize_contact(email, mobile_number)
    query = Q()
    if email:
        query |= Q(email=email)
    if mobile:
        query |= Q(mobile_number=mobile)
    matches = list(User.objects.filter(query)[:2])
    if len(matches) > 1:
        raise ValidationError(_("The e-mail address and the mobile number belong to two different users."))
    return matches[0] if matches else None


@transaction.atomic
def user_invite(*, organization: Organization, email: str | None = None, mobile_number: str | None = None,
                first_name: str = "", last_name: str = "", role: str = Membership.Role.RESIDENT,
                reference: str = "", acting_user: User | None, reason: str, send: bool = True) -> Invitation:
    """Add a person to an organization by e-mail or mobile number, creating the user if new, and send an invite.

    An existing user (same e-mail or mobile) gets a membership instead of a second account. The invitation
    (a link to choose a password) is sent after the transaction commits.
    """
    email, mobile = _normalize_contact(email, mobile_number)
    user = find_user_by_contact(email=email, mobile_number=mobile)
    user_created = user is None
    if user_created:
        user = User(email=email, mobile_number=mobile, first_name=first_name, last_name=last_name,
                    language=organization.locale)
        user.set_unusable_password()
        user.full_clean()
        user.save()
        audit.record(action="user.created", target=user, acting_user=acting_user, reason=reason,
                     organization=organization,
                     changes={"email": (None, email), "mobile_number": (None, mobile)})
    membership = Membership.objects.filter(user=user, organization=organization).first()
    if membership is None:
        membership = Membership(user=user, organization=organization, role=role, reference=reference)
        membership.full_clean()
        membership.save()
        audit.record(action="membership.created", target=membership, acting_user=acting_user, reason=reason,
                     changes={"role": (None, role)})
    if send and not user.has_usable_password():
        transaction.on_commit(lambda: send_invitation(user_id=user.pk, organization_id=organization.pk))
    return Invitation(user=user, membership=membership, user_created=user_created)


def invitation_url(user: User) -> str:
    path = reverse("accounts:invitation", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    })
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def send_invitation(*, user_id: int, organization_id: int) -> None:
    """E-mail (or, for people without e-mail, text) a link where the person chooses a password."""
    user = User.objects.get(pk=user_id)
    organization = Organization.objects.get(pk=organization_id)
    url = invitation_url(user)
    with override(user.language):
        subject = _("You have been invited to %(organization)s") % {"organization": organization.name}
        body = _("Hello %(name)s,\n\n%(organization)s has given you access to its charging stations. "
                 "Choose your password here:\n%(url)s\n") % {
            "name": user.get_short_name() or user.email or user.mobile_number,
            "organization": organization.name, "url": url}
    if user.email:
        send_mail(subject, body, None, [user.email])
    elif user.mobile_number:
        sms.send(to=user.mobile_number, body=body)
    else:
        logger.warning("User %s has neither e-mail nor mobile number; no invitation sent", user.pk)


@transaction.atomic
def user_accept_invitation(*, user: User, password: str, email: str | None = None) -> User:
    """The invited person sets a password (and an e-mail address to log in with, if they had none)."""
    fields = ["password"]
    if email and not user.email:
        email = email.strip().lower()
        if User.objects.filter(email=email).exclude(pk=user.pk).exists():
            raise ValidationError({"email": _("Another account already uses this e-mail address.")})
        user.email = email
        fields.append("email")
    user.set_password(password)
    user.save(update_fields=fields)
    audit.record(action="user.invitation_accepted", target=user, acting_user=user, reason="")
    return user


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, acting_user: User, reason: str) -> Membership:
    old = membership.role
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role"])
    audit.record(action="membership.role_changed", target=membership, acting_user=acting_user, reason=reason,
                 changes={"role": (old, role)})
    return membership


@transaction.atomic
def user_set_active(*, user: User, active: bool, acting_user: User, reason: str) -> User:
    """Deactivate (or reactivate) a login. People are never deleted: their sessions and invoices refer to them."""
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit.record(action="user.activated" if active else "user.deactivated", target=user,
                     acting_user=acting_user, reason=reason, changes={"is_active": (not active, active)})
    return user
