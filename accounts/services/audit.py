"""The audit log: who changed what, when and why. Services call ``record()`` inside their own transaction."""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from accounts.models import AuditLogEntry, Organization, User


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def organization_of(target: models.Model) -> Organization | None:
    """The tenant a model instance belongs to, if it has one."""
    if isinstance(target, Organization):
        return target
    org_id = getattr(target, "organization_id", None)
    return Organization(pk=org_id) if org_id else None


def record(*, action: str, target: models.Model | None, acting_user: User | None, reason: str = "",
           organization: Organization | None = None, changes: dict | None = None, at=None) -> AuditLogEntry:
    """Write one audit row. ``acting_user`` None means the system acted (a periodic task, a charger)."""
    if organization is None and target is not None:
        organization = organization_of(target)
    return AuditLogEntry.objects.create(
        at=at or timezone.now(),
        actor=acting_user if acting_user is not None and acting_user.pk else None,
        organization=organization,
        action=action,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        reason=reason,
        changes={k: [_jsonable(old), _jsonable(new)] for k, (old, new) in (changes or {}).items()},
    )


def field_changes(instance: models.Model, changed_fields: list[str]) -> dict[str, tuple[Any, Any]]:
    """Old and new values of ``changed_fields``, reading the old ones from the database."""
    concrete = {f.name: f for f in instance._meta.concrete_fields}
    names = [n for n in changed_fields if n in concrete]
    if instance.pk is None:
        return {n: (None, getattr(instance, concrete[n].attname)) for n in names}
    old = type(instance)._default_manager.filter(pk=instance.pk).values(
        *[concrete[n].attname for n in names]).first() or {}
    return {n: (old.get(concrete[n].attname), getattr(instance, concrete[n].attname)) for n in names}


def _m2m_pks(instance: models.Model, names: list[str]) -> dict[str, list]:
    if instance.pk is None:
        return {name: [] for name in names}
    return {name: sorted(getattr(instance, name).values_list("pk", flat=True)) for name in names}


@transaction.atomic
def save_edit(*, instance: models.Model, changed_fields: list[str], acting_user: User, reason: str,
              save_related=None) -> models.Model:
    """Save an edit a person made in a form (the admin), recording which fields changed, from what, and why.

    ``save_related`` (optional) writes the form's many-to-many data after the instance, in the same
    transaction; their before/after member lists are recorded too.
    """
    created = instance.pk is None
    changes = field_changes(instance, changed_fields)
    m2m_names = [f.name for f in instance._meta.many_to_many if f.name in changed_fields]
    before = _m2m_pks(instance, m2m_names)
    instance.save()
    if save_related is not None:
        save_related()
    after = _m2m_pks(instance, m2m_names)
    changes.update({name: (before[name], after[name]) for name in m2m_names if before[name] != after[name]})
    model = instance._meta.model_name
    record(action=f"{model}.{'created' if created else 'changed'}", target=instance,
           acting_user=acting_user, reason=reason, changes=changes)
    return instance


@transaction.atomic
def delete_with_audit(*, instance: models.Model, acting_user: User, reason: str) -> None:
    """Delete a row a person chose to remove, keeping a record of what it was."""
    record(action=f"{instance._meta.model_name}.deleted", target=instance, acting_user=acting_user,
           reason=reason)
    instance.delete()
