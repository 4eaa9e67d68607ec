"""Building blocks for every app's admin: tenant scoping, audited edits, and actions that ask for a reason.

Support staff use the admin for everything; association boards with staff access use it too, so every admin
narrows querysets and choice lists to the organizations the user may see, and every change asks why.
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.forms import ReasonForm
from accounts.models import AuditLogEntry, Organization, User
from accounts.selectors import organizations_visible_to, users_visible_to
from accounts.services import audit
from accounts.tenancy import is_operator_staff, scope

REASON_FIELD = "change_reason"


class ReadOnlyAdminMixin:
    """Records written by the system (chargers, runs, gateways): corrections go through services, not the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TenantChoicesMixin:
    """Offers only visible organizations and people in choice lists (and so only accepts those on save)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Organization:
            kwargs["queryset"] = organizations_visible_to(request.user)
        elif db_field.related_model is User:
            kwargs["queryset"] = users_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.related_model is User:
            kwargs["queryset"] = users_visible_to(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class TenantScopedAdmin(TenantChoicesMixin, admin.ModelAdmin):
    """Shows non-operator staff only rows of their organizations."""

    #: Path from the model to its Organization ("pk" for Organization itself).
    organization_field = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope(super().get_queryset(request), request.user, self.organization_field)

    def operator_only(self, request: HttpRequest) -> bool:
        return is_operator_staff(request.user)


class TenantScopedInline(TenantChoicesMixin, admin.TabularInline):
    """An inline whose rows and choices are limited to the organizations the user may see."""

    organization_field = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope(super().get_queryset(request), request.user, self.organization_field)


class AuditedAdmin(TenantScopedAdmin):
    """Every save and delete through this admin is written to the audit log with the reason the person gave.

    The object's History page shows those audit rows (who, when, which fields from what to what, and why) above
    Django's own change log."""

    object_history_template = "admin/audited_object_history.html"
    #: How many audit rows the History page shows.
    history_limit = 500

    def history_targets(self, obj) -> list[tuple[type[models.Model], list]]:
        """(model, primary keys) whose audit rows belong on ``obj``'s History page besides ``obj`` itself, e.g.
        the rows edited inline on its page. Override to add them."""
        return []

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        entries = AuditLogEntry.objects.none()
        if obj is not None:
            targets = Q(target_type=ContentType.objects.get_for_model(type(obj)), target_id=str(obj.pk))
            for model, pks in self.history_targets(obj):
                if pks:
                    targets |= Q(target_type=ContentType.objects.get_for_model(model),
                                 target_id__in=[str(pk) for pk in pks])
            entries = AuditLogEntry.objects.filter(targets).select_related("actor", "target_type")
        context = {"audit_entries": entries[: self.history_limit], **(extra_context or {})}
        return super().history_view(request, object_id, extra_context=context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Declared on the form class before the admin builds the ModelForm, so it is a known extra field.
        base = kwargs.get("form", self.form)
        kwargs["form"] = type(base.__name__, (base,), {
            REASON_FIELD: forms.CharField(
                label=gettext_lazy("Reason for this change"), max_length=500,
                help_text=gettext_lazy("Stored in the audit log, e.g. the customer's request reference."),
                widget=forms.TextInput(attrs={"size": 80})),
        })
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        names = {name for _title, opts in fieldsets for name in _flatten(opts.get("fields", ()))}
        if REASON_FIELD in names or not self.has_change_permission(request, obj):
            return fieldsets
        return [*fieldsets, (_("Audit"), {"fields": [REASON_FIELD]})]

    def save_model(self, request, obj, form, change):
        # Saved here together with the form's many-to-many data; save_related() then skips save_m2m().
        audit.save_edit(instance=obj, changed_fields=list(form.changed_data), acting_user=request.user,
                        reason=form.cleaned_data.get(REASON_FIELD, ""), save_related=form.save_m2m)

    def save_related(self, request, form, formsets, change):
        reason = form.cleaned_data.get(REASON_FIELD, "")
        for formset in formsets:
            self._save_formset_audited(request, formset, reason)

    def _save_formset_audited(self, request, formset, reason: str) -> None:
        # Mirrors BaseModelFormSet.save(), writing each row through the audit service; the lists it fills
        # are what the admin's change message (LogEntry) reads.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.initial_forms:
            if inline_form in formset.deleted_forms and inline_form.instance.pk is not None:
                formset.deleted_objects.append(inline_form.instance)
                audit.delete_with_audit(instance=inline_form.instance, acting_user=request.user, reason=reason)
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms or not inline_form.has_changed():
                continue
            is_new = inline_form.instance.pk is None
            instance = inline_form.save(commit=False)
            # New inline rows of a new parent only learn the parent's key now that it is saved.
            setattr(instance, formset.fk.name, formset.instance)
            audit.save_edit(instance=instance, changed_fields=list(inline_form.changed_data),
                            acting_user=request.user, reason=reason, save_related=inline_form.save_m2m)
            if is_new:
                formset.new_objects.append(instance)
            else:
                formset.changed_objects.append((instance, inline_form.changed_data))

    def delete_model(self, request, obj):
        audit.delete_with_audit(instance=obj, acting_user=request.user, reason=_("Deleted in the admin"))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


def _flatten(fields) -> list[str]:
    out: list[str] = []
    for item in fields:
        out.extend(_flatten(item) if isinstance(item, list | tuple) else [item])
    return out


def action_with_reason(*, description: str, permissions: list[str],
                       apply: Callable[[models.Model, HttpRequest, str], str | None]):
    """Build an admin action that first asks the person why, then calls ``apply(obj, request, reason)``.

    ``apply`` calls one service and may return a message to show; a ValidationError it raises is shown as an
    error for that object and the others still go ahead.
    """

    @admin.action(description=description, permissions=permissions)
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    message = apply(obj, request, form.cleaned_data["reason"])
                except ValidationError as exc:
                    modeladmin.message_user(request, f"{obj}: {'; '.join(exc.messages)}", messages.ERROR)
                    continue
                done += 1
                if message:
                    modeladmin.message_user(request, message, messages.INFO)
            modeladmin.message_user(request, _("%(action)s: %(count)d done.") % {
                "action": description, "count": done}, messages.SUCCESS)
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "opts": modeladmin.model._meta,
            "queryset": queryset,
            "form": form,
            "action_name": request.POST.get("action"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
        }
        return TemplateResponse(request, "admin/action_with_reason.html", context)

    return action
