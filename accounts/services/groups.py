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


@transaction.atomic
def user_group_update(*, group: UserGroup, name: str | None = None, description: str | None = None,
                      acting_user: User | None, reason: str) -> UserGroup:
    """Rename a group or change its description; ``None`` leaves a field as it is."""
    locked = UserGroup.objects.select_for_update().get(pk=group.pk)
    changes = {}
    if name is not None and name.strip() != locked.name:
        changes["name"] = (locked.name, name.strip())
        locked.name = name.strip()
    if description is not None and description != locked.description:
        changes["description"] = (locked.description, description)
        locked.description = description
    if not changes:
        return locked
    locked.full_clean()
    locked.save(update_fields=list(changes))
    audit.record(action="usergroup.changed", target=locked, acting_user=acting_user, reason=reason,
                 changes=changes)
    return locked


@transaction.atomic
def user_group_remove_members(*, group: UserGroup, users: list[User], acting_user: User | None, reason: str
                              ) -> list[User]:
    """Take people out of a group. Returns those who were members (the others are left alone)."""
    existing = set(group.members.values_list("pk", flat=True))
    removed = [u for u in users if u.pk in existing]
    if removed:
        group.members.remove(*removed)
        audit.record(action="usergroup.members_removed", target=group, acting_user=acting_user, reason=reason,
                     changes={"members": ([u.pk for u in removed], None)})
    return removed
