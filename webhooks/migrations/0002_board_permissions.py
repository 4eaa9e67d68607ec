"""Boards manage their own organization's webhook endpoints and read their delivery log; viewers only look.
Tenant scoping still narrows every row."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

BOARD_VIEW = ["view_webhookendpoint", "view_webhookdelivery"]
BOARD_ADMIN_EXTRA = ["add_webhookendpoint", "change_webhookendpoint", "delete_webhookendpoint"]


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="webhooks", codename__in=codenames)


def grant(apps, schema_editor):
    app_config = apps.get_app_config("webhooks")
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
    dependencies = [("webhooks", "0001_initial"), ("accounts", "0002_organization_permission_groups")]
    operations = [migrations.RunPython(grant, revoke)]
