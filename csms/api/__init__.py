"""Connect API v1: a REST front door over the apps' selectors and services, authenticated by API key or session."""
