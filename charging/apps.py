from django.apps import AppConfig


class ChargingConfig(AppConfig):
    """Locations, charge points, EVSEs, sessions, meter values, commands and the OCPP gateway."""

    name = "charging"
    verbose_name = "Charging"
