"""Bulk tools of the station list (ChargePointBulkMixin): CSV import with a dry run, export of the filtered list,
cloning a station's set-up to new identities, and moving stations to another organization.

Import and export come from django-import-export (charging.imports); its Import/Export buttons are drawn by the
station list's template (admin/charging/chargepoint/change_list.html extends the import_export one), so this mixin
leaves ``change_list_template`` alone.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ExportMixin, ImportMixin
from import_export.formats.base_formats import CSV, XLSX
from import_export.forms import ExportForm

from accounts.forms import ReasonForm
from accounts.models import Organization
from accounts.selectors import organizations_visible_to
from accounts.tenancy import is_operator_staff
from charging.imports import ChargePointResource
from charging.services import provisioning


class CloneForm(forms.Form):
    identities = forms.CharField(
        label=gettext_lazy("New identities"), widget=forms.Textarea(attrs={"rows": 6, "cols": 40}),
        help_text=gettext_lazy("One OCPP identity per line. Each new charge point gets the owner, site, mode, "
                               "locked box, heartbeat interval, EVSE/connector layout and writable configuration "
                               "of the selected one (not its name, serial number or EVSE-IDs)."))
    reason = ReasonForm.base_fields["reason"]


class MoveForm(forms.Form):
    organization = forms.ModelChoiceField(
        label=gettext_lazy("New owner"), queryset=Organization.objects.none(),
        help_text=gettext_lazy("The site is kept only if it belongs to the new owner. Past sessions stay with "
                               "the organization that owned the station then."))
    reason = ReasonForm.base_fields["reason"]

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations


def _add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: by field where the form has that field, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for key, errors in exc.message_dict.items():
        form.add_error(key if key in form.fields and key != NON_FIELD_ERRORS else None, errors)


class ChargePointBulkMixin(ImportMixin, ExportMixin):
    """For ChargePointAdmin: import/export through ChargePointResource plus the clone and move actions."""

    resource_classes = [ChargePointResource]
    import_template_name = "admin/charging/chargepoint/import.html"
    # Always the same columns, so an exported file can be edited and imported again.
    export_form_class = ExportForm

    @property
    def formats(self):
        return [file_format for file_format in (CSV, XLSX) if file_format.is_available()]

    def init_change_list_template(self):
        # import_export would replace change_list_template with its own; the station list's template extends
        # import_export's instead, which in turn extends the plain admin list.
        self.ie_base_change_list_template = "admin/change_list.html"

    # --- import / export ---------------------------------------------------------------------------------------

    def has_import_permission(self, request):
        return is_operator_staff(request.user) and self.has_add_permission(request)

    def has_export_permission(self, request):
        # The exported rows are the (tenant-scoped) list the person sees.
        return self.has_view_permission(request)

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs["rollback_on_validation_errors"] = True
        return kwargs

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        context.update(columns=provisioning.IMPORT_COLUMNS, required_columns=provisioning.REQUIRED_COLUMNS)
        return context

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The data changed between the dry run and the confirmation (e.g. someone registered one of the
            # identities meanwhile); the transaction was rolled back, so nothing was imported.
            problems = [str(error.error) for error in result.base_errors]
            problems += [f"{line}: {error.error}" for line, errors in result.row_errors() for error in errors]
            for row in result.invalid_rows:
                problems += [f"{row.number} {column}: {message}" for column, messages_ in row.error_dict.items()
                             for message in messages_]
            messages.error(request, _("Nothing was imported: %(problems)s") % {"problems": " · ".join(problems[:20])})
            return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_import")
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        messages.success(request, _("%(count)d charge points imported.") % {"count": len(result.valid_rows())})

    # --- clone and move ----------------------------------------------------------------------------------------

    def has_clone_permission(self, request):
        return is_operator_staff(request.user) and self.has_add_permission(request)

    def has_move_permission(self, request):
        return is_operator_staff(request.user) and self.has_change_permission(request)

    def _bulk_action_page(self, request, queryset, form, *, title, intro):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action_name": request.POST.get("action"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/action_with_reason.html", context)

    @admin.action(description=gettext_lazy("Clone configuration to new identities"), permissions=["clone"])
    def clone_configuration(self, request, queryset):
        sources = list(queryset[:2])
        if len(sources) != 1:
            self.message_user(request, _("Select exactly one charge point to copy from."), messages.ERROR)
            return None
        source = sources[0]
        form = CloneForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                created = provisioning.charge_point_clone(
                    source=source, identities=provisioning.parse_identities(form.cleaned_data["identities"]),
                    acting_user=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                self.message_user(request, _("Created %(count)d charge points like %(source)s: %(ids)s.") % {
                    "count": len(created), "source": source, "ids": ", ".join(cp.identity for cp in created)},
                    messages.SUCCESS)
                return None
        return self._bulk_action_page(
            request, queryset, form, title=_("Clone configuration to new identities"),
            intro=_("New charge points are created set up like %(source)s. Either all are created or, if any "
                    "identity cannot be used, none.") % {"source": source})

    @admin.action(description=gettext_lazy("Move to another organization"), permissions=["move"])
    def move_to_organization(self, request, queryset):
        organizations = organizations_visible_to(request.user).filter(is_active=True).order_by("name")
        form = MoveForm(request.POST if "apply" in request.POST else None, organizations=organizations)
        if form.is_valid():
            moved = 0
            for charge_point in queryset:
                try:
                    provisioning.charge_point_move(charge_point=charge_point,
                                                   organization=form.cleaned_data["organization"],
                                                   acting_user=request.user, reason=form.cleaned_data["reason"])
                except ValidationError as exc:
                    self.message_user(request, f"{charge_point}: {'; '.join(exc.messages)}", messages.ERROR)
                else:
                    moved += 1
            self.message_user(request, _("%(count)d charge points moved to %(org)s.") % {
                "count": moved, "org": form.cleaned_data["organization"]}, messages.SUCCESS)
            return None
        return self._bulk_action_page(
            request, queryset, form, title=_("Move to another organization"),
            intro=_("The selected charge points get a new owner. Their sessions so far stay with the present "
                    "owner."))
