from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import BOARD_ADMIN_GROUP, BOARD_VIEWER_GROUP

# Boards follow their residents' invoices, payments and reminders and their own self-billing statements and payouts;
# board admins also configure the monthly fees put on the residents' invoices. Money is moved by support only.
BOARD_VIEW = ["view_invoice", "view_payment", "view_reminder", "view_swishpaymentrequest", "view_recurringfee",
              "view_statement", "view_payout"]
BOARD_ADMIN = [*BOARD_VIEW, "add_recurringfee", "change_recurringfee"]


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
        ("billing", "0009_self_billing_statements_payouts"),
        ("accounts", "0002_organization_permission_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
