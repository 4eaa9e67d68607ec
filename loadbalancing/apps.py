from django.apps import AppConfig


class LoadbalancingConfig(AppConfig):
    """Power groups, the allocation engine and smart charging."""

    name = "loadbalancing"
    verbose_name = "Load balancing"
