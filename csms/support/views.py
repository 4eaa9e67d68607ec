"""The customer lookup: a search box for the support phone line, and a page per person (or per tag nobody owns)
with everything support needs while the customer is on the line. Reads only; tenant-scoped by the selectors."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import IdToken, Organization, User
from accounts.selectors import customers_matching, person_visible_to
from charging.models import AuthorizationAttempt, Booking, ChargePoint, ChargingSession, Reservation
from charging.selectors.customers import RECENT_DAYS, customer_overview, token_overview, token_visible_to
from csms.support.forms import CustomerSearchForm

#: The admin pages the lookup links to, by the name the templates use.
_LINKED_MODELS = {"user": User, "organization": Organization, "idtoken": IdToken, "session": ChargingSession,
                  "chargepoint": ChargePoint, "reservation": Reservation, "attempt": AuthorizationAttempt,
                  "booking": Booking}


def _require_permission(request: HttpRequest) -> None:
    if not request.user.has_perm("accounts.view_user"):
        raise PermissionDenied


def _admin_links(request: HttpRequest) -> dict[str, bool]:
    """Which of the linked admin pages the viewer may open (a link to a page they may not see is left out)."""
    site = admin.site
    return {name: site.is_registered(model) and site.get_model_admin(model).has_view_permission(request)
            for name, model in _LINKED_MODELS.items()}


def _render(request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(request, template, {
        **admin.site.each_context(request), "title": title, "links": _admin_links(request),
        "recent_days": RECENT_DAYS, **context})


def customer_lookup(request: HttpRequest) -> TemplateResponse:
    _require_permission(request)
    form = CustomerSearchForm(request.GET if "q" in request.GET else None)
    result = customers_matching(request.user, form.cleaned_data["q"]) if form.is_valid() else None
    return _render(request, "admin/support/customer_lookup.html", _("Customer lookup"), form=form, result=result)


def customer_detail(request: HttpRequest, user_id: int) -> TemplateResponse:
    _require_permission(request)
    person = person_visible_to(request.user, user_id)
    if person is None:
        raise Http404(_("No such person among those you may see."))
    overview = customer_overview(request.user, person=person, now=timezone.now())
    return _render(request, "admin/support/customer_detail.html", str(person), overview=overview,
                   form=CustomerSearchForm())


def token_detail(request: HttpRequest, token_id: int):
    _require_permission(request)
    token = token_visible_to(request.user, token_id)
    if token is None:
        raise Http404(_("No such tag among those you may see."))
    if token.user_id is not None and person_visible_to(request.user, token.user_id) is not None:
        return redirect("support:customer_detail", token.user_id)
    overview = token_overview(request.user, token=token, now=timezone.now())
    return _render(request, "admin/support/customer_detail.html", _("Tag %(uid)s") % {"uid": token.uid},
                   overview=overview, form=CustomerSearchForm())
