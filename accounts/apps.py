from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Organizations (tenants), users, memberships, ID tokens, user groups, API keys and the audit log."""

    name = "accounts"
    verbose_name = "Accounts"
