"""django-import-export resources of the charging app: charge points as CSV (or XLSX) rows.

The columns are provisioning.IMPORT_COLUMNS. Importing never saves a model directly: each row is checked by
provisioning.import_row_check and registered by provisioning.charge_point_import (audited with the importer and
"CSV import <file name>"). Every import runs in one transaction; the admin first runs it as a dry run, and any row
error rolls the whole file back.
"""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from import_export import fields, resources

from charging.models import ChargePoint, Connector, Evse
from charging.services import provisioning


class ChargePointResource(resources.ModelResource):
    identity = fields.Field(attribute="identity", column_name="identity")
    serial_number = fields.Field(attribute="serial_number", column_name="serial_number")
    display_name = fields.Field(attribute="display_name", column_name="display_name")
    organization = fields.Field(column_name="organization")
    location = fields.Field(column_name="location")
    evse_ids = fields.Field(column_name="evse_ids")
    connectors = fields.Field(column_name="connectors")
    system_name = fields.Field(attribute="system_name", column_name="system_name")
    locked_box = fields.Field(column_name="locked_box")
    access_mode = fields.Field(attribute="access_mode", column_name="access_mode")

    class Meta:
        model = ChargePoint
        fields = provisioning.IMPORT_COLUMNS
        import_order = export_order = provisioning.IMPORT_COLUMNS
        import_id_fields = ["identity"]
        # One transaction for the file: the dry run and a failed import leave nothing behind.
        use_transactions = True
        clean_model_instances = False
        skip_unchanged = False
        chunk_size = 500

    @classmethod
    def get_display_name(cls):
        return _("Charge points")

    # --- import --------------------------------------------------------------------------------------------------

    def before_import(self, dataset, **kwargs):
        self._seen = provisioning.ImportSeen()
        missing = [column for column in provisioning.REQUIRED_COLUMNS if column not in (dataset.headers or [])]
        if missing:
            raise ValidationError(_("The file has no column %(columns)s. The first line must name the columns: "
                                    "%(all)s.") % {"columns": ", ".join(missing),
                                                   "all": ", ".join(provisioning.IMPORT_COLUMNS)})

    def get_or_init_instance(self, instance_loader, row):
        # Imports only add stations; an identity that exists already is a row error, never an update.
        return self.init_instance(row), True

    def import_instance(self, instance, row, **kwargs):
        parsed = provisioning.import_row_check(values=row, importer=kwargs.get("user"), seen=self._seen,
                                               row_number=kwargs["row_number"])
        instance.import_row = parsed
        # Filled in so the preview shows what will be created.
        instance.identity, instance.organization, instance.location = (parsed.identity, parsed.organization,
                                                                       parsed.location)
        instance.serial_number, instance.display_name = parsed.serial_number, parsed.display_name
        instance.system_name, instance.locked_box = parsed.system_name, parsed.locked_box
        instance.access_mode = parsed.access_mode

    def save_instance(self, instance, is_create, row, **kwargs):
        file_name = kwargs.get("file_name") or _("(unnamed file)")
        created = provisioning.charge_point_import(row=instance.import_row, acting_user=kwargs.get("user"),
                                                   reason=_("CSV import %(file)s") % {"file": file_name})
        # The row result and the admin's LogEntry point at the station the service created.
        instance.pk = created.pk

    def save_m2m(self, instance, row, **kwargs):
        """Nothing left to write: charge_point_import created the station with its EVSEs and connectors."""

    # --- export --------------------------------------------------------------------------------------------------

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("organization", "location").prefetch_related(
            Prefetch("evses", Evse.objects.order_by("evse_id").prefetch_related(
                Prefetch("connectors", Connector.objects.order_by("connector_id")))))

    def dehydrate_organization(self, charge_point):
        if charge_point.organization_id is None:
            return ""
        return charge_point.organization.org_number or charge_point.organization.name

    def dehydrate_location(self, charge_point):
        return charge_point.location.name if charge_point.location_id else ""

    def _layout(self, charge_point):
        parsed = getattr(charge_point, "import_row", None)
        if parsed is not None:
            return parsed.layout
        if charge_point.pk is None:
            return ()
        return [provisioning.EvseLayout(public_id=evse.public_id,
                                        connectors=tuple(c.standard for c in evse.connectors.all()))
                for evse in charge_point.evses.all()]

    def dehydrate_evse_ids(self, charge_point):
        layout = self._layout(charge_point)
        if not any(spec.public_id for spec in layout):
            return ""
        return provisioning.EVSE_SEPARATOR.join(spec.public_id for spec in layout)

    def dehydrate_connectors(self, charge_point):
        return provisioning.EVSE_SEPARATOR.join(
            provisioning.CONNECTOR_SEPARATOR.join(spec.connectors) for spec in self._layout(charge_point))

    def dehydrate_locked_box(self, charge_point):
        return "yes" if charge_point.locked_box else "no"
