from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import (
    ACCOUNTS_BOARD_ADMIN_PERMISSIONS,
    ACCOUNTS_BOARD_VIEWER_PERMISSIONS,
    BOARD_ADMIN_GROUP,
    BOARD_VIEWER_GROUP,
)


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure this app's exist already.
    app_config = apps.get_app_config("accounts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ((BOARD_ADMIN_GROUP, ACCOUNTS_BOARD_ADMIN_PERMISSIONS),
                            (BOARD_VIEWER_GROUP, ACCOUNTS_BOARD_VIEWER_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="accounts",
                                                         codename__in=codenames))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
