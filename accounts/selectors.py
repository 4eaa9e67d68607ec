"""Reads of the accounts domain, always narrowed to what the asking user may see."""

import contextlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet, Value
from django.db.models.functions import Replace, Upper

from accounts import identifiers
from accounts.models import ApiKey, AuditLogEntry, IdToken, Membership, Organization, User, UserGroup
from accounts.tenancy import scope, visible_organization_ids


def organizations_visible_to(user) -> QuerySet[Organization]:
    return scope(Organization.objects.all(), user, "pk")


def users_visible_to(user) -> QuerySet[User]:
    """People with a membership in a visible organization (operator staff: everyone)."""
    ids = visible_organization_ids(user)
    if ids is None:
        return User.objects.all()
    return User.objects.filter(pk__in=Membership.objects.filter(organization_id__in=ids).values("user_id"))


def memberships_visible_to(user) -> QuerySet[Membership]:
    return scope(Membership.objects.select_related("user", "organization"), user)


def id_tokens_visible_to(user) -> QuerySet[IdToken]:
    return scope(IdToken.objects.select_related("organization", "user"), user)


def user_groups_visible_to(user) -> QuerySet[UserGroup]:
    return scope(UserGroup.objects.select_related("organization"), user)


def api_keys_visible_to(user) -> QuerySet[ApiKey]:
    return scope(ApiKey.objects.select_related("organization"), user)


def audit_entries_visible_to(user) -> QuerySet[AuditLogEntry]:
    return scope(AuditLogEntry.objects.select_related("actor", "organization", "target_type"), user)



# --- Customer lookup (the support phone line) --------------------------------------------------------------------

#: At most this many people and this many unassigned tags are listed for one search.
CUSTOMER_SEARCH_LIMIT = 50


@dataclass(frozen=True)
class CustomerSearch:
    """What one search box entry found: people, and tags that belong to nobody yet."""

    people: list[User]
    unassigned_tokens: list[IdToken]
    truncated: bool


def _token_uid_spellings(text: str) -> set[str]:
    """Every form ``text`` takes when normalised as a uid of some token type (hex in any case, with or without
    separators, finds an RFID tag)."""
    spellings = set()
    for token_type in IdToken.Type.values:
        try:
            spellings.add(identifiers.normalize_token_uid(token_type, text))
        except ValueError:
            continue
    return spellings


def _compact(text: str) -> str:
    return re.sub(r"[\s\-]", "", text).upper()


def customers_matching(viewer, query: str, *, limit: int = CUSTOMER_SEARCH_LIMIT) -> CustomerSearch:
    """People and unassigned tags ``viewer`` may see that match ``query``: a mobile number in any Swedish spelling
    (070-123 45 67, +46701234567, 0046701234567), an e-mail address (or part of one), a name (every word must
    match a first or last name), a tag uid (normalised as accounts.identifiers does) or a tag's printed number."""
    text = " ".join((query or "").split())
    if len(text) < 2:
        return CustomerSearch(people=[], unassigned_tokens=[], truncated=False)
    person = Q(pk__in=[])
    if "@" in text:
        person |= Q(email__icontains=text.lower())
    with contextlib.suppress(ValueError):
        person |= Q(mobile_number=identifiers.normalize_mobile_number(text, settings.PHONE_DEFAULT_REGION))
    words = text.split()
    if "@" not in text and all(any(char.isalpha() for char in word) for word in words):
        name = Q()
        for word in words:
            name &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
        person |= name

    compact = _compact(text)
    tokens = id_tokens_visible_to(viewer).annotate(
        printed=Replace(Replace(Upper("visual_number"), Value("-"), Value("")), Value(" "), Value(""))
    ).filter(Q(uid__in=_token_uid_spellings(text)) | Q(printed=compact) if compact else Q(pk__in=[]))
    people = list(
        users_visible_to(viewer)
        .filter(person | Q(pk__in=tokens.filter(user__isnull=False).values("user_id")))
        .prefetch_related(Prefetch("memberships", queryset=memberships_visible_to(viewer).order_by(
            "organization__name")))
        .order_by("last_name", "first_name", "pk")[:limit + 1])
    unassigned = list(tokens.filter(user__isnull=True).order_by("uid")[:limit + 1])
    return CustomerSearch(people=people[:limit], unassigned_tokens=unassigned[:limit],
                          truncated=len(people) > limit or len(unassigned) > limit)


def person_visible_to(viewer, user_id) -> User | None:
    """The person with this id if ``viewer`` may see them, else None."""
    return users_visible_to(viewer).filter(pk=user_id).first()


def person_memberships_visible_to(viewer, person: User) -> QuerySet[Membership]:
    """The person's memberships in organizations ``viewer`` may see (another tenant's stay hidden)."""
    return memberships_visible_to(viewer).filter(user=person).order_by("organization__name")


def person_tokens_visible_to(viewer, person: User) -> QuerySet[IdToken]:
    return id_tokens_visible_to(viewer).filter(user=person).select_related("blocked_by").order_by("status", "uid")
