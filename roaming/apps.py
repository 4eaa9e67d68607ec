from django.apps import AppConfig


class RoamingConfig(AppConfig):
    """OCPI 2.2.1 / 2.2 as a charge point operator."""

    name = "roaming"
    verbose_name = "Roaming (OCPI)"
