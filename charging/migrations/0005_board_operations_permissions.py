from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

# Boards see the alarms, connectivity and field service of their own stations; board admins also keep their own
# notification groups (who is e-mailed about their stations). Tenant scoping still narrows every row.
BOARD_VIEW = ["view_alarm", "view_connectionevent", "view_serviceticket", "view_maintenanceplan",
              "view_notificationgroup", "view_alarmnotification"]
BOARD_ADMIN_EXTRA = ["add_notificationgroup", "change_notificationgroup", "delete_notificationgroup"]


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
        ("charging", "0004_station_status_time_semi_public_mode"),
        ("accounts", "0002_organization_permission_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
