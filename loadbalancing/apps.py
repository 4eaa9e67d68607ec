from django.apps import AppConfig


class LoadbalancingConfig(AppConfig):
    """Power groups, the allocation engine and smart charging."""

    name = "loadbalancing"
    verbose_name = "Load balancing"

    def ready(self) -> None:
        from charging.ocpp.gateway import register_message_listener
        from loadbalancing.dispatcher import dispatcher

        register_message_listener(dispatcher.on_charger_message)
