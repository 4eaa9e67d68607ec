"""Saving and deleting a support user's named station-list views (the list's filters, search and sort order).

A view belongs to one person: only its owner lists, opens or deletes it.
"""

from urllib.parse import parse_qsl, urlencode

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from charging.models import SavedStationView

#: Query parameters that describe where the person is or how the page was opened, not which stations they want.
NOISE_PARAMETERS = {"p", "all", "e", "_popup", "_to_field", "_changelist_filters", "_facets", "csrfmiddlewaretoken"}
MAX_VIEWS_PER_USER = 50
_NAME_LENGTH = SavedStationView._meta.get_field("name").max_length
_QUERY_LENGTH = SavedStationView._meta.get_field("query").max_length


def clean_query(query: str) -> str:
    """The list's query string without page number and other per-visit parameters, encoded the same way every
    time so a view can be recognised as the one on screen."""
    pairs = [(key, value) for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=True)
             if key not in NOISE_PARAMETERS]
    return urlencode(pairs)


@transaction.atomic
def saved_view_save(*, acting_user: User, name: str, query: str, reason: str = "") -> tuple[SavedStationView, bool]:
    """Store the list's current filters under ``name`` for ``acting_user``; a view of the same name is replaced.

    Returns (view, created?)."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": _("Give the view a name.")})
    if len(name) > _NAME_LENGTH:
        raise ValidationError({"name": _("At most %(n)d characters.") % {"n": _NAME_LENGTH}})
    query = clean_query(query)
    if len(query) > _QUERY_LENGTH:
        raise ValidationError({"query": _("These filters are too long to save.")})
    view = SavedStationView.objects.select_for_update().filter(user=acting_user, name=name).first()
    if view is None:
        if SavedStationView.objects.filter(user=acting_user).count() >= MAX_VIEWS_PER_USER:
            raise ValidationError(_("You have %(n)d saved views; delete one first.") % {"n": MAX_VIEWS_PER_USER})
        try:
            with transaction.atomic():
                view = SavedStationView.objects.create(user=acting_user, name=name, query=query)
        except IntegrityError:
            # The same name saved a moment ago (a double click): replace that one instead.
            view = SavedStationView.objects.select_for_update().get(user=acting_user, name=name)
        else:
            audit.record(action="savedstationview.created", target=view, acting_user=acting_user, reason=reason,
                         changes={"name": (None, name), "query": (None, query)})
            return view, True
    old = view.query
    view.query = query
    view.save(update_fields=["query"])
    audit.record(action="savedstationview.changed", target=view, acting_user=acting_user, reason=reason,
                 changes={"query": (old, query)})
    return view, False


@transaction.atomic
def saved_view_delete(*, view: SavedStationView, acting_user: User, reason: str = "") -> None:
    """Delete one of the acting user's own views."""
    if view.user_id != acting_user.pk:
        raise ValidationError(_("You can only delete your own saved views."))
    audit.record(action="savedstationview.deleted", target=view, acting_user=acting_user, reason=reason,
                 changes={"name": (view.name, None), "query": (view.query, None)})
    view.delete()
