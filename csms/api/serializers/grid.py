"""Connect API representations of building meter readings (the building's load per phase on a power group's feed,
for true dynamic load balancing) and the body that records one. Currents are amperes with one decimal, as strings."""

from rest_framework import serializers

from csms.api.fields import MAX_ID, InstantField
from loadbalancing.models import GridMeterReading


def amps(help_text: str, **kwargs) -> serializers.DecimalField:
    # The model stores 7 digits with one decimal: anything finer or larger is a 400, not a database error.
    return serializers.DecimalField(max_digits=7, decimal_places=1, coerce_to_string=True, help_text=help_text,
                                    **kwargs)


class GridMeterReadingSerializer(serializers.ModelSerializer):
    group = serializers.IntegerField(source="group_id", read_only=True, help_text="The power group's id.")
    l1 = amps("Current on L1 (A).", read_only=True)
    l2 = amps("Current on L2 (A).", read_only=True)
    l3 = amps("Current on L3 (A).", read_only=True)

    class Meta:
        model = GridMeterReading
        fields = ["id", "group", "measured_at", "l1", "l2", "l3", "source", "received_at"]
        read_only_fields = fields


class GridMeterReadingCreateSerializer(serializers.Serializer):
    group = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The power group's id.")
    measured_at = InstantField(required=False, help_text="When it was measured (ISO 8601 with a time "
                                                                      "zone); default now. Not in the future.")
    l1 = amps("Current on L1 (A), zero or more.", min_value=0)
    l2 = amps("Current on L2 (A), zero or more.", min_value=0)
    l3 = amps("Current on L3 (A), zero or more.", min_value=0)
    source = serializers.CharField(max_length=50, required=False, allow_blank=True, default="api",
                                   help_text="What sent it, e.g. the meter script's name.")
