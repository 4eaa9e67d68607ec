"""Drivers' ratings of finished sessions (1–5 stars and a comment, once per session), given on the receipt page.

Nothing here writes: charging.services.ratings does."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SessionRating(models.Model):
    session = models.OneToOneField("charging.ChargingSession", verbose_name=_("session"), on_delete=models.CASCADE,
                                   related_name="rating")
    stars = models.PositiveSmallIntegerField(_("stars"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(_("comment"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("session rating")
        verbose_name_plural = _("session ratings")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(stars__gte=1, stars__lte=5),
                                              name="session_rating_stars_1_to_5")]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.stars}"
