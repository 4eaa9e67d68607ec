from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

# A reseller's people see its commission statements (their own only: the admin narrows them).
CODENAMES = ["view_commissionstatement"]


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="billing", codename__in=CODENAMES)


def grant(apps, schema_editor):
    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name in (BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=[BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP]):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0013_reseller_commissions"),
        ("accounts", "0002_organization_permission_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
