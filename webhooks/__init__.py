"""Webhooks: organizations' HTTPS endpoints that hear the business events of csms.events, signed and retried."""
