"""factory_boy factories for charging rows, shared by the charging tests.

They build rows directly, as fixtures: code under test creates its rows through the services.
"""

from datetime import UTC, datetime

import factory

from charging.models import (
    Alarm,
    ChargePoint,
    ChargingSession,
    Connector,
    Evse,
    Location,
    NotificationGroup,
)
from tests.accounts.factories import OrganizationFactory


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Garage {n}")
    street_address = factory.Sequence(lambda n: f"Solrosvägen {n}")
    postal_code = "123 45"
    city = "Stockholm"


class ChargePointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChargePoint

    identity = factory.Sequence(lambda n: f"CP-{n:05d}")
    organization = factory.SubFactory(OrganizationFactory)
    display_name = factory.Sequence(lambda n: f"Laddplats {n:02d}")
    serial_number = factory.Sequence(lambda n: f"SN{n:08d}")


class EvseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evse
        django_get_or_create = ("charge_point", "evse_id")

    charge_point = factory.SubFactory(ChargePointFactory)
    evse_id = 1


class ConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connector
        django_get_or_create = ("evse", "connector_id")

    evse = factory.SubFactory(EvseFactory)
    connector_id = 1


class ChargingSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChargingSession

    charge_point = factory.SubFactory(ChargePointFactory)
    evse = factory.LazyAttribute(lambda o: EvseFactory(charge_point=o.charge_point))
    organization = factory.LazyAttribute(lambda o: o.charge_point.organization)
    started_at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    meter_start_wh = 0
    status = ChargingSession.Status.COMPLETED


class AlarmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alarm

    charge_point = factory.SubFactory(ChargePointFactory)
    kind = Alarm.Kind.FAULTED
    severity = Alarm.Severity.MAJOR
    message = "Faulted: InternalError"
    opened_at = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


class NotificationGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationGroup
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"On call {n}")
    organization = factory.SubFactory(OrganizationFactory)
    emails = factory.Sequence(lambda n: f"oncall{n}@example.com")

    @factory.post_generation
    def charge_points(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.charge_points.set(extracted)

    @factory.post_generation
    def locations(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.locations.set(extracted)

    @factory.post_generation
    def organizations(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.organizations.set(extracted)
