"""Per-key rate limiting for the Connect API: each API key (or signed-in person) gets its own budget, and going
over answers 429 with Retry-After and a message saying when to try again."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey

DEFAULT_RATE = "600/min"


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api"

    def get_rate(self) -> str:
        # Read per request, so the limit can be tuned (and tests can lower it) without touching REST_FRAMEWORK.
        return getattr(settings, "CSMS_API_RATE", DEFAULT_RATE)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None  # unauthenticated requests are refused before throttling matters
        return self.cache_format % {"scope": self.scope, "ident": ident}


TOO_MANY_REQUESTS = _("Too many requests for this API key or user. Try again in %(seconds)d seconds.")
