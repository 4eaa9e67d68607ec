"""Boards run access control for their own stations: administrators change access settings (mode, schedule,
allowed groups), book EVSEs and cancel bookings, keep the booking policy and issue charging keys; viewers see
them. Tenant scoping still narrows every row."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

BOARD_VIEW = ["view_chargepointaccess", "view_booking", "view_bookingpolicy", "view_chargingkey"]
BOARD_ADMIN_EXTRA = ["change_chargepointaccess", "add_booking", "change_booking", "add_bookingpolicy",
                     "change_bookingpolicy", "add_chargingkey", "change_chargingkey"]


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="charging", codename__in=codenames)


def grant(apps, schema_editor):
    app_config = apps.get_app_config("charging")
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
    dependencies = [
        ("charging", "0009_evse_public_code_unique"),
        ("accounts", "0002_organization_permission_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
