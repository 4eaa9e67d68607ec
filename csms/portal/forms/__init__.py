"""Forms of the tenant portal, one module per area, and what every area's views share: the page size of lists and
showing a service's refusal on the form."""

from django.core.exceptions import ValidationError

#: Rows per page of every portal list.
PER_PAGE = 50


def apply_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the field it names when the form has it, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
