"""Connect API representations of tariffs, their assignments and the price preview, and the bodies that create and
change them. Prices per kWh and per minute keep the five decimals billing stores; amounts of money (session fee,
lines, totals) have two. Every amount is a string next to its currency."""

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Tariff, TariffAssignment
from billing.selectors import assignment_state, effective_end
from csms.api.fields import MAX_ID, InstantField
from csms.api.serializers.billing import money


def unit_price(help_text: str = "", **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=5, coerce_to_string=True, help_text=help_text,
                                    **kwargs)


def body_id(help_text: str, **kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text=help_text, **kwargs)


class TariffSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    energy_price_ac = unit_price("Per kWh, AC.", read_only=True)
    energy_price_dc = unit_price("Per kWh, DC.", read_only=True)
    time_price_per_minute = unit_price("Per minute after the free minutes.", read_only=True)
    session_fee = money("Per session.")
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=True, read_only=True,
                                        help_text="Percent.")
    spot_multiplier = serializers.DecimalField(max_digits=8, decimal_places=4, coerce_to_string=True,
                                               read_only=True)
    spot_markup = unit_price("Per kWh, added to the spot price.", read_only=True)
    price_floor = unit_price("Lowest dynamic energy price per kWh.", read_only=True, allow_null=True)
    price_cap = unit_price("Highest dynamic energy price per kWh.", read_only=True, allow_null=True)

    class Meta:
        model = Tariff
        fields = ["id", "organization", "name", "currency", "energy_price_ac", "energy_price_dc",
                  "time_price_per_minute", "free_minutes", "session_fee", "vat_mode", "vat_rate", "dynamic",
                  "spot_multiplier", "spot_markup", "price_floor", "price_cap", "free", "is_active", "created_at",
                  "updated_at"]
        read_only_fields = fields


class TariffWriteSerializer(serializers.Serializer):
    """The body of POST (all prices optional, 0 by default) and PATCH (any subset) of a tariff."""

    organization = body_id("The owner's id. Default for an API key: the key's organization.", required=False)
    name = serializers.CharField(max_length=100)
    currency = serializers.ChoiceField(choices=Tariff._meta.get_field("currency").choices, required=False,
                                       help_text="Fixed once the tariff is created.")
    energy_price_ac = unit_price(min_value=0, required=False)
    energy_price_dc = unit_price(min_value=0, required=False)
    time_price_per_minute = unit_price(min_value=0, required=False)
    free_minutes = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    session_fee = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False)
    vat_mode = serializers.ChoiceField(choices=Tariff.VatMode.choices, required=False)
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=Decimal("99.99"),
                                        required=False)
    dynamic = serializers.BooleanField(required=False)
    spot_multiplier = serializers.DecimalField(max_digits=8, decimal_places=4, min_value=0, required=False)
    spot_markup = unit_price(required=False)
    price_floor = unit_price(required=False, allow_null=True)
    price_cap = unit_price(required=False, allow_null=True)
    free = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                   help_text="Why (stored in the audit log with the key or person).")


class TariffAssignmentSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True,
                                            help_text="The owner of the stations it applies to.")
    tariff = serializers.IntegerField(source="tariff_id", read_only=True)
    tariff_name = serializers.CharField(source="tariff.name", read_only=True)
    charge_point = serializers.IntegerField(source="charge_point_id", read_only=True, allow_null=True)
    evse = serializers.IntegerField(source="evse_id", read_only=True, allow_null=True,
                                    help_text="The EVSE's database id.")
    location = serializers.IntegerField(source="location_id", read_only=True, allow_null=True)
    user_group = serializers.IntegerField(source="user_group_id", read_only=True, allow_null=True)
    level_name = serializers.CharField(source="get_level_display", read_only=True)
    target = serializers.CharField(source="target_label", read_only=True, help_text="The target in words.")
    ends_at = serializers.SerializerMethodField(help_text="When it stops being in force: its own end or a later "
                                                          "assignment of the same target; null if open-ended.")
    state = serializers.SerializerMethodField()

    class Meta:
        model = TariffAssignment
        fields = ["id", "organization", "tariff", "tariff_name", "level", "level_name", "target", "charge_point",
                  "evse", "location", "user_group", "valid_from", "valid_until", "ends_at", "state", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_ends_at(self, assignment: TariffAssignment) -> str | None:
        end = effective_end(assignment)
        return None if end is None else serializers.DateTimeField().to_representation(end)

    @extend_schema_field(serializers.ChoiceField(choices=["scheduled", "in_force", "ended"]))
    def get_state(self, assignment: TariffAssignment) -> str:
        return assignment_state(assignment, timezone.now())


class TariffAssignmentCreateSerializer(serializers.Serializer):
    """Where a tariff applies from when: a charge point (optionally one EVSE), a location, a user group at a charge
    point or at all the owner's stations, or nothing but ``organization`` for the owner's default."""

    tariff = body_id("The tariff's id.")
    valid_from = InstantField(help_text="With a time zone; not in the past.")
    charge_point = body_id("A charge point's id.", required=False, allow_null=True)
    evse = body_id("An EVSE's database id (its charge point is implied).", required=False, allow_null=True)
    location = body_id("A location's id.", required=False, allow_null=True)
    user_group = body_id("A user group's id: the price for its members.", required=False, allow_null=True)
    organization = body_id("The owner whose default it becomes (only without another target).", required=False,
                           allow_null=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class AssignmentEndSerializer(serializers.Serializer):
    at = InstantField(required=False, help_text="When it ends; default now.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PricePreviewQuerySerializer(serializers.Serializer):
    evse = body_id("The EVSE's database id.")
    user = body_id("The driver's user id (their group prices apply); empty: a driver without group prices.",
                   required=False)
    energy_wh = serializers.IntegerField(min_value=0, max_value=10_000_000, default=10_000,
                                         help_text="Energy of the sample session (Wh).")
    minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60, default=60,
                                       help_text="Length of the sample session.")
    start = InstantField(required=False, help_text="When it starts (ISO 8601); default now.")


class PreviewLineSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["energy", "time", "session_fee"])
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    quantity = serializers.CharField(help_text="kWh for energy, minutes for time, 1 for the session fee.")
    unit_price = serializers.CharField(help_text="In the tariff's VAT basis, five decimals.")
    spot_price = serializers.CharField(allow_null=True, help_text="Spot price per kWh excl. VAT (dynamic).")
    used_fallback = serializers.BooleanField(help_text="Priced at the fallback spot price (no stored price).")
    tariff = serializers.CharField(help_text="The tariff that priced the line (id: name).")
    amount_excl_vat = money()
    vat_amount = money()
    amount_incl_vat = money()


class PricePreviewSerializer(serializers.Serializer):
    evse = serializers.IntegerField()
    charge_point = serializers.IntegerField()
    user = serializers.IntegerField(allow_null=True)
    start = serializers.DateTimeField()
    stop = serializers.DateTimeField()
    energy_wh = serializers.IntegerField()
    tariff = serializers.IntegerField(allow_null=True, help_text="The tariff in force at the start.")
    assignment = serializers.IntegerField(allow_null=True, help_text="The assignment that makes it apply.")
    currency = serializers.CharField()
    lines = PreviewLineSerializer(many=True)
    total_excl_vat = money()
    total_vat = money()
    total_incl_vat = money()
