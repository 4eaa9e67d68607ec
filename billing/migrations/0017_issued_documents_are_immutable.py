"""Issued invoices, credit notes and self-billing statements cannot be changed by anything — not the services, not
the admin, not a script with raw SQL: triggers in the database refuse it (Swedish bookkeeping law: a document once
issued is corrected by a credit note, never edited).

After issue only what the services record about a document may change: an invoice's status (paid, credited, …),
its stored PDF and when it was sent; a statement's status (cancelled), the commission statement that counted it, its
PDF and when it was sent. An invoice line of an issued invoice cannot be changed or removed. On PostgreSQL an issued
document cannot be deleted either; the embedded SQLite database (demo, local runs) guards changes only, because its
test-database flush deletes rows one by one.
"""

from django.db import migrations

INVOICE_FROZEN = ["series_id", "number", "kind", "credits_id", "purpose", "buyer_id", "organization_id",
                  "period_start", "period_end", "issue_date", "due_date", "currency", "total", "vat", "taxable",
                  "rounding", "ocr", "language", "reason", "created_at"]
LINE_FROZEN = ["invoice_id", "position", "kind", "session_id", "fee_id", "on_credit_note", "buyer_id", "fee_period",
               "description", "started_at", "energy_wh", "quantity", "unit", "unit_price", "amount", "vat_rate"]
STATEMENT_FROZEN = ["organization_id", "series_id", "number", "period_start", "period_end", "issue_date",
                    "payout_date", "payout_reference", "basis", "vat_exempt", "currency", "personal_wh",
                    "personal_amount", "public_wh", "public_amount", "roaming_amount", "roaming_share", "total_wh",
                    "total_amount", "board_fees", "fee_excl", "fee_vat", "fee_incl", "payout_excl", "payout_vat",
                    "payout_incl", "figures", "created_at"]


def _row(prefix: str, columns: list[str]) -> str:
    return ", ".join(f'{prefix}."{column}"' for column in columns)


def _changed_sqlite(columns: list[str]) -> str:
    return " OR ".join(f'NEW."{column}" IS NOT OLD."{column}"' for column in columns)


POSTGRESQL = f"""
CREATE OR REPLACE FUNCTION billing_invoice_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'Invoice % is issued and cannot be deleted', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'draft' OR ROW({_row("NEW", INVOICE_FROZEN)}) IS DISTINCT FROM ROW({_row("OLD", INVOICE_FROZEN)})
    THEN
        RAISE EXCEPTION 'Invoice % is issued and cannot be changed; issue a credit note instead', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoice_immutable BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_immutable();

CREATE OR REPLACE FUNCTION billing_invoiceline_immutable() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM billing_invoice WHERE id = OLD.invoice_id AND status <> 'draft')
       AND (TG_OP = 'DELETE' OR ROW({_row("NEW", LINE_FROZEN)}) IS DISTINCT FROM ROW({_row("OLD", LINE_FROZEN)}))
    THEN
        RAISE EXCEPTION 'The lines of issued invoice % cannot be changed', OLD.invoice_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoiceline_immutable BEFORE UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_immutable();

CREATE OR REPLACE FUNCTION billing_statement_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'Statement % is issued and cannot be deleted', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF ROW({_row("NEW", STATEMENT_FROZEN)}) IS DISTINCT FROM ROW({_row("OLD", STATEMENT_FROZEN)}) THEN
        RAISE EXCEPTION 'Statement % is issued and cannot be changed', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_statement_immutable BEFORE UPDATE OR DELETE ON billing_statement
    FOR EACH ROW EXECUTE FUNCTION billing_statement_immutable();
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS billing_invoice_immutable ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_immutable();
DROP TRIGGER IF EXISTS billing_invoiceline_immutable ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoiceline_immutable();
DROP TRIGGER IF EXISTS billing_statement_immutable ON billing_statement;
DROP FUNCTION IF EXISTS billing_statement_immutable();
"""

SQLITE = [
    f"""CREATE TRIGGER billing_invoice_immutable BEFORE UPDATE ON billing_invoice
        FOR EACH ROW WHEN OLD.status <> 'draft' AND (NEW.status = 'draft' OR {_changed_sqlite(INVOICE_FROZEN)})
        BEGIN SELECT RAISE(ABORT, 'An issued invoice cannot be changed; issue a credit note instead'); END""",
    f"""CREATE TRIGGER billing_invoiceline_immutable BEFORE UPDATE ON billing_invoiceline
        FOR EACH ROW WHEN ({_changed_sqlite(LINE_FROZEN)})
            AND EXISTS (SELECT 1 FROM billing_invoice WHERE id = OLD.invoice_id AND status <> 'draft')
        BEGIN SELECT RAISE(ABORT, 'The lines of an issued invoice cannot be changed'); END""",
    f"""CREATE TRIGGER billing_statement_immutable BEFORE UPDATE ON billing_statement
        FOR EACH ROW WHEN {_changed_sqlite(STATEMENT_FROZEN)}
        BEGIN SELECT RAISE(ABORT, 'An issued statement cannot be changed'); END""",
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS billing_invoice_immutable",
                  "DROP TRIGGER IF EXISTS billing_invoiceline_immutable",
                  "DROP TRIGGER IF EXISTS billing_statement_immutable"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("billing", "0016_adhoc_payments_vouchers")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
