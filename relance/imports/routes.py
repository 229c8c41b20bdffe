"""Upload a CSV -> preview (what will be created / updated, every error) -> confirm.

Between the two steps the upload waits under `<instance>/imports/` by a generated name, with a small JSON
file saying who uploaded it and what it holds; the confirm step checks the file again before writing.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from relance import clock
from relance.auth import role_required
from relance.extensions import db
from relance.imports import bp
from relance.imports.forms import ConfirmForm, UploadForm
from relance.services import importing
from relance.templating import render

PENDING_HOURS = 24
PREVIEW_ROWS = 200

HELP = {
    "customers": {
        "code": _l("Customer code (key: an existing code is updated)."),
        "name": _l("Company or person name."),
        "email": _l("One or more addresses separated by , or ;."),
        "language": _l("fr or en (français, anglais also accepted). Default fr."),
        "country": _l("ISO code (FR, BE, CH…) or name. Default FR."),
        "kind": _l("business or consumer (entreprise, particulier). Default business."),
        "address": _l("Street address; may span several lines inside quotes."),
        "postcode": _l("Postcode."),
        "city": _l("City."),
        "phone": _l("Phone number."),
    },
    "invoices": {
        "number": _l("Invoice number (key: an existing number is updated)."),
        "customer_code": _l("Code of an existing customer."),
        "issue_date": _l("dd/mm/yyyy or yyyy-mm-dd."),
        "due_date": _l("dd/mm/yyyy or yyyy-mm-dd; empty: never reminded."),
        "currency": _l("ISO 4217 code (EUR, USD, CHF…). Default EUR."),
        "total_excl_tax": _l("Amount: 1 234,56 or 1234.56."),
        "total_incl_tax": _l("Amount, not less than the total excluding tax."),
        "status": _l("draft, validated, paid, cancelled (brouillon, validée, payée, abandonnée). Default validated."),
        "kind": _l("invoice or credit_note (facture, avoir). Default invoice."),
    },
    "payments": {
        "invoice_number": _l("Number of an existing invoice."),
        "date": _l("Payment date: dd/mm/yyyy or yyyy-mm-dd."),
        "amount": _l("Amount paid, more than zero, not more than the remaining due."),
        "reference": _l("Optional bank reference; the same payment is never recorded twice."),
    },
}

EXAMPLES = {
    "customers": "C0001;Dupont SA;compta@dupont.example;fr;FR;entreprise;12 rue de la Paix;75002;Paris;01 23 45 67 89",
    "invoices": "FA-2026-0001;C0001;15/01/2026;14/02/2026;EUR;1 000,00;1 200,00;validée;facture",
    "payments": "FA-2026-0001;20/02/2026;1 200,00;VIR 123",
}


def _pending_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store_pending(data: bytes, kind: str, filename: str) -> str:
    folder = _pending_dir()
    limit = time.time() - PENDING_HOURS * 3600
    for old in folder.glob("*.json"):  # forget abandoned previews
        if old.stat().st_mtime < limit:
            old.unlink(missing_ok=True)
            old.with_suffix(".csv").unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    (folder / f"{token}.csv").write_bytes(data)
    (folder / f"{token}.json").write_text(json.dumps(
        {"user_id": current_user.id, "kind": kind, "filename": filename, "at": time.time()}))
    return token


def _load_pending(token: str, kind: str) -> tuple[bytes, dict] | None:
    folder = _pending_dir()
    meta_path, data_path = folder / f"{token}.json", folder / f"{token}.csv"
    if not meta_path.is_file() or not data_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("user_id") != current_user.id or meta.get("kind") != kind:
        return None
    if meta.get("at", 0) < time.time() - PENDING_HOURS * 3600:
        return None
    return data_path.read_bytes(), meta


def _drop_pending(token: str) -> None:
    folder = _pending_dir()
    (folder / f"{token}.json").unlink(missing_ok=True)
    (folder / f"{token}.csv").unlink(missing_ok=True)


def show(value) -> str:
    """A planned value as text for the preview table."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return format_decimal(value, format="#,##0.00")
    if isinstance(value, date | datetime):
        return format_date(value, "short")
    return str(value)


def _page(form: UploadForm, status: int = 200):
    return render("imports/index.html", form=form, help=HELP, columns=importing.COLUMNS,
                  required=importing.REQUIRED, status=status)


@bp.get("/")
@role_required("agent")
def index():
    form = UploadForm(kind=request.args.get("kind", "invoices"))
    return _page(form)


@bp.post("/")
@role_required("agent")
def preview():
    form = UploadForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    upload = form.file.data
    upload.stream.seek(0, 2)
    size = upload.stream.tell()
    upload.stream.seek(0)
    data = upload.stream.read(importing.MAX_BYTES + 1)
    filename = (upload.filename or "").rsplit("/", 1)[-1][:200]
    plan = importing.plan_csv(db.session, form.kind.data, data, clock.today(), filename=filename, size=size)
    confirm = None
    if plan.ok:
        confirm = ConfirmForm(kind=form.kind.data, token=_store_pending(data, form.kind.data, filename))
    return _preview(plan, confirm, 200 if plan.ok else 422)


def _preview(plan, confirm, status, changed_since=False):
    return render("imports/preview.html", plan=plan, confirm=confirm, show=show, help=HELP,
                  changes=plan.changes[:PREVIEW_ROWS], preview_rows=PREVIEW_ROWS, upload=UploadForm(kind=plan.kind),
                  changed_since=changed_since, status=status)


@bp.post("/confirm")
@role_required("agent")
def confirm():
    form = ConfirmForm()
    pending = _load_pending(form.token.data, form.kind.data) if form.validate_on_submit() else None
    if pending is None:
        flash(_("This preview has expired or was already imported. Upload the file again."), "error")
        return redirect(url_for("imports.index"), 303)
    data, meta = pending
    plan = importing.plan_csv(db.session, form.kind.data, data, clock.today(), filename=meta.get("filename", ""))
    if not plan.ok:  # the database changed since the preview
        _drop_pending(form.token.data)
        return _preview(plan, None, 422, changed_since=True)
    try:
        importing.apply_plan(db.session, plan, current_user)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    _drop_pending(form.token.data)
    flash(_("Import done: %(created)s created, %(updated)s updated, %(unchanged)s unchanged.",
            created=plan.created, updated=plan.updated, unchanged=plan.unchanged), "success")
    return redirect(url_for("imports.index", kind=plan.kind), 303)


@bp.post("/cancel")
@role_required("agent")
def cancel():
    form = ConfirmForm()
    if form.validate_on_submit() and _load_pending(form.token.data, form.kind.data):
        _drop_pending(form.token.data)
    flash(_("Import cancelled: nothing was saved."), "info")
    return redirect(url_for("imports.index"), 303)


@bp.get("/example/<kind>.csv")
@role_required("agent")
def example(kind: str):
    """A file to start from: the documented header and one example row (UTF-8 with BOM, for Excel)."""
    if kind not in importing.KINDS:
        abort(404)
    text = ";".join(importing.COLUMNS[kind]) + "\r\n" + EXAMPLES[kind] + "\r\n"
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{kind}-example.csv"'})
