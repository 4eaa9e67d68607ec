"""``{% station_dashboard %}``: the operations dashboard on the admin home page (stations by status, open alarms by
severity, today's sessions and energy, stations that went offline), scoped to what the viewer may see."""

from django import template
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from charging.models import Alarm
from charging.selectors.station_list import dashboard

register = template.Library()


@register.inclusion_tag("admin/charging/station_dashboard.html", takes_context=True)
def station_dashboard(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("charging.view_chargepoint"):
        return {"dashboard": None}
    stations_url = reverse("admin:charging_chargepoint_changelist")
    # Boards may see their stations' alarm counts without having the alarm pages.
    alarms_url = (reverse("admin:charging_alarm_changelist")
                  if admin.site.is_registered(Alarm) and user.has_perm("charging.view_alarm") else "")
    return {"dashboard": dashboard(user=user, now=timezone.now()), "stations_url": stations_url,
            "alarms_url": alarms_url}
