from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

# Boards see their stations and what happens at them; the frame log and orphan stops stay with support.
BOARD_VIEW = ["view_location", "view_chargepoint", "view_evse", "view_connector", "view_chargingsession",
              "view_metersample", "view_reservation", "view_remotecommand", "view_authorizationattempt",
              "view_stationevent"]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("charging")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="charging", codename__in=BOARD_VIEW)
    for name in (BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="charging", codename__in=BOARD_VIEW)
    for group in Group.objects.filter(name__in=[BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP]):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("charging", "0001_initial"),
        ("accounts", "0002_organization_permission_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
