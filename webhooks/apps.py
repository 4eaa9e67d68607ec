"""The webhooks app: registers its listener with the business-event bus (csms.events) when Django starts."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        from csms import events
        from webhooks.services import deliveries_for_events

        events.register_listener(deliveries_for_events)
