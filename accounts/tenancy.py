"""Who may see which organizations. Every selector in every app narrows its queryset through ``scope()``.

Operator staff (superusers and members with the operator-support role in an operator organization) see all
tenants. Board members and viewers see the organizations they manage, and a reseller's managers also see the
organizations under that reseller. Residents manage nothing: they see no tenant's lists, only their own data
(which the portal selects by user, not by organization).
"""

from django.db.models import Q, QuerySet

from accounts.models import Membership, Organization

MANAGING_ROLES = (Membership.Role.ORG_ADMIN, Membership.Role.ORG_VIEWER)
_CACHE_ATTR = "_csms_visible_organization_ids"
_OPERATOR_CACHE_ATTR = "_csms_is_operator_staff"


def is_operator_staff(user) -> bool:
    """True for people who may see and act on every tenant. Cached on the user object for a request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if not hasattr(user, _OPERATOR_CACHE_ATTR):
        setattr(user, _OPERATOR_CACHE_ATTR, Membership.objects.filter(
            user=user, role=Membership.Role.OPERATOR_SUPPORT, organization__kind=Organization.Kind.OPERATOR
        ).exists())
    return getattr(user, _OPERATOR_CACHE_ATTR)


def visible_organization_ids(user) -> frozenset[int] | None:
    """The ids of the organizations ``user`` may see, or None for all of them.

    Cached on the user object for the length of a request.
    """
    if hasattr(user, _CACHE_ATTR):
        return getattr(user, _CACHE_ATTR)
    if is_operator_staff(user):
        ids = None
    elif user is None or not user.is_authenticated or not user.is_active:
        ids = frozenset()
    else:
        managed = Membership.objects.filter(user=user, role__in=MANAGING_ROLES).values_list(
            "organization_id", flat=True)
        ids = frozenset(
            Organization.objects.filter(Q(pk__in=managed) | Q(parent_id__in=managed)).values_list("pk", flat=True)
        )
    if user is not None:
        setattr(user, _CACHE_ATTR, ids)
    return ids


def organizations_seen_by(organization: Organization) -> QuerySet[Organization] | None:
    """The organizations whose data ``organization`` itself may see (e.g. what its notification groups may cover),
    None for all of them: the operator sees every tenant; anyone else itself and those it is the reseller of."""
    if organization.kind == Organization.Kind.OPERATOR:
        return None
    return Organization.objects.filter(Q(pk=organization.pk) | Q(parent_id=organization.pk))


def scope(queryset: QuerySet, user, organization_field: str = "organization") -> QuerySet:
    """Narrow ``queryset`` to rows whose ``organization_field`` is visible to ``user``."""
    ids = visible_organization_ids(user)
    if ids is None:
        return queryset
    lookup = "pk__in" if organization_field == "pk" else f"{organization_field}__in"
    return queryset.filter(**{lookup: ids})


def can_manage(user, organization_id: int | None, *, write: bool = True) -> bool:
    """True when ``user`` may act on (``write``) or look at data of the organization."""
    if is_operator_staff(user):
        return True
    if organization_id is None:
        return False
    roles = (Membership.Role.ORG_ADMIN,) if write else MANAGING_ROLES
    return Membership.objects.filter(
        Q(organization_id=organization_id) | Q(organization__sub_organizations__pk=organization_id),
        user=user, role__in=roles,
    ).exists()
