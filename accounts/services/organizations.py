"""Creating organizations (tenants) and giving their people access to the admin."""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP
from accounts.services import audit


@transaction.atomic
def organization_create(*, kind: str, name: str, slug: str, acting_user: User | None, reason: str,
                        **details) -> Organization:
    """Register a tenant. ``details`` are the other Organization fields (address, numbers, contact...)."""
    organization = Organization(kind=kind, name=name, slug=slug, **details)
    organization.full_clean()
    organization.save()
    audit.record(action="organization.created", target=organization, acting_user=acting_user, reason=reason,
                 changes={"kind": (None, kind), "name": (None, name)})
    return organization


@transaction.atomic
def user_grant_admin_access(*, user: User, organization: Organization, acting_user: User | None, reason: str
                            ) -> User:
    """Let a board member or viewer use the admin for their organization (what they see stays scoped)."""
    membership = Membership.objects.filter(user=user, organization=organization).first()
    if membership is None or membership.role not in (Membership.Role.ORG_ADMIN, Membership.Role.ORG_VIEWER):
        raise ValidationError(_("Only administrators and viewers of an organization get admin access."))
    if not user.email:
        raise ValidationError(_("The user needs an e-mail address to log into the admin."))
    group_name = BOARD_ADMIN_GROUP if membership.role == Membership.Role.ORG_ADMIN else BOARD_VIEWER_GROUP
    user.groups.add(Group.objects.get(name=group_name))
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    audit.record(action="user.admin_access_granted", target=user, acting_user=acting_user, reason=reason,
                 organization=organization, changes={"groups": (None, group_name)})
    return user
