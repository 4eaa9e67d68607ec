"""Connect API representations of remote commands (what was sent, the charger's answer), their inputs (one per
command), charging profiles, reservations and the operator's force-close of a stale session.

Inputs are checked for shape only: values only the charger can judge (a connector number, a configuration key,
a reservation it may have forgotten) are passed through and the charger's own answer is returned."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from charging.models import ChargingProfile, ChargingSession, RemoteCommand, Reservation
from charging.services.remote import answer_status

#: Every integer input is an int32 on the wire (OCPP) or a database id: larger values are refused as invalid.
MAX_INT = 2**31 - 1


def _int(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(max_value=MAX_INT, **{"min_value": 0, **kwargs})


# --- what is stored --------------------------------------------------------------------------------------------------

class RemoteCommandSerializer(serializers.ModelSerializer):
    charge_point = serializers.IntegerField(source="charge_point_id", read_only=True)
    charge_point_identity = serializers.CharField(source="charge_point.identity", read_only=True)
    request = serializers.JSONField(source="payload", read_only=True,
                                    help_text="The payload sent, exactly as on the wire (camelCase).")
    status = serializers.ChoiceField(choices=RemoteCommand.Status.choices, read_only=True,
                                     help_text="pending (not answered yet), answered, call_error (the charger "
                                               "answered with a CALLERROR), timeout, offline, refused (not sent: "
                                               "the CSMS refused, see error).")
    charger_status = serializers.SerializerMethodField(
        help_text="The status the charger answered (Accepted, Rejected, Unlocked, …); null unless answered.")
    response = serializers.JSONField(read_only=True, help_text="The charger's answer as on the wire.")
    requested_by = serializers.IntegerField(source="requested_by_id", read_only=True, allow_null=True)
    reservation = serializers.SerializerMethodField(help_text="The reservation id of a ReserveNow / "
                                                              "CancelReservation (the CSMS-assigned id).")
    charging_profile = serializers.SerializerMethodField(help_text="The chargingProfileId a SetChargingProfile, "
                                                                   "ClearChargingProfile or remote start carries.")

    class Meta:
        model = RemoteCommand
        fields = ["id", "charge_point", "charge_point_identity", "action", "request", "status", "charger_status",
                  "response", "error", "reason", "requested_by", "reservation", "charging_profile", "created_at",
                  "answered_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_charger_status(self, command: RemoteCommand) -> str | None:
        return answer_status(command) if command.status == RemoteCommand.Status.ANSWERED else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_reservation(self, command: RemoteCommand) -> int | None:
        if command.action not in ("ReserveNow", "CancelReservation"):
            return None
        payload = command.payload or {}
        value = payload.get("reservationId", payload.get("id"))
        return value if isinstance(value, int) else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_charging_profile(self, command: RemoteCommand) -> int | None:
        payload = command.payload or {}
        if command.action == "SetChargingProfile":
            body = payload.get("csChargingProfiles") or payload.get("chargingProfile") or {}
            value = body.get("chargingProfileId", body.get("id"))
        elif command.action == "ClearChargingProfile":
            value = payload.get("id", payload.get("chargingProfileId"))
        elif command.action in ("RemoteStartTransaction", "RequestStartTransaction"):
            body = payload.get("chargingProfile") or {}
            value = body.get("chargingProfileId", body.get("id"))
        else:
            value = None
        return value if isinstance(value, int) else None


class ProfilePeriodSerializer(serializers.Serializer):
    start_period = _int(help_text="Seconds from the start of the schedule; the first period starts at 0.")
    limit = serializers.DecimalField(max_digits=9, decimal_places=1, min_value=0,
                                     help_text="In the profile's unit (A per phase, or W), one decimal.")
    number_phases = serializers.IntegerField(min_value=1, max_value=3, required=False)


class ChargingProfileSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="charging_profile_id", read_only=True,
                                  help_text="The chargingProfileId sent to the charger (not a database id).")
    charge_point = serializers.IntegerField(source="charge_point_id", read_only=True)
    evse = serializers.SerializerMethodField(help_text="The EVSE number (1.6 connectorId / 2.0.1 evseId); 0 = the "
                                                       "whole station.")
    session = serializers.IntegerField(source="session_id", read_only=True, allow_null=True)
    periods = ProfilePeriodSerializer(many=True, read_only=True)
    command = serializers.IntegerField(source="command_id", read_only=True, allow_null=True,
                                       help_text="The remote command that carried it.")
    cleared_by_command = serializers.IntegerField(source="cleared_by_command_id", read_only=True, allow_null=True)
    recurrency_kind = serializers.ChoiceField(choices=ChargingProfile.RecurrencyKind.choices, allow_blank=True,
                                              read_only=True, help_text="Empty unless the profile is recurring.")

    class Meta:
        model = ChargingProfile
        fields = ["id", "charge_point", "evse", "purpose", "stack_level", "kind", "recurrency_kind", "valid_from",
                  "valid_to", "transaction_id", "session", "charging_rate_unit", "start_schedule", "duration",
                  "min_charging_rate", "periods", "status", "command", "cleared_by_command", "created_at",
                  "cleared_at"]
        read_only_fields = fields

    def get_evse(self, profile: ChargingProfile) -> int:
        return profile.evse.evse_id if profile.evse_id else 0


class ReservationSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text="The CSMS-assigned reservation id, also the "
                                                            "reservationId sent to the charger.")
    charge_point = serializers.IntegerField(source="charge_point_id", read_only=True)
    evse = serializers.SerializerMethodField(help_text="The EVSE number; null = any EVSE of the station.")
    id_token = serializers.IntegerField(source="id_token_id", read_only=True, allow_null=True)

    class Meta:
        model = Reservation
        fields = ["id", "charge_point", "evse", "id_token", "id_token_uid", "expires_at", "status", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_evse(self, reservation: Reservation) -> int | None:
        return reservation.evse.evse_id if reservation.evse_id else None


# --- inputs ----------------------------------------------------------------------------------------------------------

class CommandInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=400,
                                   help_text="Why (stored with the command and in the audit log).")
    wait = serializers.BooleanField(required=False, default=True,
                                    help_text="true: answer once the charger has answered (or the command timed "
                                              "out), 200. false: answer 202 at once with the pending command; "
                                              "poll GET /api/v1/commands/{id}/.")


class _TokenChoice(serializers.Serializer):
    """Who: a token by uid or id, or a user (that user's usable token)."""

    id_token = serializers.CharField(required=False, max_length=36, help_text="The token's uid.")
    id_token_id = _int(required=False, min_value=1, help_text="The token's id.")
    user = _int(required=False, min_value=1, help_text="A user id: that user's active, valid token is used.")

    def validate(self, attrs):
        given = [name for name in ("id_token", "id_token_id", "user") if attrs.get(name) not in (None, "")]
        if len(given) != 1:
            raise serializers.ValidationError(_("Give exactly one of id_token, id_token_id and user."))
        return attrs


class ChargingProfileInputSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=ChargingProfile.Purpose.choices)
    stack_level = serializers.IntegerField(min_value=0, max_value=1000, default=0)
    kind = serializers.ChoiceField(choices=ChargingProfile.Kind.choices, default=ChargingProfile.Kind.RELATIVE)
    recurrency_kind = serializers.ChoiceField(choices=ChargingProfile.RecurrencyKind.choices, required=False,
                                              allow_blank=True, default="")
    charging_rate_unit = serializers.ChoiceField(choices=ChargingProfile.RateUnit.choices,
                                                 default=ChargingProfile.RateUnit.AMPERES)
    start_schedule = serializers.DateTimeField(required=False, allow_null=True, default=None)
    duration = _int(required=False, allow_null=True, default=None, min_value=1)
    min_charging_rate = serializers.DecimalField(max_digits=9, decimal_places=1, min_value=0, required=False,
                                                 allow_null=True, default=None)
    valid_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    valid_to = serializers.DateTimeField(required=False, allow_null=True, default=None)
    periods = ProfilePeriodSerializer(many=True, allow_empty=False)

    def validate(self, attrs):
        starts = [period["start_period"] for period in attrs["periods"]]
        if starts[0] != 0 or any(later <= earlier for earlier, later in zip(starts, starts[1:], strict=False)):
            raise serializers.ValidationError({"periods": _("start_period must rise, the first 0.")})
        if attrs["kind"] == ChargingProfile.Kind.RECURRING and not attrs.get("recurrency_kind"):
            raise serializers.ValidationError({"recurrency_kind": _("A recurring profile needs its recurrency.")})
        if attrs["kind"] != ChargingProfile.Kind.RECURRING and attrs.get("recurrency_kind"):
            raise serializers.ValidationError({"recurrency_kind": _("Only a recurring profile has a recurrency.")})
        if attrs["kind"] == ChargingProfile.Kind.ABSOLUTE and not attrs.get("start_schedule"):
            raise serializers.ValidationError({"start_schedule": _("An absolute profile needs its start.")})
        if attrs.get("valid_from") and attrs.get("valid_to") and attrs["valid_to"] <= attrs["valid_from"]:
            raise serializers.ValidationError({"valid_to": _("valid_to must come after valid_from.")})
        return attrs


class StartInputSerializer(_TokenChoice, CommandInputSerializer):
    evse = _int(required=False, allow_null=True, default=None,
                help_text="The EVSE number (1.6 connectorId / 2.0.1 evseId); empty: the charger chooses.")
    charging_profile = ChargingProfileInputSerializer(required=False, allow_null=True, default=None,
                                                      help_text="A TxProfile (purpose tx) for the transaction; "
                                                                "stored, its id sent as chargingProfileId.")


class StopInputSerializer(CommandInputSerializer):
    session = _int(min_value=1, help_text="The session id (database id) of an active session at this charger.")


class UnlockInputSerializer(CommandInputSerializer):
    evse = _int(min_value=1, help_text="The EVSE number.")
    connector = _int(min_value=1, default=1, help_text="The connector number within the EVSE (2.0.1).")


class ResetInputSerializer(CommandInputSerializer):
    type = serializers.ChoiceField(choices=[("soft", "soft"), ("hard", "hard")], default="soft",
                                   help_text="soft (1.6 Soft / 2.0.1 OnIdle) or hard (1.6 Hard / 2.0.1 Immediate).")


class ChangeAvailabilityInputSerializer(CommandInputSerializer):
    evse = _int(required=False, allow_null=True, default=None, help_text="The EVSE number; 0 or empty: the "
                                                                          "whole station.")
    operative = serializers.BooleanField(help_text="true: back into service; false: out of service.")


class ReserveInputSerializer(_TokenChoice, CommandInputSerializer):
    evse = _int(required=False, allow_null=True, default=None, help_text="The EVSE number; empty: any EVSE.")
    expires_at = serializers.DateTimeField(help_text="When the reservation ends (ISO 8601 with offset).")


class CancelReservationInputSerializer(CommandInputSerializer):
    reservation = _int(min_value=1, help_text="The CSMS-assigned reservation id.")


class TriggerMessageInputSerializer(CommandInputSerializer):
    message = serializers.CharField(max_length=50, help_text="The message to send now, e.g. Heartbeat, "
                                                             "StatusNotification, MeterValues.")
    evse = _int(required=False, allow_null=True, default=None)


class ChangeConfigurationInputSerializer(CommandInputSerializer):
    key = serializers.CharField(max_length=50, help_text="1.6: the configuration key; 2.0.1: the variable name.")
    value = serializers.CharField(max_length=1000, allow_blank=True)
    component = serializers.CharField(max_length=50, required=False, allow_blank=True, default="",
                                      help_text="2.0.1 only: the component the variable belongs to.")
    component_evse = _int(required=False, allow_null=True, default=None, help_text="2.0.1: the component's EVSE.")
    component_instance = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    variable_instance = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")


class SetChargingProfileInputSerializer(ChargingProfileInputSerializer, CommandInputSerializer):
    evse = _int(required=False, allow_null=True, default=None, help_text="The EVSE number; 0 or empty: the "
                                                                          "whole station (a TxProfile: the "
                                                                          "session's EVSE).")
    session = _int(required=False, allow_null=True, default=None, min_value=1,
                   help_text="For a TxProfile: the active session (database id) it limits.")


class ClearChargingProfileInputSerializer(CommandInputSerializer):
    charging_profile = _int(required=False, allow_null=True, default=None,
                            help_text="The chargingProfileId of a stored profile to clear (it is kept, marked "
                                      "cleared). Without it: every profile, or those of evse and/or purpose.")
    evse = _int(required=False, allow_null=True, default=None)
    purpose = serializers.ChoiceField(choices=ChargingProfile.Purpose.choices, required=False, allow_blank=True,
                                      default="")


class ForceCloseInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=400, help_text="Why the session is closed (audited).")
    stopped_at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                           help_text="When it ended; now when empty.")


class ForceClosedSessionSerializer(serializers.ModelSerializer):
    charge_point = serializers.IntegerField(source="charge_point_id", read_only=True)
    status = serializers.ChoiceField(choices=ChargingSession.Status.choices, read_only=True)

    class Meta:
        model = ChargingSession
        fields = ["id", "charge_point", "transaction_id", "status", "started_at", "stopped_at", "meter_start_wh",
                  "meter_stop_wh", "energy_wh", "stop_reason"]
        read_only_fields = fields
