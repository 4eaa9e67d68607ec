"""User groups within an organization and their members."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User, UserGroup
from accounts.services import audit


@transaction.atomic
def user_group_create(*, organization: Organization, name: str, description: str = "",
                      acting_user: User | None, reason: str) -> UserGroup:
    group = UserGroup(organization=organization, name=name.strip(), description=description)
    group.full_clean()
    group.save()
    audit.record(action="usergroup.created", target=group, acting_user=acting_user, reason=reason)
    return group


@transaction.atomic
def user_group_add_members(*, group: UserGroup, users: list[User], acting_user: User | None, reason: str
                           ) -> list[User]:
    """Add people to a group; each must be a member of the group's organization. Returns those newly added."""
    outsiders = [u for u in users if not Membership.objects.filter(
        user=u, organization_id=group.organization_id).exists()]
    if outsiders:
        raise ValidationError(_("Not members of %(org)s: %(names)s") % {
            "org": group.organization, "names": ", ".join(str(u) for u in outsiders)})
    existing = set(group.members.values_list("pk", flat=True))
    added = [u for u in users if u.pk not in existing]
    if added:
        group.members.add(*added)
        audit.record(action="usergroup.members_added", target=group, acting_user=acting_user, reason=reason,
                     changes={"members": (None, [u.pk for u in added])})
    return added
