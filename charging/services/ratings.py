"""Drivers' ratings of finished sessions: give one (once per session) and the average and count per charge point
for the reports."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit
from charging.models import ChargingSession, SessionRating


@transaction.atomic
def rate_session(*, session: ChargingSession, stars: int, comment: str = "", acting_user: User | None,
                 reason: str) -> SessionRating:
    """Store the driver's rating of a finished session; a second rating of the same session is refused."""
    if session.status == ChargingSession.Status.ACTIVE or session.stopped_at is None:
        raise ValidationError({"stars": _("A session can be rated once it has ended.")})
    if not 1 <= int(stars) <= 5:
        raise ValidationError({"stars": _("Give 1 to 5 stars.")})
    if SessionRating.objects.filter(session=session).exists():
        raise ValidationError({"stars": _("This session has been rated already.")})
    try:
        with transaction.atomic():
            rating = SessionRating.objects.create(session=session, stars=int(stars), comment=comment.strip())
    except IntegrityError:  # two submissions at once: the first one counts
        raise ValidationError({"stars": _("This session has been rated already.")}) from None
    audit.record(action="charging.session_rate", target=rating, acting_user=acting_user, reason=reason,
                 organization=session.organization, changes={"stars": (None, rating.stars)})
    return rating


def ratings_by_charge_point(charge_point_ids=None) -> dict[int, dict]:
    """{charge point id: {"average": float rounded to 2 decimals, "count": n}} over all ratings (one query);
    ``charge_point_ids`` narrows it (e.g. to an organization's stations)."""
    ratings = SessionRating.objects.all()
    if charge_point_ids is not None:
        ratings = ratings.filter(session__charge_point_id__in=list(charge_point_ids))
    rows = ratings.values("session__charge_point_id").annotate(average=Avg("stars"), count=Count("pk"))
    return {row["session__charge_point_id"]: {"average": round(float(row["average"]), 2), "count": row["count"]}
            for row in rows}
