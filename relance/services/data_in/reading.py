"""Reading a CSV file: its encoding and separator detected, its header matched to the columns, its rows as text.

`plan_csv(session, kind, data, today)` is the way in for a file: it reads the rows (`decode`, `read_rows`) and
hands them to `plan.plan_records`. Problems of the file itself (too large, more rows than `max_rows`, not text, a
quote not closed, a missing column, a row longer than the header) are errors of the plan with their line; no cell
is read here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from relance.services.data_in.plan import COLUMNS, KINDS, ImportPlan, Number, plan_records
from relance.services.data_in.values import fold

MAX_BYTES = 10 * 1024 * 1024

REQUIRED = {
    "customers": ("code", "name"),
    "invoices": ("number", "customer_code", "issue_date", "due_date", "total_excl_tax", "total_incl_tax"),
    "payments": ("invoice_number", "date", "amount"),
    "contacts": ("customer_code", "email"),
    "history": ("invoice_number", "level", "date", "channel"),
}

# Header names accepted for each column (compared lower-case, without accents and punctuation).
ALIASES = {
    "customers": {
        "code": ("code", "code_client", "customer_code", "client_code", "ref_client", "reference_client"),
        "name": ("name", "nom", "raison_sociale", "societe", "company", "customer_name", "nom_client"),
        "email": ("email", "e_mail", "mail", "courriel", "adresse_email", "email_address"),
        "language": ("language", "langue", "lang"),
        "country": ("country", "pays", "country_code", "code_pays"),
        "kind": ("kind", "type", "type_client", "customer_type"),
        "address": ("address", "adresse", "street"),
        "postcode": ("postcode", "code_postal", "cp", "zip", "zipcode", "zip_code", "postal_code"),
        "city": ("city", "ville", "town"),
        "phone": ("phone", "telephone", "tel", "phone_number"),
        "siren": ("siren", "numero_siren", "n_siren", "siren_client"),
        "vat_number": ("vat_number", "vat", "vat_id", "tva", "numero_tva", "n_tva", "tva_intracommunautaire",
                       "numero_tva_intracommunautaire", "tva_intra"),
    },
    "invoices": {
        "number": ("number", "numero", "num", "invoice_number", "numero_facture", "n_facture", "no_facture",
                   "n_piece", "numero_piece", "piece", "invoice", "facture", "ref_facture"),
        "customer_code": ("customer_code", "code_client", "client_code", "client", "customer", "compte_client"),
        "issue_date": ("issue_date", "date_facture", "date", "invoice_date", "date_emission", "date_piece"),
        "due_date": ("due_date", "echeance", "date_echeance", "date_d_echeance", "date_limite"),
        "currency": ("currency", "devise", "monnaie"),
        "total_excl_tax": ("total_excl_tax", "total_ht", "montant_ht", "ht", "amount_excl_tax", "net"),
        "total_incl_tax": ("total_incl_tax", "total_ttc", "montant_ttc", "ttc", "amount_incl_tax", "total"),
        "status": ("status", "statut", "etat"),
        "kind": ("kind", "type", "type_facture", "type_piece", "nature"),
    },
    "payments": {
        "invoice_number": ("invoice_number", "numero_facture", "n_facture", "facture", "invoice", "number",
                           "numero", "n_piece"),
        "date": ("date", "date_paiement", "date_reglement", "payment_date", "paid_on"),
        "amount": ("amount", "montant", "montant_regle", "montant_paye", "paid"),
        "reference": ("reference", "ref", "libelle", "label", "mode_reglement"),
    },
    # Dolibarr's list exports name their columns like "Tiers (Code client)", "Contact (Email)" (docs/dolibarr.md)
    "contacts": {
        "customer_code": ("customer_code", "code_client", "client_code", "client", "customer", "tiers_code_client",
                          "ref_client"),
        "email": ("email", "e_mail", "mail", "courriel", "contact_email", "email_address"),
        "name": ("name", "nom", "lastname", "last_name", "contact_nom"),
        "first_name": ("first_name", "firstname", "prenom", "contact_prenom"),
        "phone": ("phone", "telephone", "tel", "phone_pro", "tel_pro", "telephone_pro", "phone_number"),
        "role": ("role", "type_contact", "type_de_contact", "contact_type", "nature_contact"),
    },
    "history": {
        "invoice_number": ("invoice_number", "numero_facture", "n_facture", "facture", "ref_facture", "invoice",
                           "number", "ref"),
        "level": ("level", "niveau", "niveau_relance", "niveau_de_relance", "rank", "rang"),
        "date": ("date", "date_relance", "reminder_date", "date_de_relance", "datec"),
        "channel": ("channel", "canal", "mode", "mode_envoi", "type_envoi", "envoi"),
        "note": ("note", "notes", "commentaire", "comment"),
    },
}
ALIASES["invoices"]["no_auto_reminders"] = ("no_auto_reminders", "ne_pas_relancer",
                                            "ne_pas_relancer_automatiquement", "pas_de_relance_automatique")
ALIASES["invoices"]["credits_invoice"] = ("credits_invoice", "credited_invoice", "facture_creditee", "avoir_sur",
                                          "facture_d_origine", "facture_origine", "facture_source")
ALIASES["customers"].update({
    "direct_debit": ("direct_debit", "prelevement", "prelevement_automatique", "mode_reglement_prelevement",
                     "sepa_direct_debit"),
    "no_auto_reminders": ("no_auto_reminders", "ne_pas_relancer", "ne_pas_relancer_automatiquement",
                          "pas_de_relance_automatique", "no_reminders"),
    "sales_reps": ("sales_reps", "sales_rep", "commerciaux", "commercial", "commerciaux_emails",
                   "sales_representatives"),
    "group_reminders": ("group_reminders", "regrouper_relances", "relances_regroupees", "un_email_par_client"),
    "policy": ("policy", "politique_relance", "politique_de_relance", "politique", "reminder_policy"),
})


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")


def _line_of(data: bytes, index: int) -> int:
    return data.count(b"\n", 0, index) + 1


def decode(data: bytes, plan: ImportPlan, size: int | None = None) -> str | None:
    """The text of the file, or None after adding a file-level error to the plan."""
    size = max(size or 0, len(data))
    if size > MAX_BYTES:
        plan.add_error(None, None, _l(
            "The file is %(size)s MB; the limit is %(limit)s MB. Split it into several files.",
            size=f"{size / 1024 / 1024:.1f}", limit=MAX_BYTES // 1024 // 1024))
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode text": UTF-16 with a BOM
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            plan.add_error(None, None, _l("The file claims to be UTF-16 but can't be read as such."))
            return None
        plan.encoding = "utf-16"
        data = text.encode("utf-8")
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        plan.add_error(1, None, _l("The file is empty: it needs a header line and at least one row."))
        return None
    for signature, what in ((b"%PDF", _l("a PDF document")), (b"PK\x03\x04", _l("an Excel workbook (.xlsx) or a ZIP")),
                            (b"\xd0\xcf\x11\xe0", _l("an Excel 97 workbook (.xls)"))):
        if data.startswith(signature):
            plan.add_error(1, None, _l(
                "This file is %(what)s, not CSV text. Save it as CSV (separator ; or ,) first.", what=what))
            return None
    nul = data.find(b"\x00")
    if nul >= 0:
        plan.add_error(_line_of(data, nul), None, _l(
            "The file contains binary data (byte 0x00): it is not a CSV text file."))
        return None
    if plan.encoding != "utf-16":
        if data.startswith(b"\xef\xbb\xbf"):
            plan.encoding, data = "utf-8-sig", data[3:]
        else:
            plan.encoding = "utf-8"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
                plan.encoding = "cp1252"
            except UnicodeDecodeError as exc:
                plan.add_error(_line_of(data, exc.start), None, _l(
                    "Byte 0x%(byte)s can't be read as UTF-8 or Windows-1252: save the file as UTF-8 CSV.",
                    byte=f"{data[exc.start]:02X}"))
                return None
    bad = re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if bad and len(re.findall(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]", text[:4096])) > 8:
        plan.add_error(text.count("\n", 0, bad.start()) + 1, None, _l(
            "The file contains binary data (control characters): it is not a CSV text file."))
        return None
    return text


def _sniff(header_line: str, kind: str) -> str:
    known = _known_headers(kind)

    def score(sep: str):
        cells = next(csv.reader([header_line], delimiter=sep))
        return sum(1 for c in cells if _header_key(c) in known), len(cells)

    return max((";", ",", "\t"), key=score)


@cache
def _known_headers(kind: str) -> dict[str, str]:
    return {alias: column for column, aliases in ALIASES[kind].items() for alias in aliases}


def read_rows(text: str, kind: str, plan: ImportPlan) -> list[tuple[int, dict[str, str]]] | None:
    """(line, {column: raw text}) for every non-empty row; None after a header or structure error."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    header_line_no = text.splitlines().index(first) + 1 if first else 1
    plan.separator = _sniff(first, kind)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=plan.separator, strict=True)
    known = _known_headers(kind)
    header: list[str] | None = None
    positions: dict[str, int] = {}
    labels: dict[str, str] = {}
    rows: list[tuple[int, dict[str, str]]] = []
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = cells
                for index, cell in enumerate(cells):
                    name = cell.strip().lstrip("\ufeff")
                    column = known.get(_header_key(name))
                    if column is None:
                        if name:
                            plan.ignored_columns.append(name)
                        continue
                    if column in positions:
                        plan.add_error(start, name, _l(
                            'Column "%(column)s" appears twice (columns %(first)s and %(second)s).',
                            column=column, first=positions[column] + 1, second=index + 1))
                        continue
                    positions[column] = index
                    labels[column] = name
                for column in REQUIRED[kind]:
                    if column not in positions:
                        plan.add_error(start, column, _l(
                            'Missing column "%(column)s". Expected columns: %(columns)s.',
                            column=column, columns=";".join(COLUMNS[kind])), field_name=column)
                if not plan.ok:
                    return None
                plan.columns = tuple(c for c in COLUMNS[kind] if c in positions)
                plan.labels = labels
                continue
            extra = [c for c in cells[len(header):] if c.strip()]
            if extra:
                plan.add_error(start, None, _l(
                    "This row has %(count)s values but the header has %(columns)s columns "
                    "(check the separator and the quotes).", count=len(cells), columns=len(header)))
                continue
            rows.append((start, {c: (cells[i] if i < len(cells) else "") for c, i in positions.items()}))
    except csv.Error as exc:
        plan.add_error(line, None, _l(
            "The CSV is malformed here (%(detail)s): a quote is probably not closed.", detail=str(exc)))
        return None
    if header is None:
        plan.add_error(header_line_no, None, _l("The file is empty: it needs a header line and at least one row."))
        return None
    if not rows:
        plan.add_error(header_line_no, None, _l("The file has a header line but no rows."))
        return None
    plan.rows = len(rows)
    return rows


def plan_csv(session: Session, kind: str, data: bytes, today: date, filename: str = "",
             size: int | None = None, max_rows: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> ImportPlan:
    """Read and check a whole CSV file; nothing is written. `size`: the real size when `data` was cut short;
    `max_rows`: a file with more rows is refused before any cell is read; `progress(done, total)`: see
    `plan_records`."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    plan = ImportPlan(kind=kind, filename=filename)
    text = decode(data, plan, size)
    if text is None:
        return plan
    rows = read_rows(text, kind, plan)
    if rows is None:
        return plan
    if max_rows is not None and len(rows) > max_rows:
        plan.add_error(None, None, _l(
            "The file has %(rows)s rows; the limit is %(limit)s rows per import. Split it into several files.",
            rows=Number(len(rows)), limit=Number(max_rows)))
        return plan
    return plan_records(session, kind, rows, today, plan, progress)
