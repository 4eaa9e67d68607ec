"""Every EVSE has a public code now (0008): the column becomes unique, and new EVSEs get one by default."""

from django.db import migrations, models

import charging.models.stations


class Migration(migrations.Migration):
    dependencies = [("charging", "0008_evse_public_codes")]

    operations = [
        migrations.AlterField(
            model_name='evse',
            name='public_code',
            field=models.CharField(default=charging.models.stations.new_public_code, editable=False, help_text="Printed on the EVSE's QR sticker; its start page is /c/<code>. Never changes.", max_length=8, unique=True, verbose_name='public code'),
        ),
    ]
