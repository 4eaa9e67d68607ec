"""Connect API representations of locations, charge points, EVSEs and connectors. Live status is given twice: as
the charger reported it (OCPP status and error code) and in plain words (charging.status_text)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from charging.models import ChargePoint, Connector, Evse, Location
from charging.status_text import ConnectorState, connector_status_text, network_text, station_status_text


class LocationSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    organization_name = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = Location
        fields = ["id", "organization", "organization_name", "name", "street_address", "postal_code", "city",
                  "country", "latitude", "longitude", "time_zone", "bidding_area", "created_at"]
        read_only_fields = fields


class ConnectorSerializer(serializers.ModelSerializer):
    number = serializers.IntegerField(source="connector_id", read_only=True)
    ocpp_status = serializers.CharField(source="status", read_only=True,
                                        help_text="The status exactly as the charger reported it.")
    status_text = serializers.SerializerMethodField(help_text="The status in plain words.")

    class Meta:
        model = Connector
        fields = ["number", "standard", "ocpp_status", "status_text", "error_code", "vendor_error_code", "info",
                  "status_at"]
        read_only_fields = fields

    def get_status_text(self, connector: Connector) -> str:
        return connector_status_text(connector.status, connector.error_code)


class EvseSerializer(serializers.ModelSerializer):
    charge_point = serializers.IntegerField(source="charge_point_id", read_only=True)
    number = serializers.IntegerField(source="evse_id", read_only=True,
                                      help_text="OCPP 1.6 connectorId / OCPP 2.0.1 evse id.")
    evse_id = serializers.CharField(source="public_id", read_only=True, help_text="The public EVSE-ID (eMI3).")
    ocpp_status = serializers.CharField(source="status", read_only=True,
                                        help_text="The status exactly as the charger reported it.")
    status_text = serializers.SerializerMethodField(help_text="The status in plain words.")
    connectors = ConnectorSerializer(many=True, read_only=True)

    class Meta:
        model = Evse
        fields = ["id", "charge_point", "number", "evse_id", "current_type", "max_power_w", "ocpp_status",
                  "status_text", "status_at", "connectors"]
        read_only_fields = fields

    def get_status_text(self, evse: Evse) -> str:
        connectors = list(evse.connectors.all())
        if connectors and evse.status in ("", "Unknown"):
            # 2.0.1 reports per connector; the EVSE's own column may never be set.
            return connector_status_text(connectors[0].status, connectors[0].error_code)
        faulted = next((c for c in connectors if c.status == evse.status and c.error_code), None)
        return connector_status_text(evse.status, faulted.error_code if faulted else "")


class ChargePointSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    location = serializers.IntegerField(source="location_id", read_only=True, allow_null=True)
    connected = serializers.BooleanField(source="is_connected", read_only=True)
    network_text = serializers.SerializerMethodField(help_text="Connected, or since when it is offline.")
    ocpp_status = serializers.CharField(source="status", read_only=True,
                                        help_text="Station-wide status (connector 0) as the charger reported it.")
    ocpp_error_code = serializers.CharField(source="error_code", read_only=True)
    status_text = serializers.SerializerMethodField(help_text="The station's live status in plain words.")
    evses = EvseSerializer(many=True, read_only=True)

    class Meta:
        model = ChargePoint
        fields = ["id", "identity", "organization", "location", "display_name", "serial_number", "vendor", "model",
                  "firmware_version", "ocpp_version", "registration_status", "connected", "last_seen_at",
                  "network_text", "ocpp_status", "ocpp_error_code", "status_text", "access_mode",
                  "decommissioned_at", "created_at", "evses"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_network_text(self, charge_point: ChargePoint) -> str:
        return network_text(connected=charge_point.is_connected, last_seen_at=charge_point.last_seen_at,
                            now=timezone.now())

    def get_status_text(self, charge_point: ChargePoint) -> str:
        states = [ConnectorState(evse.evse_id, connector.connector_id, connector.status, connector.error_code)
                  for evse in charge_point.evses.all() for connector in evse.connectors.all()]
        return station_status_text(
            connected=charge_point.is_connected, decommissioned=charge_point.decommissioned_at is not None,
            station_status=charge_point.status, station_error_code=charge_point.error_code, connectors=states)
