"""Forms of the portal's "Users & tags" pages: search, invite a person, assign/block a tag, move between groups,
import residents from CSV."""

import csv
import io

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import UserGroup
from accounts.services.residents import COLUMNS, ResidentRow

REASON_HELP = _("Stored in the audit log with your name.")
MAX_IMPORT_BYTES = 2 * 1024 * 1024


def reason_field(**kwargs) -> forms.CharField:
    return forms.CharField(label=_("Reason"), max_length=500, help_text=REASON_HELP, **kwargs)


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100,
                        help_text=_("Name, e-mail, mobile number, tag uid or printed number."))


class InviteForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    mobile_number = forms.CharField(label=_("Mobile number"), max_length=30, required=False,
                                    help_text=_("The invitation goes by e-mail, or by SMS to people without e-mail."))
    reference = forms.CharField(label=_("Apartment / reference"), max_length=50, required=False)
    reason = reason_field(initial=_("New resident"))


class TagAssignForm(forms.Form):
    uid = forms.CharField(label=_("Tag uid"), max_length=64, required=False,
                          help_text=_("As the reader shows it; separators and case do not matter. Leave empty to "
                                      "give one of the association's registered tags by its printed number."))
    visual_number = forms.CharField(label=_("Printed number"), max_length=50, required=False)
    reason = reason_field(initial=_("Tag handed out"))


class TagBlockForm(forms.Form):
    reason = reason_field()


class GroupMoveForm(forms.Form):
    ADD, REMOVE = "add", "remove"
    group = forms.ModelChoiceField(label=_("Group"), queryset=UserGroup.objects.none())
    action = forms.ChoiceField(label=_("Change"), choices=[(ADD, _("Add to the group")),
                                                            (REMOVE, _("Take out of the group"))])
    reason = reason_field()

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = UserGroup.objects.filter(organization=organization).order_by("name")


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"),
                           help_text=_("Columns: name, email, mobile, reference, tag_uid, group (the last three may "
                                       "be empty). UTF-8, comma or semicolon separated, first line the header."))
    reason = reason_field(initial=_("Residents imported"))
    confirm = forms.BooleanField(label=_("Import now (leave unticked for a dry run that only checks the file)"),
                                 required=False)

    def clean_file(self) -> list[ResidentRow]:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from exc
        return parse_rows(text)


def parse_rows(text: str) -> list[ResidentRow]:
    """The rows of a residents CSV (header required), or a ValidationError naming what is wrong with the file."""
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration as exc:
        raise forms.ValidationError(_("The file is empty.")) from exc
    missing = [name for name in ("name", "email", "mobile") if name not in header]
    if missing:
        raise forms.ValidationError(_("The header lacks the column(s): %(columns)s.") % {
            "columns": ", ".join(missing)})
    index = {name: header.index(name) for name in COLUMNS if name in header}
    rows = []
    for line, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        cell = {name: (values[i].strip() if i < len(values) else "") for name, i in index.items()}
        rows.append(ResidentRow(line=line, **cell))
    return rows
