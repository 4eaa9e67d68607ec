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
    # Empty until the station has connected once (its first websocket names the version).
    ocpp_version = serializers.ChoiceField(choices=ChargePoint.OcppVersion.choices, allow_blank=True, read_only=True)

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


# --- commissioning (create / update) ---------------------------------------------------------------------------------

MAX_ID = 2**31 - 1


class EvseLayoutInputSerializer(serializers.Serializer):
    evse_id = serializers.CharField(max_length=48, required=False, allow_blank=True, default="",
                                    help_text="The public EVSE-ID (eMI3), e.g. SE*ABC*E0001; may be empty.")
    current_type = serializers.ChoiceField(choices=Evse.CurrentType.choices, required=False, allow_null=True,
                                           default=None, help_text="AC or DC; empty: DC for CCS2/CHAdeMO, else AC.")
    max_power_w = serializers.IntegerField(min_value=1, max_value=2_000_000, default=11_000)
    connectors = serializers.ListField(child=serializers.ChoiceField(choices=Connector.Standard.choices),
                                       min_length=1, max_length=8,
                                       help_text="The connector standards of the EVSE, in connector order.")


class ChargePointCreateSerializer(serializers.Serializer):
    identity = serializers.CharField(max_length=48, help_text="The OCPP identity (the websocket URL's last part).")
    organization = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                            help_text="The owner; defaults to the API key's organization.")
    location = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True,
                                        default=None, help_text="A location of the owner.")
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    serial_number = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    access_mode = serializers.ChoiceField(choices=ChargePoint.AccessMode.choices,
                                          default=ChargePoint.AccessMode.PRIVATE)
    ocpp_version = serializers.ChoiceField(choices=ChargePoint.OcppVersion.choices, required=False,
                                           allow_blank=True, default="",
                                           help_text="Empty: learnt from the charger's websocket subprotocol.")
    evses = EvseLayoutInputSerializer(many=True, allow_empty=False, max_length=50)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=400)


class EvseIdInputSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The EVSE number.")
    evse_id = serializers.CharField(max_length=48, allow_blank=True, help_text="The new EVSE-ID; empty removes it.")


class ChargePointUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    location = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    access_mode = serializers.ChoiceField(choices=ChargePoint.AccessMode.choices, required=False)
    evses = EvseIdInputSerializer(many=True, required=False, max_length=50)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=400,
                                   help_text="Why (stored in the audit log).")


class CommissionedChargePointSerializer(ChargePointSerializer):
    authorization_key = serializers.CharField(
        read_only=True, help_text="The charger's AuthorizationKey (HTTP Basic auth password). Shown only in this "
                                  "answer: only its hash is stored.")

    class Meta(ChargePointSerializer.Meta):
        fields = [*ChargePointSerializer.Meta.fields, "authorization_key"]
        read_only_fields = fields
