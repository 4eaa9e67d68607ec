"""Who is using the portal, for which organization, in which role. Every portal view is wrapped in ``portal_view``:
it needs a signed-in person with a membership, resolves the organization chosen in the switcher (kept in the
session) and answers 404 — never a hint — when the person's role there does not reach the page."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User

SESSION_KEY = "portal_organization_id"

ADMIN = "admin"
VIEWER = "viewer"
RESIDENT = "resident"
BOARD = frozenset({ADMIN, VIEWER})
EVERYONE = frozenset({ADMIN, VIEWER, RESIDENT})

_ROLE_OF = {Membership.Role.ORG_ADMIN: ADMIN, Membership.Role.ORG_VIEWER: VIEWER, Membership.Role.RESIDENT: RESIDENT}


@dataclass(frozen=True)
class Choice:
    organization: Organization
    role: str


@dataclass(frozen=True)
class Portal:
    """``request.portal`` inside a portal view."""

    user: User
    organization: Organization
    role: str
    choices: tuple[Choice, ...]

    @property
    def is_board(self) -> bool:
        return self.role in BOARD

    @property
    def can_change(self) -> bool:
        return self.role == ADMIN

    def require_change(self) -> None:
        """Refuse a change by a board viewer (they may look, not change)."""
        if not self.can_change:
            raise PermissionDenied(_("Your role lets you look, not change."))


def choices_for(user: User) -> tuple[Choice, ...]:
    """The organizations ``user`` may use the portal for (one membership each), by name."""
    memberships = (Membership.objects.filter(user=user, role__in=list(_ROLE_OF))
                   .select_related("organization").order_by("organization__name", "organization_id"))
    return tuple(Choice(membership.organization, _ROLE_OF[membership.role]) for membership in memberships)


def resolve(request: HttpRequest) -> Portal | None:
    """The portal context of a signed-in person: the organization picked in the switcher, else the first one."""
    choices = choices_for(request.user)
    if not choices:
        return None
    wanted = request.session.get(SESSION_KEY)
    chosen = next((choice for choice in choices if choice.organization.pk == wanted), choices[0])
    return Portal(user=request.user, organization=chosen.organization, role=chosen.role, choices=choices)


def portal_view(roles: Iterable[str] = BOARD) -> Callable:
    """Wrap a view taking ``(request, *args)``: signed in (else the portal login), a member (else 404), and a role
    in ``roles`` in the chosen organization (else 404: the page does not exist for them)."""
    allowed = frozenset(roles)

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), "portal:login")
            portal = resolve(request)
            if portal is None or portal.role not in allowed:
                raise Http404
            request.portal = portal
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
