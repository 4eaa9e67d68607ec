from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Tariffs, pricing, invoices, payments and self-billing payouts."""

    name = "billing"
    verbose_name = "Billing"
