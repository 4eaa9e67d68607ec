"""One JSON shape for every Connect API error: ``{"code": ..., "message": ..., "fields": {...}}``.

Installed per view (the API views' ``get_exception_handler``), so the rest of the site keeps its own error pages.
"""

import logging
import math

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from csms.api.throttling import TOO_MANY_REQUESTS

logger = logging.getLogger(__name__)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response (documented in the schema)."""

    code = serializers.CharField(help_text="Machine-readable error code, e.g. not_authenticated, not_found.")
    message = serializers.CharField(help_text="What went wrong, in words for a person.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="Errors per input field (empty unless the input was invalid).")


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """Field errors as {"field": [messages]}, nested fields joined with dots ("evses.0.number")."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and detail and not all(isinstance(item, str) for item in detail):
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        items = detail if isinstance(detail, list) else [detail]
        out[prefix or "non_field_errors"] = [str(item) for item in items]
    return out


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "request_too_large"


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


def as_api_error(error: DjangoValidationError) -> exceptions.ValidationError:
    """A service's Django ValidationError as the API's 400 with field errors ("__all__" → non_field_errors)."""
    if hasattr(error, "error_dict"):
        return exceptions.ValidationError({
            ("non_field_errors" if field == NON_FIELD_ERRORS else field): messages
            for field, messages in error.message_dict.items()})
    return exceptions.ValidationError({"non_field_errors": error.messages})


def api_exception_handler(exc, context):
    # Django's own 404/403 become their DRF counterparts first, so they get codes and neutral messages (a 404
    # never names the model or says whether the row exists for someone else).
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):  # a service refused the input
        exc = as_api_error(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API exception: a bug. Logged with its traceback; the caller gets the same shape, never HTML.
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response(error_body("server_error", _("Something went wrong on our side. Please try again later.")),
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", _("The request has errors; see fields."), _flatten(exc.detail))
    elif isinstance(exc, exceptions.Throttled):
        seconds = math.ceil(exc.wait) if exc.wait is not None else 60
        body = error_body("throttled", str(TOO_MANY_REQUESTS) % {"seconds": seconds})
        response["Retry-After"] = str(seconds)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        detail = exc.detail
        message = str(detail) if isinstance(detail, str) else str(exc.default_detail)
        body = error_body(code, message)
    else:  # pragma: no cover - drf_exception_handler only answers APIExceptions after the conversion above
        body = error_body("error", str(exc))
    response.data = body
    return response


def page_not_found(request, exception=None):
    """The site's 404 page; under /api/ the API's error shape (a URL no route matches, e.g. a negative id)."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return defaults.page_not_found(request, exception)
