"""Boards keep their own fuse tree: administrators edit power groups, wirings and priorities; viewers see them and
the readings and allocations. Tenant scoping still narrows every row."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

MODELS = ["powergroup", "evsewiring", "grouppriority", "gridmeterreading", "evseallocation"]
BOARD_VIEW = [f"view_{model}" for model in MODELS]
BOARD_ADMIN_EXTRA = [f"{verb}_{model}" for verb in ("add", "change", "delete")
                     for model in ("powergroup", "evsewiring", "grouppriority")]


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="loadbalancing", codename__in=codenames)


def grant(apps, schema_editor):
    app_config = apps.get_app_config("loadbalancing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    admins, _ = Group.objects.get_or_create(name=BOARD_ADMIN_GROUP)
    viewers, _ = Group.objects.get_or_create(name=BOARD_VIEWER_GROUP)
    admins.permissions.add(*_permissions(apps, BOARD_VIEW + BOARD_ADMIN_EXTRA))
    viewers.permissions.add(*_permissions(apps, BOARD_VIEW))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=[BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP]):
        group.permissions.remove(*_permissions(apps, BOARD_VIEW + BOARD_ADMIN_EXTRA))


class Migration(migrations.Migration):
    dependencies = [("loadbalancing", "0001_power_groups"), ("accounts", "0002_organization_permission_groups")]
    operations = [migrations.RunPython(grant, revoke)]
