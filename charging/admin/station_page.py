"""The charge point page of the operations console (StationPageMixin for ChargePointAdmin): panels below the
change form, remote actions with a reason form each, notes, the live-status endpoint the page polls, and the
soft/hard reset actions of the station list.

Viewing needs view permission on the charge point; each panel also needs view permission on what it lists (board
members see no frame log). Remote actions need change permission, and the disruptive ones operator staff too.
Charge points outside the user's organizations are not found (404).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import action_with_reason
from accounts.tenancy import is_operator_staff
from charging.admin import remote_forms
from charging.commands import CommandFailed
from charging.models import ChargePoint, OcppFrame, RemoteCommand
from charging.selectors import station_page as selectors
from charging.services import notes, remote


@dataclass(frozen=True)
class RemoteAction:
    label: Promise
    form: type[remote_forms.RemoteActionForm]
    #: Disruptive for the customer: operator staff only.
    operator_only: bool = False


REMOTE_ACTIONS = {
    "start": RemoteAction(gettext_lazy("Remote start"), remote_forms.StartForm),
    "stop": RemoteAction(gettext_lazy("Remote stop"), remote_forms.StopForm),
    "unlock": RemoteAction(gettext_lazy("Unlock connector"), remote_forms.UnlockForm),
    "reset": RemoteAction(gettext_lazy("Reset"), remote_forms.ResetForm, operator_only=True),
    "availability": RemoteAction(gettext_lazy("Change availability"), remote_forms.AvailabilityForm),
    "clear_cache": RemoteAction(gettext_lazy("Clear cache"), remote_forms.ClearCacheForm),
    "trigger": RemoteAction(gettext_lazy("Trigger message"), remote_forms.TriggerForm),
    "firmware": RemoteAction(gettext_lazy("Update firmware"), remote_forms.FirmwareForm, operator_only=True),
    "diagnostics": RemoteAction(gettext_lazy("Get diagnostics / log"), remote_forms.DiagnosticsForm),
    "local_list": RemoteAction(gettext_lazy("Send local list"), remote_forms.LocalListForm, operator_only=True),
    "reserve": RemoteAction(gettext_lazy("Reserve"), remote_forms.ReserveForm),
    "cancel_reservation": RemoteAction(gettext_lazy("Cancel reservation"), remote_forms.CancelReservationForm),
    "clear_profiles": RemoteAction(gettext_lazy("Clear charging profiles"), remote_forms.ClearProfilesForm),
    "configuration_read": RemoteAction(gettext_lazy("Read configuration"), remote_forms.ConfigurationReadForm),
    "configuration": RemoteAction(gettext_lazy("Change configuration"), remote_forms.ConfigurationForm,
                                  operator_only=True),
    "connectivity": RemoteAction(gettext_lazy("Connectivity test"), remote_forms.ConnectivityForm),
    "decommission": RemoteAction(gettext_lazy("Decommission"), remote_forms.DecommissionForm, operator_only=True),
    "recommission": RemoteAction(gettext_lazy("Recommission"), remote_forms.RecommissionForm, operator_only=True),
}

#: Permission each panel needs besides viewing the charge point (None: none).
PANEL_PERMISSIONS = {
    "connectors": None,
    "configuration": None,
    "frames": "charging.view_ocppframe",
    "authorizations": "charging.view_authorizationattempt",
    "sessions": "charging.view_chargingsession",
    "notes": "charging.view_stationnote",
    "alarms": "charging.view_alarm",
    "commands": "charging.view_remotecommand",
    "connections": "charging.view_connectionevent",
}
#: How often the open page asks for fresh values (seconds).
LIVE_INTERVAL_SECONDS = 5


def failure_text(command: RemoteCommand) -> str:
    """Why a command got no answer: "Charger offline", "No answer in time", the CALLERROR, or the refusal."""
    if command.status == RemoteCommand.Status.CALL_ERROR:
        return command.error or str(command.get_status_display())
    if command.status == RemoteCommand.Status.REFUSED:
        return f"{command.get_status_display()}: {command.error}"
    return str(command.get_status_display())


def answer_text(command: RemoteCommand) -> str:
    """The charger's answer in a line: its status plus what else it said (file name, reason code, keys read)."""
    text = remote.answer_status(command)
    response = command.response or {}
    details = []
    if command.action == "GetConfiguration":
        details.append(_("%(n)d keys read") % {"n": len(response.get("configurationKey") or [])})
        if response.get("unknownKey"):
            details.append(_("unknown: %(keys)s") % {"keys": ", ".join(response["unknownKey"])})
    file_name = response.get("fileName") or response.get("filename")
    if file_name:
        details.append(_("file %(name)s") % {"name": file_name})
    reason_code = (response.get("statusInfo") or {}).get("reasonCode")
    if reason_code:
        details.append(reason_code)
    return f"{text} ({'; '.join(details)})" if details else text


def outcome(label, result) -> tuple[int, str]:
    """Message level and text for what an action returned."""
    if isinstance(result, remote.ConnectivityResult):
        status = (answer_text(result.status) if result.status.status == RemoteCommand.Status.ANSWERED
                  else failure_text(result.status))
        return messages.SUCCESS, _("%(label)s: round trip %(ms)d ms (Heartbeat: %(heartbeat)s; "
                                   "StatusNotification: %(status)s)") % {
            "label": label, "ms": result.round_trip_ms, "heartbeat": answer_text(result.heartbeat), "status": status}
    if isinstance(result, RemoteCommand):
        level = messages.SUCCESS if remote.answer_status(result) in remote.ACCEPTING_ANSWERS else messages.WARNING
        return level, f"{label}: {answer_text(result)}"
    return messages.SUCCESS, _("%(label)s: done") % {"label": label}


def _add_errors(form, exc: ValidationError) -> None:
    """Show a service's refusal on the form: on the field it names when the form has it, else above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _bulk_reset(hard: bool, label):
    def apply(charge_point: ChargePoint, request: HttpRequest, reason: str) -> str:
        try:
            command = remote.reset(charge_point=charge_point, hard=hard, acting_user=request.user, reason=reason)
        except CommandFailed as failure:
            raise ValidationError(failure_text(failure.command)) from failure
        return f"{charge_point}: {label}: {answer_text(command)}"

    return apply


class StationPageMixin:
    """Mixed into ChargePointAdmin (a TenantScopedAdmin: get_object only finds visible charge points)."""

    soft_reset = action_with_reason(description=gettext_lazy("Soft reset"), permissions=["remote_reset"],
                                    apply=_bulk_reset(False, gettext_lazy("Soft reset")))
    hard_reset = action_with_reason(description=gettext_lazy("Hard reset"), permissions=["remote_reset"],
                                    apply=_bulk_reset(True, gettext_lazy("Hard reset")))

    def has_remote_reset_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request) and is_operator_staff(request.user)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/actions/<str:action>/", self.admin_site.admin_view(self.remote_action_view),
                 name="{}_{}_action".format(*info)),
            path("<path:object_id>/live/", self.admin_site.admin_view(self.live_view),
                 name="{}_{}_live".format(*info)),
            path("<path:object_id>/notes/", self.admin_site.admin_view(self.note_add_view),
                 name="{}_{}_note".format(*info)),
            *super().get_urls(),
        ]

    # --- permissions -----------------------------------------------------------------------------------------
    def _visible_object(self, request: HttpRequest, object_id: str) -> ChargePoint:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("No charge point with this id."))
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def may_run(self, request: HttpRequest, obj: ChargePoint, action: RemoteAction) -> bool:
        if not self.has_change_permission(request, obj):
            return False
        return not action.operator_only or is_operator_staff(request.user)

    def visible_panels(self, request: HttpRequest) -> set[str]:
        return {name for name, perm in PANEL_PERMISSIONS.items() if perm is None or request.user.has_perm(perm)}

    def _page_url(self, obj: ChargePoint) -> str:
        return reverse("admin:charging_chargepoint_change", args=[obj.pk], current_app=self.admin_site.name)

    # --- the page ----------------------------------------------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and obj is not None:
            context.update(self.station_page_context(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def station_page_context(self, request: HttpRequest, obj: ChargePoint) -> dict:
        panels = self.visible_panels(request)
        frame_action = request.GET.get("frame_action", "").strip()[:50]
        frame_direction = request.GET.get("frame_direction", "")
        station = selectors.station_page(request.user, obj, panels=panels, frame_action=frame_action,
                                         frame_direction=frame_direction, now=timezone.now())
        buttons = []
        for name, action in REMOTE_ACTIONS.items():
            if name in ("configuration", "connectivity"):
                continue  # these have their own forms in their panels
            if (name == "decommission" and obj.is_decommissioned) or (
                    name == "recommission" and not obj.is_decommissioned):
                continue
            if self.may_run(request, obj, action):
                buttons.append({"name": name, "label": action.label, "operator_only": action.operator_only,
                                "url": reverse("admin:charging_chargepoint_action", args=[obj.pk, name],
                                               current_app=self.admin_site.name)})
        frames = station.get("frames") or []
        return {
            "station": station,
            "remote_buttons": buttons,
            "can_configure": self.may_run(request, obj, REMOTE_ACTIONS["configuration"]),
            "can_test_connectivity": self.may_run(request, obj, REMOTE_ACTIONS["connectivity"]),
            "can_add_note": request.user.has_perm("charging.add_stationnote"),
            "configuration_url": reverse("admin:charging_chargepoint_action", args=[obj.pk, "configuration"],
                                         current_app=self.admin_site.name),
            "connectivity_url": reverse("admin:charging_chargepoint_action", args=[obj.pk, "connectivity"],
                                        current_app=self.admin_site.name),
            "note_url": reverse("admin:charging_chargepoint_note", args=[obj.pk], current_app=self.admin_site.name),
            "live_url": reverse("admin:charging_chargepoint_live", args=[obj.pk], current_app=self.admin_site.name),
            "live_interval": LIVE_INTERVAL_SECONDS,
            "access_url": (reverse("admin:charging_chargepointaccess_change", args=[obj.pk],
                                   current_app=self.admin_site.name)
                           if request.user.has_perm("charging.view_chargepointaccess") else ""),
            "last_frame_id": max((f["id"] for f in frames), default=0),
            "frame_directions": OcppFrame.Direction.choices,
        }

    # --- remote actions ----------------------------------------------------------------------------------------
    def remote_action_view(self, request: HttpRequest, object_id: str, action: str):
        obj = self._visible_object(request, object_id)
        spec = REMOTE_ACTIONS.get(action)
        if spec is None:
            raise Http404(_("No such action."))
        if not self.may_run(request, obj, spec):
            raise PermissionDenied
        now = timezone.now()
        form = spec.form(request.POST if request.method == "POST" else None, charge_point=obj, user=request.user,
                         now=now)
        if request.method == "POST" and form.is_valid():
            try:
                result = form.run(acting_user=request.user)
            except ValidationError as exc:
                _add_errors(form, exc)
            except CommandFailed as failure:
                self.message_user(request, f"{spec.label}: {failure_text(failure.command)}", messages.ERROR)
                return HttpResponseRedirect(self._page_url(obj))
            else:
                level, text = outcome(spec.label, result)
                self.message_user(request, text, level)
                return HttpResponseRedirect(self._page_url(obj))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{spec.label}: {obj}",
            "action_label": spec.label,
            "opts": self.opts,
            "original": obj,
            "form": form,
            "page_url": self._page_url(obj),
            "operator_only": spec.operator_only,
            "sends_command": action not in ("decommission", "recommission"),
            "version": form.version,
        }
        return TemplateResponse(request, "admin/charging/chargepoint/remote_action.html", context)

    # --- notes -----------------------------------------------------------------------------------------------
    def note_add_view(self, request: HttpRequest, object_id: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._visible_object(request, object_id)
        if not request.user.has_perm("charging.add_stationnote"):
            raise PermissionDenied
        try:
            notes.station_note_add(charge_point=obj, text=request.POST.get("text", ""), acting_user=request.user,
                                   at=timezone.now())
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(request, _("Note added."), messages.SUCCESS)
        return HttpResponseRedirect(self._page_url(obj) + "#notes")

    # --- live values -----------------------------------------------------------------------------------------
    def live_view(self, request: HttpRequest, object_id: str):
        obj = self._visible_object(request, object_id)
        try:
            since = int(request.GET["since"]) if request.GET.get("since") else None
        except ValueError:
            since = None
        state = selectors.live_state(request.user, obj, panels=self.visible_panels(request), since_frame_id=since,
                                     frame_action=request.GET.get("frame_action", "").strip()[:50],
                                     frame_direction=request.GET.get("frame_direction", ""), now=timezone.now())
        return JsonResponse(state)
