"""Forms of the portal's station pages: a station's access mode, weekly schedule and allowed groups, an EVSE's own
mode, and charging keys for guests (issue, revoke). The schedule's rows are read and checked by the admin's
``ScheduleRulesField`` (same rules, same messages); the portal only draws them its own accessible way."""

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from charging.access import AccessMode
from charging.admin.access import ScheduleRulesField, ScheduleRulesWidget

WEEKDAYS = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
MODE_CHOICES = [(AccessMode.PUBLIC.value, _("Public")), (AccessMode.PRIVATE.value, _("Private")),
                (AccessMode.SEMI_PUBLIC.value, _("Semi-public"))]
MODE_LABELS = dict(MODE_CHOICES)


class PortalScheduleWidget(ScheduleRulesWidget):
    """The schedule rows as a table with header cells and a label on every input."""

    def render(self, name, value, attrs=None, renderer=None):
        rows = [row for row in (value or []) if isinstance(row, dict)] + [{}] * self.blank_rows
        body = []
        for number, row in enumerate(rows):
            prefix = f"{name}-{number}"
            chosen = {str(day) for day in row.get("weekdays") or []}
            days = format_html_join("", '<label class="day"><input type="checkbox" name="{}-weekdays" value="{}"{}> {}'
                                        '</label>',
                                    ((prefix, day, mark_safe(" checked") if str(day) in chosen else "", WEEKDAYS[day])
                                     for day in range(7)))
            options = format_html_join("", '<option value="{}"{}>{}</option>', (
                (code, mark_safe(" selected") if code == (row.get("mode") or "") else "", label)
                for code, label in [("", "—"), *MODE_CHOICES]))
            body.append(format_html(
                '<tr><th scope="row">{}</th><td>{}</td>'
                '<td><label for="{p}-start" class="visually-hidden">{}</label>'
                '<input type="time" id="{p}-start" name="{p}-start" value="{}" step="60"></td>'
                '<td><label for="{p}-end" class="visually-hidden">{}</label>'
                '<input type="time" id="{p}-end" name="{p}-end" value="{}" step="60"></td>'
                '<td><label for="{p}-mode" class="visually-hidden">{}</label>'
                '<select id="{p}-mode" name="{p}-mode">{}</select></td>'
                '<td><label><input type="checkbox" name="{p}-overnight" value="1"{}> {}</label></td></tr>',
                number + 1, days, _("From"), row.get("start") or "", _("To"), row.get("end") or "", _("Mode"),
                options, mark_safe(" checked") if row.get("overnight") else "", _("Overnight"), p=prefix))
        return format_html(
            '<div class="table-wrap" id="{}"><table><thead><tr><th scope="col">{}</th><th scope="col">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr>'
            '</thead><tbody>{}</tbody></table><input type="hidden" name="{}-rows" value="{}"></div>',
            (attrs or {}).get("id", f"id_{name}"), _("Rule"), _("Weekdays"), _("From"), _("To"), _("Mode"),
            _("Overnight"), mark_safe("".join(body)), name, len(rows))


class PortalScheduleField(ScheduleRulesField):
    widget = PortalScheduleWidget


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Reason (stored in the audit log)"))
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)


class AccessForm(forms.Form):
    """The station's mode outside the schedule, the schedule, and the groups a private station is limited to."""

    access_mode = forms.ChoiceField(label=_("Mode outside the schedule"), choices=MODE_CHOICES)
    access_schedule = PortalScheduleField(label=_("Weekly schedule"),
                                          help_text=_("Each rule sets the mode on its weekdays between its times."))
    allowed_groups = forms.ModelMultipleChoiceField(
        label=_("Groups allowed when private"), queryset=None, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every resident of the association may charge while the station is private."))
    reason = ReasonField()

    def __init__(self, *args, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["allowed_groups"].queryset = groups


class EvseModeForm(forms.Form):
    mode = forms.ChoiceField(label=_("Own mode"), required=False,
                             choices=[("", _("As the station (follows its schedule)")), *MODE_CHOICES])
    reason = ReasonField()


class KeyIssueForm(forms.Form):
    guest_name = forms.CharField(label=_("Guest's name"), max_length=200)
    guest_contact = forms.CharField(label=_("Guest's e-mail or phone"), max_length=200, required=False)
    valid_from = forms.DateTimeField(label=_("Valid from"),
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    valid_until = forms.DateTimeField(label=_("Valid until"),
                                      widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    charge_points = forms.ModelMultipleChoiceField(
        label=_("Only at these stations"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: all the association's public and semi-public stations."))
    reason = ReasonField()

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["charge_points"].queryset = stations


class KeyRevokeForm(forms.Form):
    reason = ReasonField()
