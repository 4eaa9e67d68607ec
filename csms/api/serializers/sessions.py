"""Connect API representations of charging sessions and their meter samples. A session carries the wire facts as
the charger sent them (OCPP transactionId, stop reason), its energy (so far, for a running one) and its cost: the
stored price once billing has priced it, the running estimate while it charges, null when no tariff applies."""

from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.services.session_pricing import SessionNotPriceable, session_live_cost
from charging.models import ChargingSession, MeterSample


class CostSerializer(serializers.Serializer):
    amount = serializers.CharField(help_text="Total incl. VAT, two decimals, e.g. \"23.75\".")
    currency = serializers.CharField(help_text="ISO 4217, e.g. SEK.")
    vat_amount = serializers.CharField(help_text="The VAT in the amount, two decimals.")
    final = serializers.BooleanField(help_text="True once the stopped session is priced; false for the running "
                                               "estimate of an active session.")


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def cost_of(session: ChargingSession, *, now) -> dict | None:
    """The session's cost as the API shows it; never raises for a session that cannot be priced."""
    if session.status == ChargingSession.Status.ACTIVE:
        try:
            live = session_live_cost(session=session, at=now)
        except (SessionNotPriceable, ValueError, TypeError):
            # No tariff applies (or the readings cannot be priced yet): the cost is unknown, not an error.
            return None
        return {"amount": _money(live.total_incl_vat), "currency": live.currency,
                "vat_amount": _money(live.total_vat), "final": False}
    try:
        stored = session.cost
    except ObjectDoesNotExist:
        return None
    return {"amount": _money(stored.total_incl_vat), "currency": stored.currency,
            "vat_amount": _money(stored.total_vat), "final": True}


class SessionSerializer(serializers.ModelSerializer):
    transaction_id = serializers.CharField(read_only=True, help_text="The OCPP transactionId exactly as the charger "
                                                                     "had it (1.6: the CSMS-assigned integer).")
    charge_point = serializers.IntegerField(source="charge_point_id", read_only=True,
                                            help_text="Database id of the charge point.")
    charge_point_identity = serializers.CharField(source="charge_point.identity", read_only=True,
                                                  help_text="The charge point's OCPP identity.")
    evse = serializers.IntegerField(source="evse_id", read_only=True, help_text="Database id of the EVSE.")
    evse_number = serializers.IntegerField(source="evse.evse_id", read_only=True,
                                           help_text="OCPP 1.6 connectorId / OCPP 2.0.1 evse id.")
    connector = serializers.SerializerMethodField(help_text="The connector number if known: the 1.6 connectorId, "
                                                            "or the EVSE's only connector.")
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    energy_wh = serializers.SerializerMethodField(help_text="Energy in Wh; for an active session the energy so "
                                                            "far from the latest meter reading.")
    stop_reason = serializers.CharField(read_only=True, help_text="Exactly as the charger sent it.")
    user = serializers.IntegerField(source="user_id", read_only=True, allow_null=True)
    id_token = serializers.IntegerField(source="id_token_id", read_only=True, allow_null=True)
    cost = serializers.SerializerMethodField(help_text="Null when no tariff applies or not priced yet.")

    class Meta:
        model = ChargingSession
        fields = ["id", "transaction_id", "organization", "charge_point", "charge_point_identity", "evse",
                  "evse_number", "connector", "status", "started_at", "stopped_at", "meter_start_wh",
                  "meter_stop_wh", "energy_wh", "stop_reason", "id_token", "id_token_uid", "user", "auth_source",
                  "roaming_party", "offline", "cost"]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_connector(self, session: ChargingSession) -> int | None:
        if session.charge_point.ocpp_version == "1.6":
            return session.evse.evse_id
        connectors = list(session.evse.connectors.all())
        return connectors[0].connector_id if len(connectors) == 1 else None

    @extend_schema_field(serializers.IntegerField())
    def get_energy_wh(self, session: ChargingSession) -> int:
        current = getattr(session, "current_energy_wh", None)
        return int(current) if current is not None else session.energy_wh

    @extend_schema_field(CostSerializer(allow_null=True))
    def get_cost(self, session: ChargingSession) -> dict | None:
        now = self.context.get("now") or timezone.now()
        return cost_of(session, now=now)


class MeterSampleSerializer(serializers.ModelSerializer):
    value = serializers.DecimalField(max_digits=20, decimal_places=4, read_only=True,
                                     help_text="As stored, in ``unit`` (energy in Wh, power in W...).")
    evse = serializers.IntegerField(source="evse_id", read_only=True, allow_null=True)

    class Meta:
        model = MeterSample
        fields = ["id", "timestamp", "measurand", "phase", "location", "context", "unit", "value", "evse",
                  "signed_data", "signing_method", "encoding_method", "public_key"]
        read_only_fields = fields
