"""Access control: modes with a weekly schedule and allowed user groups on charge points, EVSE mode overrides and
public codes, bookings, booking policies and charging keys."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_organization_permission_groups'),
        ('charging', '0006_postgresql_list_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ChargePointAccess',
            fields=[
            ],
            options={
                'verbose_name': 'access settings',
                'verbose_name_plural': 'access modes and schedules',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('charging.chargepoint',),
        ),
        migrations.AddField(
            model_name='chargepoint',
            name='access_mode_since',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='mode now since'),
        ),
        migrations.AddField(
            model_name='chargepoint',
            name='access_schedule',
            field=models.JSONField(blank=True, default=list, editable=False, help_text='Rules that switch the mode by weekday and local time (charging.access); set through the access settings page.', verbose_name='weekly access schedule'),
        ),
        migrations.AddField(
            model_name='chargepoint',
            name='allowed_groups',
            field=models.ManyToManyField(blank=True, editable=False, help_text='While private: only members of these groups may charge (none: every member of the owner).', related_name='restricted_charge_points', to='accounts.usergroup', verbose_name='allowed user groups'),
        ),
        migrations.AddField(
            model_name='chargepoint',
            name='current_access_mode',
            field=models.CharField(choices=[('private', 'Private (members of the owner only)'), ('public', 'Public (anyone may charge)'), ('semi_public', 'Semi-public (QR code or charging key, never published)')], default='private', editable=False, help_text='The mode in force now, following the schedule; recorded within a minute of each switch.', max_length=16, verbose_name='mode now'),
        ),
        migrations.AddField(
            model_name='evse',
            name='access_mode',
            field=models.CharField(blank=True, choices=[('private', 'Private (members of the owner only)'), ('public', 'Public (anyone may charge)'), ('semi_public', 'Semi-public (QR code or charging key, never published)')], help_text='Empty: as the charge point, following its schedule.', max_length=16, verbose_name='mode'),
        ),
        migrations.AddField(
            model_name='evse',
            name='public_code',
            # Empty at first: 0008 gives existing EVSEs their codes, 0009 then makes the column unique.
            field=models.CharField(editable=False, null=True, max_length=8, verbose_name='public code'),
        ),
        migrations.AlterField(
            model_name='chargepoint',
            name='access_mode',
            field=models.CharField(choices=[('private', 'Private (members of the owner only)'), ('public', 'Public (anyone may charge)'), ('semi_public', 'Semi-public (QR code or charging key, never published)')], default='private', help_text='Always, or outside the rules of the weekly schedule.', max_length=16, verbose_name='mode'),
        ),
        migrations.CreateModel(
            name='BookingPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('enabled', models.BooleanField(default=True, verbose_name='bookings enabled')),
                ('max_duration_minutes', models.PositiveIntegerField(default=240, validators=[django.core.validators.MinValueValidator(15), django.core.validators.MaxValueValidator(10080)], verbose_name='longest booking (minutes)')),
                ('max_active_per_user', models.PositiveSmallIntegerField(default=2, help_text='Bookings not yet ended, cancelled or released.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(50)], verbose_name='active bookings per person')),
                ('no_show_grace_minutes', models.PositiveSmallIntegerField(default=15, help_text='A booking nobody starts charging on within this time after its start is released.', validators=[django.core.validators.MaxValueValidator(240)], verbose_name='no-show grace (minutes)')),
                ('max_days_ahead', models.PositiveSmallIntegerField(default=14, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(365)], verbose_name='bookable days ahead')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created')),
                ('organization', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='booking_policy', to='accounts.organization', verbose_name='organization')),
            ],
            options={
                'verbose_name': 'booking policy',
                'verbose_name_plural': 'booking policies',
                'ordering': ['organization__name'],
            },
        ),
        migrations.CreateModel(
            name='ChargingKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('guest_name', models.CharField(max_length=200, verbose_name='guest')),
                ('guest_contact', models.CharField(blank=True, help_text='E-mail or phone, to reach the guest.', max_length=200, verbose_name='guest contact')),
                ('valid_from', models.DateTimeField(verbose_name='valid from')),
                ('note', models.CharField(blank=True, max_length=500, verbose_name='note')),
                ('issued_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='issued')),
                ('charge_points', models.ManyToManyField(blank=True, help_text='None: every charge point of the organization.', related_name='charging_keys', to='charging.chargepoint', verbose_name='only at these charge points')),
                ('id_token', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='charging_key', to='accounts.idtoken', verbose_name='key code')),
                ('issued_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='issued by')),
            ],
            options={
                'verbose_name': 'charging key',
                'verbose_name_plural': 'charging keys',
                'ordering': ['-issued_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='Booking',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('starts_at', models.DateTimeField(verbose_name='starts')),
                ('ends_at', models.DateTimeField(verbose_name='ends')),
                ('status', models.CharField(choices=[('booked', 'Booked'), ('fulfilled', 'Charging started'), ('cancelled', 'Cancelled'), ('no_show', 'Released (no-show)')], default='booked', max_length=12, verbose_name='status')),
                ('reserve_attempts', models.PositiveSmallIntegerField(default=0, editable=False, verbose_name='ReserveNow attempts')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created')),
                ('ended_at', models.DateTimeField(blank=True, null=True, verbose_name='cancelled or released')),
                ('cancel_reason', models.CharField(blank=True, max_length=500, verbose_name='reason cancelled')),
                ('cancelled_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='cancelled by')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by')),
                ('evse', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='bookings', to='charging.evse', verbose_name='EVSE')),
                ('id_token', models.ForeignKey(blank=True, help_text="The tag the charger holds the EVSE for; empty: any of the person's.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='bookings', to='accounts.idtoken', verbose_name='ID token')),
                ('reservation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='bookings', to='charging.reservation', verbose_name='reservation on the charger')),
                ('session', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='bookings', to='charging.chargingsession', verbose_name='session')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='bookings', to=settings.AUTH_USER_MODEL, verbose_name='booked by')),
            ],
            options={
                'verbose_name': 'booking',
                'verbose_name_plural': 'bookings',
                'ordering': ['-starts_at', '-pk'],
                'indexes': [models.Index(fields=['evse', 'starts_at'], name='charging_bo_evse_id_21b0a4_idx'), models.Index(fields=['status', 'starts_at'], name='charging_bo_status_8d812b_idx'), models.Index(fields=['user', 'status'], name='charging_bo_user_id_67047c_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('ends_at__gt', models.F('starts_at'))), name='booking_ends_after_start', violation_error_message='The booking must end after it starts.')],
            },
        ),
    ]
