"""Reads of the accounts domain, always narrowed to what the asking user may see."""

from django.db.models import QuerySet

from accounts.models import ApiKey, AuditLogEntry, IdToken, Membership, Organization, User, UserGroup
from accounts.tenancy import scope, visible_organization_ids


def organizations_visible_to(user) -> QuerySet[Organization]:
    return scope(Organization.objects.all(), user, "pk")


def users_visible_to(user) -> QuerySet[User]:
    """People with a membership in a visible organization (operator staff: everyone)."""
    ids = visible_organization_ids(user)
    if ids is None:
        return User.objects.all()
    return User.objects.filter(pk__in=Membership.objects.filter(organization_id__in=ids).values("user_id"))


def memberships_visible_to(user) -> QuerySet[Membership]:
    return scope(Membership.objects.select_related("user", "organization"), user)


def id_tokens_visible_to(user) -> QuerySet[IdToken]:
    return scope(IdToken.objects.select_related("organization", "user"), user)


def user_groups_visible_to(user) -> QuerySet[UserGroup]:
    return scope(UserGroup.objects.select_related("organization"), user)


def api_keys_visible_to(user) -> QuerySet[ApiKey]:
    return scope(ApiKey.objects.select_related("organization"), user)


def audit_entries_visible_to(user) -> QuerySet[AuditLogEntry]:
    return scope(AuditLogEntry.objects.select_related("actor", "organization", "target_type"), user)

