"""What the admin pages of billing documents share (the period filter of invoices and statements); issued
self-billing documents (statements, commission statements) also share: nothing on them
is edited, the number and month are shown, and the stored PDF is downloaded through the admin (media files are not
served), scoped like the list: another organization's document is a 404."""

import re

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import FileResponse, Http404, HttpRequest
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import ReadOnlyAdminMixin
from accounts.tenancy import scope


class PeriodFilter(admin.SimpleListFilter):
    """The month a document's period starts in (invoices, statements), offered for the months of the documents the
    user may see."""

    title = gettext_lazy("period")
    parameter_name = "period"

    def lookups(self, request, model_admin):
        months = scope(model_admin.model.objects.all(), request.user).dates("period_start", "month", order="DESC")
        return [(month.strftime("%Y-%m"), date_format(month, "YEAR_MONTH_FORMAT")) for month in months]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        match = re.fullmatch(r"(\d{4})-(\d{2})", self.value())
        if match is None or not 1 <= int(match[2]) <= 12:
            raise IncorrectLookupParameters(_("A period is a month written YYYY-MM."))
        return queryset.filter(period_start__year=int(match[1]), period_start__month=int(match[2]))


def stored_file_response(field_file, filename: str, content_type: str) -> FileResponse:
    """A stored file as a download; 404 when nothing (or nothing on disk) is stored."""
    if not field_file:
        raise Http404(_("No file is stored."))
    try:
        handle = field_file.open("rb")
    except FileNotFoundError:
        raise Http404(_("The stored file is missing.")) from None
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)


class IssuedDocumentAdminMixin(ReadOnlyAdminMixin):
    """Read-only pages of an issued document with ``display_number``, ``period_start`` and ``pdf``; the PDF view is
    named ``admin:<app>_<model>_pdf``."""

    pdf_not_stored = gettext_lazy("Not stored yet (made when the document is e-mailed).")

    @admin.display(description=gettext_lazy("number"), ordering="number")
    def display_number(self, document):
        return document.display_number

    @admin.display(description=gettext_lazy("period"), ordering="period_start")
    def period(self, document):
        return date_format(document.period_start, "YEAR_MONTH_FORMAT")

    def _pdf_url_name(self) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_pdf"

    @admin.display(description=gettext_lazy("PDF"))
    def pdf_link(self, document):
        if not document.pdf:
            return self.pdf_not_stored
        url = reverse(f"admin:{self._pdf_url_name()}", args=[document.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download %(number)s.pdf") % {
            "number": document.display_number})

    def get_urls(self):
        return [path("<int:object_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name=self._pdf_url_name()),
                *super().get_urls()]

    def pdf_view(self, request: HttpRequest, object_id: int):
        # get_object() goes through the tenant-scoped queryset.
        document = self.get_object(request, str(object_id))
        if document is None or not self.has_view_permission(request, document):
            raise Http404(_("No such document."))
        return stored_file_response(document.pdf, f"{document.display_number}.pdf", "application/pdf")
