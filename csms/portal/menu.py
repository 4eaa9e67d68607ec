"""The portal's menu: (URL name, label, roles that see it), in order."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from csms.portal.access import BOARD, RESIDENT

MENU = [
    # Board (association / company admins and viewers)
    ("portal:dashboard", _("Overview"), BOARD),
    ("portal:stations", _("Stations"), BOARD),
    ("portal:people", _("Users & tags"), BOARD),
    ("portal:groups", _("Groups & prices"), BOARD),
    ("portal:bookings", _("Bookings"), BOARD),
    ("portal:reports", _("Reports"), BOARD),
    ("portal:invoices", _("Invoices & statements"), BOARD),
    # Resident / employee self-service
    ("portal:my_sessions", _("My charging"), {RESIDENT}),
    ("portal:my_invoices", _("My invoices"), {RESIDENT}),
    ("portal:my_tags", _("My tags"), {RESIDENT}),
    ("portal:my_bookings", _("My bookings"), {RESIDENT}),
]


def menu_for(request) -> list[dict]:
    portal = getattr(request, "portal", None)
    if portal is None:
        return []
    current = getattr(getattr(request, "resolver_match", None), "view_name", "")
    entries = []
    for name, label, roles in MENU:
        if portal.role not in roles:
            continue
        entries.append({"url": reverse(name), "label": label, "current": current.startswith(name)})
    return entries


def context(request) -> dict:
    """Template context processor: the menu of the signed-in person's role."""
    return {"portal_menu": menu_for(request)}
