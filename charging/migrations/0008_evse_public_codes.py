"""Existing EVSEs get their public code (random, unique), and each charge point's "mode now" starts as its mode
(the switch task then follows schedules from the next minute)."""

import secrets

from django.db import migrations
from django.db.models import F
from django.utils import timezone

# As charging.access.PUBLIC_CODE_ALPHABET / PUBLIC_CODE_LENGTH when this migration was written.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
LENGTH = 8


def fill(apps, schema_editor):
    Evse = apps.get_model("charging", "Evse")
    ChargePoint = apps.get_model("charging", "ChargePoint")
    taken = set(Evse.objects.exclude(public_code=None).values_list("public_code", flat=True))
    for evse in Evse.objects.filter(public_code=None).only("pk").iterator():
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        while code in taken:
            code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        taken.add(code)
        Evse.objects.filter(pk=evse.pk).update(public_code=code)
    ChargePoint.objects.update(current_access_mode=F("access_mode"), access_mode_since=timezone.now())


class Migration(migrations.Migration):
    dependencies = [("charging", "0007_access_control")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
