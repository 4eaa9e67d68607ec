"""Forms of the remote actions on the charge point page: one per action, each with a required reason and the
action's own fields, offering only what the user may see (tags, sessions, reservations of this station).

``run()`` calls the one service that performs the action and returns its result (usually the RemoteCommand).
"""

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from charging.models import ChargePoint, Connector
from charging.ocpp import outbound
from charging.selectors import station_page as selectors
from charging.services import remote, stations

_DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _datetime_field(label, *, required: bool = True, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(label=label, required=required, widget=_DATETIME_WIDGET, help_text=help_text)


class RemoteActionForm(forms.Form):
    """The reason every action asks for, and what the action's fields need to know."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("Stored with the command and in the audit log, e.g. the customer's request "
                               "reference."))

    def __init__(self, *args, charge_point: ChargePoint, user, now, **kwargs):
        super().__init__(*args, **kwargs)
        self.charge_point, self.user, self.now = charge_point, user, now
        self.version = outbound.version_of(charge_point)
        self.fields["reason"] = self.fields.pop("reason")  # last, after the action's own fields

    def evse_choices(self, empty_label: str | None) -> list[tuple[str, str]]:
        numbers = self.charge_point.evses.order_by("evse_id").values_list("evse_id", flat=True)
        choices = [("", empty_label)] if empty_label is not None else []
        return choices + [(str(n), _("EVSE %(n)d") % {"n": n}) for n in numbers]

    def evse_field(self, empty_label: str | None) -> forms.TypedChoiceField:
        return forms.TypedChoiceField(label=_("EVSE"), choices=self.evse_choices(empty_label), coerce=int,
                                      empty_value=None, required=empty_label is None)

    def run(self, *, acting_user):
        raise NotImplementedError  # every action form says which service it calls


class ResetForm(RemoteActionForm):
    kind = forms.ChoiceField(label=gettext_lazy("Reset"), initial="soft", widget=forms.RadioSelect, choices=[
        ("soft", gettext_lazy("Soft: end running sessions, then restart")),
        ("hard", gettext_lazy("Hard: restart at once"))])

    def run(self, *, acting_user):
        return remote.reset(charge_point=self.charge_point, hard=self.cleaned_data["kind"] == "hard",
                            acting_user=acting_user, reason=self.cleaned_data["reason"])


class UnlockForm(RemoteActionForm):
    connector = forms.ChoiceField(label=gettext_lazy("Connector"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        connectors = Connector.objects.filter(evse__charge_point=self.charge_point).select_related("evse").order_by(
            "evse__evse_id", "connector_id")
        self.fields["connector"].choices = [
            (f"{c.evse.evse_id}:{c.connector_id}", _("EVSE %(evse)d, connector %(connector)d (%(type)s, %(status)s)")
             % {"evse": c.evse.evse_id, "connector": c.connector_id, "type": c.get_standard_display(),
                "status": c.status}) for c in connectors]

    def run(self, *, acting_user):
        evse, connector = (int(part) for part in self.cleaned_data["connector"].split(":"))
        return remote.unlock(charge_point=self.charge_point, evse_number=evse, connector_number=connector,
                             acting_user=acting_user, reason=self.cleaned_data["reason"])


class AvailabilityForm(RemoteActionForm):
    operative = forms.TypedChoiceField(label=gettext_lazy("Availability"), coerce=lambda v: v == "operative",
                                       widget=forms.RadioSelect, initial="inoperative", choices=[
                                           ("inoperative", gettext_lazy("Inoperative (out of service)")),
                                           ("operative", gettext_lazy("Operative (in service)"))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evse"] = self.evse_field(_("The whole station"))
        self.order_fields(["evse", "operative", "reason"])

    def run(self, *, acting_user):
        return remote.change_availability(charge_point=self.charge_point, evse_number=self.cleaned_data["evse"],
                                          operative=self.cleaned_data["operative"], acting_user=acting_user,
                                          reason=self.cleaned_data["reason"])


class ClearCacheForm(RemoteActionForm):
    def run(self, *, acting_user):
        return remote.clear_cache(charge_point=self.charge_point, acting_user=acting_user,
                                  reason=self.cleaned_data["reason"])


class TriggerForm(RemoteActionForm):
    message = forms.ChoiceField(label=gettext_lazy("Message"), initial="StatusNotification")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["message"].choices = [(m, m) for m in outbound.TRIGGER_MESSAGES[self.version]]
        self.fields["evse"] = self.evse_field(_("The whole station"))
        self.order_fields(["message", "evse", "reason"])

    def run(self, *, acting_user):
        return remote.trigger_message(charge_point=self.charge_point, message=self.cleaned_data["message"],
                                      evse_number=self.cleaned_data["evse"], acting_user=acting_user,
                                      reason=self.cleaned_data["reason"])


class FirmwareForm(RemoteActionForm):
    location = forms.URLField(label=gettext_lazy("Firmware URL"), max_length=512, assume_scheme="https")
    retrieve_at = _datetime_field(gettext_lazy("Download at"),
                                  help_text=gettext_lazy("The charger fetches the firmware from this time on."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["retrieve_at"].initial = self.now

    def run(self, *, acting_user):
        return remote.update_firmware(charge_point=self.charge_point, location=self.cleaned_data["location"],
                                      retrieve_at=self.cleaned_data["retrieve_at"], acting_user=acting_user,
                                      reason=self.cleaned_data["reason"])


class DiagnosticsForm(RemoteActionForm):
    location = forms.URLField(label=gettext_lazy("Upload URL"), max_length=512, assume_scheme="https",
                              help_text=gettext_lazy("Where the charger uploads the file (e.g. ftp://…)."))
    start = _datetime_field(gettext_lazy("From"), required=False)
    stop = _datetime_field(gettext_lazy("Until"), required=False)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("stop") and data["stop"] <= data["start"]:
            raise ValidationError({"stop": _("The end of the period must come after its start.")})
        return data

    def run(self, *, acting_user):
        return remote.get_diagnostics(charge_point=self.charge_point, location=self.cleaned_data["location"],
                                      start=self.cleaned_data["start"], stop=self.cleaned_data["stop"],
                                      acting_user=acting_user, reason=self.cleaned_data["reason"])


class LocalListForm(RemoteActionForm):
    update = forms.ChoiceField(label=gettext_lazy("List"), widget=forms.RadioSelect, initial="full", choices=[
        ("full", gettext_lazy("Full: every tag allowed here replaces the charger's list")),
        ("differential", gettext_lazy("Differential: only tags changed since the last accepted list"))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.version == outbound.V16:
            self.fields["update"].help_text = _("OCPP 1.6 tags are at most %(n)d characters; longer ones are left "
                                                "out.") % {"n": outbound.V16_MAX_ID_TAG}

    def run(self, *, acting_user):
        return remote.send_local_list(charge_point=self.charge_point, full=self.cleaned_data["update"] == "full",
                                      acting_user=acting_user, reason=self.cleaned_data["reason"], now=self.now)


class _TokenMixin:
    def token_field(self) -> forms.ModelChoiceField:
        field = forms.ModelChoiceField(label=_("Tag"), queryset=selectors.start_tokens(self.user, self.charge_point))
        field.label_from_instance = lambda token: " · ".join(filter(None, [
            token.uid, token.visual_number, str(token.user) if token.user_id else ""]))
        return field


class StartForm(_TokenMixin, RemoteActionForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["id_token"] = self.token_field()
        self.fields["evse"] = self.evse_field(_("Let the charger choose"))
        self.order_fields(["id_token", "evse", "reason"])

    def run(self, *, acting_user):
        return remote.remote_start(charge_point=self.charge_point, id_token=self.cleaned_data["id_token"],
                                   evse_number=self.cleaned_data["evse"], acting_user=acting_user,
                                   reason=self.cleaned_data["reason"], now=self.now)


class StopForm(RemoteActionForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = forms.ModelChoiceField(label=_("Session"),
                                       queryset=selectors.active_sessions(self.user, self.charge_point))
        field.label_from_instance = lambda s: _("EVSE %(evse)d: %(tag)s since %(start)s, %(kwh)s kWh") % {
            "evse": s.evse.evse_id, "tag": s.id_token_uid or "—", "start": selectors.when(s.started_at),
            "kwh": s.energy_kwh_display}
        self.fields["session"] = field
        self.order_fields(["session", "reason"])

    def run(self, *, acting_user):
        return remote.remote_stop(session=self.cleaned_data["session"], acting_user=acting_user,
                                  reason=self.cleaned_data["reason"])


class ReserveForm(_TokenMixin, RemoteActionForm):
    expires_at = _datetime_field(gettext_lazy("Until"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["id_token"] = self.token_field()
        self.fields["evse"] = self.evse_field(_("Any EVSE"))
        self.fields["expires_at"].initial = self.now + timedelta(minutes=30)
        self.order_fields(["id_token", "evse", "expires_at", "reason"])

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        if value <= self.now:
            raise ValidationError(_("A reservation must end in the future."))
        return value

    def run(self, *, acting_user):
        return remote.reserve(charge_point=self.charge_point, evse_number=self.cleaned_data["evse"],
                              id_token=self.cleaned_data["id_token"], expires_at=self.cleaned_data["expires_at"],
                              acting_user=acting_user, reason=self.cleaned_data["reason"], now=self.now)


class CancelReservationForm(RemoteActionForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = forms.ModelChoiceField(label=_("Reservation"), queryset=selectors.open_reservations(
            self.user, self.charge_point, now=self.now))
        field.label_from_instance = lambda r: _("#%(pk)d %(tag)s, %(where)s, until %(until)s") % {
            "pk": r.pk, "tag": r.id_token_uid, "until": selectors.when(r.expires_at),
            "where": _("EVSE %(n)d") % {"n": r.evse.evse_id} if r.evse_id else _("any EVSE")}
        self.fields["reservation"] = field
        self.order_fields(["reservation", "reason"])

    def run(self, *, acting_user):
        return remote.cancel_reservation(reservation=self.cleaned_data["reservation"], acting_user=acting_user,
                                         reason=self.cleaned_data["reason"])


class ClearProfilesForm(RemoteActionForm):
    purpose = forms.ChoiceField(label=gettext_lazy("Purpose"), required=False, choices=[
        ("", gettext_lazy("Every purpose")), ("station_max", gettext_lazy("Station maximum")),
        ("tx_default", gettext_lazy("Default for sessions")), ("tx", gettext_lazy("One session"))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evse"] = self.evse_field(_("Every EVSE"))
        self.order_fields(["evse", "purpose", "reason"])

    def run(self, *, acting_user):
        return remote.clear_charging_profiles(charge_point=self.charge_point, evse_number=self.cleaned_data["evse"],
                                              purpose=self.cleaned_data["purpose"] or None, acting_user=acting_user,
                                              reason=self.cleaned_data["reason"])


class ConfigurationReadForm(RemoteActionForm):
    keys = forms.CharField(label=gettext_lazy("Keys"), required=False, max_length=2000,
                           help_text=gettext_lazy("Empty: every key. Otherwise key names separated by commas."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.version == outbound.V201:
            # A 2.0.1 station reports its whole device model (GetBaseReport); there is nothing to pick.
            del self.fields["keys"]

    def clean_keys(self):
        keys = [key.strip() for key in self.cleaned_data["keys"].split(",") if key.strip()]
        too_long = [key for key in keys if len(key) > 50]
        if too_long:
            raise ValidationError(_("Keys are at most 50 characters: %(keys)s") % {"keys": ", ".join(too_long)})
        return keys

    def run(self, *, acting_user):
        return remote.configuration_read(charge_point=self.charge_point, keys=self.cleaned_data.get("keys") or None,
                                         acting_user=acting_user, reason=self.cleaned_data["reason"], now=self.now)


class ConfigurationForm(RemoteActionForm):
    """1.6: key and value. 2.0.1: the component (with its EVSE and instance) and variable (with its instance)."""

    key = forms.CharField(label=gettext_lazy("Key"), max_length=50)
    component = forms.CharField(label=gettext_lazy("Component"), max_length=50)
    component_evse = forms.IntegerField(label=gettext_lazy("Component EVSE"), min_value=0, required=False)
    component_instance = forms.CharField(label=gettext_lazy("Component instance"), max_length=50, required=False)
    variable = forms.CharField(label=gettext_lazy("Variable"), max_length=50)
    variable_instance = forms.CharField(label=gettext_lazy("Variable instance"), max_length=50, required=False)
    value = forms.CharField(label=gettext_lazy("New value"), max_length=1000, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.version == outbound.V201:
            del self.fields["key"]
        else:
            for name in ("component", "component_evse", "component_instance", "variable", "variable_instance"):
                del self.fields[name]
            self.fields["value"] = forms.CharField(label=_("New value"), max_length=500, required=False)

    def setting(self) -> remote.Setting:
        data = self.cleaned_data
        if self.version == outbound.V201:
            return remote.Setting(name=data["variable"], component=data["component"], evse=data["component_evse"],
                                  component_instance=data["component_instance"],
                                  variable_instance=data["variable_instance"])
        return remote.Setting(name=data["key"])

    def run(self, *, acting_user):
        return remote.configuration_change(charge_point=self.charge_point, setting=self.setting(),
                                           value=self.cleaned_data["value"], acting_user=acting_user,
                                           reason=self.cleaned_data["reason"], now=self.now)


class ConnectivityForm(RemoteActionForm):
    def run(self, *, acting_user):
        return remote.connectivity_test(charge_point=self.charge_point, acting_user=acting_user,
                                        reason=self.cleaned_data["reason"])


class DecommissionForm(RemoteActionForm):
    def run(self, *, acting_user):
        return stations.charge_point_decommission(charge_point=self.charge_point, acting_user=acting_user,
                                                  reason=self.cleaned_data["reason"], at=self.now)


class RecommissionForm(RemoteActionForm):
    def run(self, *, acting_user):
        return stations.charge_point_recommission(charge_point=self.charge_point, acting_user=acting_user,
                                                  reason=self.cleaned_data["reason"])
