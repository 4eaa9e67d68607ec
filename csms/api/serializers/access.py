"""Connect API representations of access control: a charge point's access mode and weekly schedule, EVSE mode
overrides, bookings with their organization's policy, and charging keys for guests, plus the bodies of the requests
that change them. Ids are database ids; schedule times are local clock times of the station's site."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from charging.access import AccessMode
from charging.models import Booking, BookingPolicy, ChargingKey
from csms.api.fields import InstantField, id_field
from csms.api.serializers.people import OrganizationField, reason_field

MODE_CHOICES = [(mode.value, mode.value) for mode in AccessMode]
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


# Every field with these values is called "mode" (the mode now is nested under "current"), so the schema has one
# enum for them rather than one per field name.
class AccessModeField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=MODE_CHOICES, **kwargs)


class EvseModeField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=[("", "follow the charge point"), *MODE_CHOICES], allow_blank=True, **kwargs)


class ScheduleRuleSerializer(serializers.Serializer):
    """One rule of the weekly schedule, e.g. Monday–Friday 06:00–18:00 private."""

    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), min_length=1,
                                     max_length=7, help_text="0 = Monday … 6 = Sunday.")
    start = serializers.RegexField(CLOCK, help_text="Local clock time HH:MM.")
    end = serializers.RegexField(CLOCK, help_text="Local clock time HH:MM; 00:00 is midnight at the end of the day.")
    mode = AccessModeField()
    overnight = serializers.BooleanField(default=False, help_text="The rule runs past midnight into the next day.")


class ScheduleRuleOutSerializer(ScheduleRuleSerializer):
    description = serializers.CharField(read_only=True, help_text="The rule in words.")


class NextChangeSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    mode = AccessModeField()


class CurrentModeSerializer(serializers.Serializer):
    mode = AccessModeField(help_text="The mode in force now.")
    since = serializers.DateTimeField(allow_null=True, help_text="When it began (as recorded within a minute of "
                                                                 "each switch); null for an EVSE.")


class EvseAccessSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField(help_text="OCPP 1.6 connectorId / OCPP 2.0.1 evse id.")
    mode = EvseModeField(help_text="The EVSE's own mode; empty: it follows its charge point.")
    current = CurrentModeSerializer(help_text="The mode in force at this EVSE now.")
    public_code = serializers.CharField(help_text="The code on the EVSE's QR sticker.")


class ChargePointAccessSerializer(serializers.Serializer):
    charge_point = serializers.IntegerField()
    mode = AccessModeField(help_text="The mode outside every schedule rule.")
    schedule = ScheduleRuleOutSerializer(many=True)
    allowed_groups = serializers.ListField(child=serializers.IntegerField(),
                                           help_text="While private: only members of these user groups may charge "
                                                     "(none: every member of the owner).")
    time_zone = serializers.CharField(help_text="The IANA zone the schedule's clock times are read in.")
    current = CurrentModeSerializer(help_text="The mode in force now.")
    next_change = NextChangeSerializer(allow_null=True, help_text="When the schedule next switches the mode.")
    evses = EvseAccessSerializer(many=True)


class ChargePointAccessUpdateSerializer(serializers.Serializer):
    mode = AccessModeField(help_text="The mode outside every schedule rule.")
    schedule = ScheduleRuleSerializer(many=True, required=False, default=list, max_length=200)
    allowed_groups = serializers.ListField(child=id_field(), required=False, default=list, max_length=500)
    reason = reason_field()


class EvseAccessUpdateSerializer(serializers.Serializer):
    mode = EvseModeField(help_text="Empty: follow the charge point and its schedule again.")
    reason = reason_field()


class BookingSerializer(serializers.ModelSerializer):
    evse = serializers.IntegerField(source="evse_id", read_only=True)
    charge_point = serializers.IntegerField(source="evse.charge_point_id", read_only=True)
    user = serializers.IntegerField(source="user_id", read_only=True)
    id_token = serializers.IntegerField(source="id_token_id", read_only=True, allow_null=True)
    session = serializers.IntegerField(source="session_id", read_only=True, allow_null=True)
    reservation = serializers.IntegerField(source="reservation_id", read_only=True, allow_null=True,
                                           help_text="The reservation sent to the charger when the window began.")

    class Meta:
        model = Booking
        fields = ["id", "evse", "charge_point", "user", "id_token", "starts_at", "ends_at", "status", "session",
                  "reservation", "created_at", "ended_at", "cancel_reason"]
        read_only_fields = fields


class BookingCreateSerializer(serializers.Serializer):
    evse = id_field()
    user = id_field(help_text="The person the EVSE is held for.")
    id_token = id_field(required=False, allow_null=True, default=None,
                        help_text="One of the person's tags; empty: any of them.")
    starts_at = InstantField()
    ends_at = InstantField()
    reason = reason_field()


class CancellationSerializer(serializers.Serializer):
    booking = BookingSerializer()
    reservation_released = serializers.BooleanField(
        allow_null=True, help_text="Null when the charger held no reservation; else whether it accepted "
                                   "CancelReservation.")
    error = serializers.CharField(help_text="Why the reservation could not be cancelled on the charger.")


class BookingPolicySerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)

    class Meta:
        model = BookingPolicy
        fields = ["id", "organization", "enabled", "max_duration_minutes", "max_active_per_user",
                  "no_show_grace_minutes", "max_days_ahead"]
        read_only_fields = fields


class ChargingKeySerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="id_token.organization_id", read_only=True)
    id_token = serializers.IntegerField(source="id_token_id", read_only=True)
    code = serializers.CharField(source="id_token.uid", read_only=True, help_text="The key code the guest enters.")
    valid_until = serializers.DateTimeField(source="id_token.valid_until", read_only=True)
    status = serializers.CharField(source="id_token.status", read_only=True,
                                   help_text="The key code's token status: active, blocked (revoked) or expired.")
    charge_points = serializers.SerializerMethodField(help_text="Only at these charge points; empty: at all of the "
                                                                "organization's.")

    class Meta:
        model = ChargingKey
        fields = ["id", "organization", "id_token", "code", "guest_name", "guest_contact", "valid_from",
                  "valid_until", "status", "charge_points", "note", "issued_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_charge_points(self, key: ChargingKey) -> list[int]:
        return sorted(charge_point.pk for charge_point in key.charge_points.all())


class ChargingKeyIssueSerializer(serializers.Serializer):
    organization = OrganizationField()
    guest_name = serializers.CharField(max_length=200)
    guest_contact = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    valid_from = InstantField()
    valid_until = InstantField()
    charge_points = serializers.ListField(child=id_field(), required=False, default=list, max_length=500)
    code = serializers.CharField(max_length=36, required=False, allow_blank=True, default="",
                                 help_text="4–20 letters or digits; empty: a random code.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    reason = reason_field()
