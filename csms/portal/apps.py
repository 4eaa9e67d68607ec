from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "csms.portal"
    label = "portal"
    verbose_name = "Portal"
