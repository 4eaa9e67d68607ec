from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

# Boards set the prices at their own stations (the notice rule still applies); viewers only look. Spot prices are
# public market data; the gap list and tariff revisions stay with support.
BOARD_ADMIN = ["view_tariff", "add_tariff", "change_tariff", "view_tariffassignment", "add_tariffassignment",
               "change_tariffassignment", "delete_tariffassignment", "view_spotprice"]
BOARD_VIEW = [codename for codename in BOARD_ADMIN if codename.startswith("view_")]


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)


def grant(apps, schema_editor):
    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name, codenames in ((BOARD_ADMIN_GROUP, BOARD_ADMIN), (BOARD_VIEWER_GROUP, BOARD_VIEW)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in ((BOARD_ADMIN_GROUP, BOARD_ADMIN), (BOARD_VIEWER_GROUP, BOARD_VIEW)):
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("accounts", "0002_organization_permission_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
