"""JSON API: customers, invoices, payments and reminders, with bearer tokens.

The token's user role applies: a viewer's token reads, an agent's (or higher) also writes. Writes go through
the import service, so they follow the same rules as the CSV import (all items or none).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import wraps
from typing import cast

from flask import current_app, g, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from relance import clock, params
from relance.api import bp, schema
from relance.extensions import db
from relance.models import ApiToken, Customer, Invoice, Payment, Policy, Reminder
from relance.models.base import ZERO, utcnow
from relance.models.user import hash_token
from relance.search import any_contains
from relance.services import settings as settings_service
from relance.services.data_in import bank_lines, einvoice
from relance.services.data_in.apply import apply_plan
from relance.services.data_in.plan import ImportPlan, plan_records
from relance.services.data_in.reading import MAX_BYTES
from relance.services.data_in.statements import FORMATS as statement_formats
from relance.services.data_in.statements import StatementError
from relance.services.engine import eligibility
from relance.services.engine.levels import level_at
from relance.services.letters.invoice_pdf import store_pdf
from relance.services.sending import dunning
from relance.services.sending.config import SendingConfig
from relance.services.texts.safe_text import CONTROL as _CONTROL


class ApiError(Exception):
    def __init__(self, status: int, message, fields: list[tuple[str, object]] | None = None, headers=None):
        super().__init__(str(message))
        self.status, self.message, self.fields, self.headers = status, message, fields or [], headers or {}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    body = {"status": exc.status, "message": str(exc.message)}
    if exc.fields:
        body["fields"] = [{"path": path, "message": str(message)} for path, message in exc.fields]
    response = jsonify({"error": body})
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


def api_role(role: str):
    """Like role_required, for bearer tokens: 401 without a valid token, 403 when the role is too low."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = _token_user()
            if not user.has_role(role):
                raise ApiError(403, _l("This token's role (%(role)s) does not allow this request.", role=user.role))
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]  # a function attribute, read by the access tests
        return wrapped

    return decorator


def _token_user():
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    unauthorized = {"WWW-Authenticate": 'Bearer realm="relance"'}
    if scheme.lower() != "bearer" or not value:
        raise ApiError(401, _l("A bearer token is required (header Authorization: Bearer <token>)."),
                       headers=unauthorized)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if token is None or token.revoked_at is not None or not token.user.active:
        raise ApiError(401, _l("This token is unknown or revoked."), headers=unauthorized)
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        db.session.commit()
    g.api_user = token.user
    return token.user



def _body_bytes(limit: int, cache: bool) -> bytes:
    """The request body, at most `limit` bytes (one sent without Content-Length is cut there: one byte too many);
    a larger one is refused with 400."""
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=cache)
    except RequestEntityTooLarge:
        data = None
    if data is None or len(data) > limit:
        raise ApiError(400, _l("The request body is too large: at most %(limit)s bytes.", limit=limit))
    return data

def _body(body_schema: dict) -> dict:
    """The JSON body, checked against `body_schema`: 400 when it is not JSON, larger than API_MAX_BODY_BYTES or
    nested deeper than API_MAX_JSON_DEPTH (Python's parser would run out of stack first: RecursionError), 422 when
    it does not match the schema."""
    raw = _body_bytes(current_app.config["API_MAX_BODY_BYTES"], cache=True)
    depth = current_app.config["API_MAX_JSON_DEPTH"]
    try:
        data = request.get_json(silent=True)
        too_deep = _deeper_than(data, depth)
    except RecursionError:
        too_deep = True
    if too_deep:
        raise ApiError(400, _l("The request body is nested too deeply: at most %(depth)s levels of arrays and "
                               "objects.", depth=depth))
    if data is None and raw.strip() not in (b"null",):
        raise ApiError(400, _l("The request body must be JSON (Content-Type: application/json)."))
    errors = schema.check(body_schema, data)
    if errors:
        raise ApiError(422, _l("The request has errors."), errors)
    return cast(dict, data)  # every body schema is an object, and check() accepted it


def _deeper_than(value, limit: int) -> bool:
    """Does `value` (parsed JSON) hold arrays or objects nested more than `limit` levels? (no recursion)"""
    level = [value] if isinstance(value, list | dict) else []
    for _depth in range(limit):
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, list | dict)]
        if not level:
            return False
    return bool(level)


def _query(params: dict) -> dict:
    values, errors = {}, []
    for name, spec in params.items():
        raw = request.args.get(name)
        if raw is None:
            if "default" in spec:
                values[name] = spec["default"]
            continue
        value: object = raw
        if spec["type"] == "integer":
            value = int(raw) if re.fullmatch(r"-?[0-9]{1,18}", raw) else raw
        elif spec["type"] == "boolean":
            value = {"true": True, "false": False}.get(raw, raw)
        problems = schema.check(spec, value, name)
        if isinstance(value, str) and _CONTROL.search(value):
            problems.append((name, _l("Control characters are not allowed.")))
        errors.extend(problems)
        values[name] = value
    if errors:
        raise ApiError(422, _l("The request has errors."), errors)
    return values


def _key(value: str, name: str) -> str:
    """A code or number taken from the URL."""
    if not value or len(value) > 64 or _CONTROL.search(value):
        raise ApiError(404, _l("Not found."))
    return value


def _money(value) -> str:
    return f"{Decimal(value or ZERO):.2f}"


def _when(value: datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _policy_names() -> tuple[dict[int, str], str | None]:
    """{policy id: name} and the default policy's name, read once per request."""
    if "policy_names" not in g:
        rows = db.session.execute(select(Policy.id, Policy.name, Policy.is_default).order_by(Policy.id)).all()
        g.policy_names = ({row.id: row.name for row in rows}, next((row.name for row in rows if row.is_default), None))
    return g.policy_names


def customer_json(c: Customer) -> dict:
    names, default = _policy_names()
    return {"code": c.code, "name": c.name, "email": c.email, "language": c.language, "country": c.country,
            "kind": c.kind, "address": c.address, "postcode": c.postcode, "city": c.city, "phone": c.phone,
            "no_auto_reminders": c.no_auto_reminders, "group_reminders": c.group_reminders,
            "policy": names.get(c.policy_id, default) if c.policy_id is not None else default,
            "paused_until": _day(c.paused_until),
            "created_at": _when(c.created_at)}


# what `invoice_json` reads of an invoice besides its columns: its customer, its payments (the credited amount)
INVOICE_LOADED = (joinedload(Invoice.customer), selectinload(Invoice.payments))


def invoice_json(i: Invoice) -> dict:
    return {"number": i.number, "customer_code": i.customer.code, "issue_date": _day(i.issue_date),
            "due_date": _day(i.due_date), "currency": i.currency, "total_excl_tax": _money(i.total_excl_tax),
            "total_incl_tax": _money(i.total_incl_tax), "amount_paid": _money(i.amount_paid),
            "amount_credited": _money(i.credited_amount),
            "remaining_due": _money(i.remaining_due), "status": i.status, "kind": i.kind, "open": i.is_open,
            "no_auto_reminders": i.no_auto_reminders,
            "credits_invoice": i.credits_invoice.number if i.credits_invoice else None,
            "created_at": _when(i.created_at), "updated_at": _when(i.updated_at)}


def payment_json(p: Payment, number: str) -> dict:
    return {"id": p.id, "invoice_number": number, "date": _day(p.date), "amount": _money(p.amount),
            "reference": p.reference, "credit_note": p.credit_note.number if p.credit_note else None,
            "created_at": _when(p.created_at)}


def reminder_json(r: Reminder) -> dict:
    return {"id": r.id, "level": r.level, "level_name": r.level_name(r.language or "fr"),
            "formal_notice": bool(r.formal_notice), "override_reason": r.override_reason or "",
            "channel": r.channel, "status": r.status,
            "reminder_date": _day(r.reminder_date), "next_date": _day(r.next_date), "automatic": r.automatic,
            "recipients": [str(x) for x in (r.recipients or [])], "subject": r.subject,
            "total_claimed": _money(r.total_claimed), "sent_at": _when(r.sent_at), "error": r.error or ""}


def _page(query, to_json, params):
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page, per_page = params["page"], params["per_page"]
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return jsonify({"items": [to_json(r) for r in rows], "page": page, "per_page": per_page, "total": total,
                    "pages": math.ceil(total / per_page) if total else 0})


def _as_text(value) -> str | None:
    """A JSON value as the import service reads it (amounts and dates as text)."""
    if value is None:
        return None
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, list):  # a customer's sales_reps
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _upsert(kind: str, items: list[dict], paths: list[str]) -> ImportPlan:
    rows = [(index, {k: _as_text(v) for k, v in item.items()}) for index, item in enumerate(items)]
    plan = plan_records(db.session, kind, rows, clock.today())
    if not plan.ok:
        # plan_records gives each error the index of its item (only a file's own errors have no line)
        fields = [(_field_path(paths[cast(int, e.line)], e.field), e.message) for e in plan.errors]
        raise ApiError(422, _l("The request has errors; nothing was saved."), fields)
    apply_plan(db.session, plan, g.api_user)
    db.session.commit()
    return plan


def _field_path(prefix: str, field: str | None) -> str:
    return schema.join(prefix, field) if field else prefix


def _batch_result(plan, objects):
    return jsonify({"created": plan.created, "updated": plan.updated, "unchanged": plan.unchanged,
                    "items": objects})


# --- customers --------------------------------------------------------------------------------------------


@bp.get("/customers")
@api_role("viewer")
def customers():
    params = _query(schema.CUSTOMER_QUERY)
    query = select(Customer).order_by(Customer.code)
    if params.get("q"):
        query = query.where(any_contains((Customer.code, Customer.name), params["q"]))
    return _page(query, customer_json, params)


def _customer(code: str) -> Customer:
    customer = db.session.scalar(select(Customer).where(Customer.code == _key(code, "code")))
    if customer is None:
        raise ApiError(404, _l("No customer has this code."))
    return customer


@bp.get("/customers/<path:code>")
@api_role("viewer")
def customer(code: str):
    return jsonify(customer_json(_customer(code)))


@bp.put("/customers/<path:code>")
@api_role("agent")
def put_customer(code: str):
    code = _key(code, "code")
    data = _body(schema.CUSTOMER_PUT)
    plan = _upsert("customers", [{**data, "code": code}], [""])
    return jsonify(customer_json(_customer(code))), 201 if plan.created else 200


@bp.post("/customers")
@api_role("agent")
def post_customers():
    items = _body(schema.batch(schema.CUSTOMER_ITEM))["items"]
    plan = _upsert("customers", items, [f"items[{i}]" for i in range(len(items))])
    found = {c.code: c for c in db.session.scalars(select(Customer).where(
        Customer.code.in_([i["code"] for i in items])))}
    return _batch_result(plan, [customer_json(found[i["code"]]) for i in items])


# --- invoices ---------------------------------------------------------------------------------------------


@bp.get("/invoices")
@api_role("viewer")
def invoices():
    params = _query(schema.INVOICE_QUERY)
    query = select(Invoice).options(*INVOICE_LOADED).order_by(Invoice.number)
    if "customer_code" in params:
        query = query.join(Invoice.customer).where(Customer.code == params["customer_code"])
    for name in ("status", "kind", "currency"):
        if name in params:
            query = query.where(getattr(Invoice, name) == params[name])
    if "open" in params:
        query = query.where(Invoice.is_open if params["open"] else ~Invoice.is_open)
    return _page(query, invoice_json, params)


def _invoice(number: str) -> Invoice:
    invoice = db.session.scalar(select(Invoice).options(*INVOICE_LOADED)
                                .where(Invoice.number == _key(number, "number")))
    if invoice is None:
        raise ApiError(404, _l("No invoice has this number."))
    return invoice


@bp.get("/invoices/<invoice_number:number>")
@api_role("viewer")
def invoice(number: str):
    return jsonify(invoice_json(_invoice(number)))


@bp.put("/invoices/<invoice_number:number>")
@api_role("agent")
def put_invoice(number: str):
    number = _key(number, "number")
    data = _body(schema.INVOICE_PUT)
    plan = _upsert("invoices", [{**data, "number": number}], [""])
    return jsonify(invoice_json(_invoice(number))), 201 if plan.created else 200


@bp.post("/invoices")
@api_role("agent")
def post_invoices():
    if request.mimetype == "application/pdf":
        return _post_facturx()
    items = _body(schema.batch(schema.INVOICE_ITEM))["items"]
    plan = _upsert("invoices", items, [f"items[{i}]" for i in range(len(items))])
    found = {i.number: i for i in db.session.scalars(select(Invoice).options(*INVOICE_LOADED).where(
        Invoice.number.in_([i["number"] for i in items])))}
    return _batch_result(plan, [invoice_json(found[i["number"]]) for i in items])


def _post_facturx():
    """A Factur-X / ZUGFeRD PDF as the body: its invoice (and its buyer, when new) saved, the PDF kept as it came."""
    limit = current_app.config["INVOICE_PDF_MAX_BYTES"]
    data = _body_bytes(limit, cache=False)
    plan = einvoice.plan_files(db.session, [("body", data)], clock.today(), max_bytes=limit)
    if plan.refused:
        db.session.rollback()
        raise ApiError(422, _l("The request has errors; nothing was saved."),
                       [("body", r.reason) for r in plan.refused])
    with einvoice.saving(db.session, plan, g.api_user, store_pdf):
        db.session.commit()
    number = plan.accepted[0].invoice.number
    return _batch_result(plan, [invoice_json(_invoice(number))])


# --- payments and reminders ---------------------------------------------------------------------------------


@bp.get("/invoices/<invoice_number:number>/payments")
@api_role("viewer")
def payments(number: str):
    invoice = _invoice(number)
    return jsonify({"items": [payment_json(p, invoice.number) for p in invoice.payments]})


@bp.post("/invoices/<invoice_number:number>/payments")
@api_role("agent")
def post_payment(number: str):
    invoice = _invoice(number)
    data = _body(schema.PAYMENT_IN)
    item = {**data, "invoice_number": invoice.number}
    rows = [(0, {k: _as_text(v) for k, v in item.items()})]
    plan = plan_records(db.session, "payments", rows, clock.today())
    paths = {"invoice_number": "", "date": "date", "amount": "amount", "reference": "reference"}
    if not plan.ok:
        raise ApiError(422, _l("The request has errors; nothing was saved."),
                       [(paths.get(e.field or "", ""), e.message) for e in plan.errors])
    change = plan.changes[0]
    if change.action == "unchanged":  # the same payment is already recorded
        raise ApiError(422, _l("This payment (same date, amount and reference) is already recorded."),
                       [("amount", _l("Already recorded."))])
    apply_plan(db.session, plan, g.api_user)
    db.session.commit()
    payment = db.session.scalars(select(Payment).where(
        Payment.invoice_id == invoice.id, Payment.date == change.values["date"],
        Payment.amount == change.values["amount"], Payment.reference == change.values["reference"])
        .order_by(Payment.id.desc()).limit(1)).one()  # the payment just recorded
    return jsonify({"payment": payment_json(payment, invoice.number), "invoice": invoice_json(_invoice(number))}), 201


@bp.post("/payments")
@api_role("agent")
def post_payments():
    items = _body(schema.batch(schema.PAYMENT_ITEM))["items"]
    plan = _upsert("payments", items, [f"items[{i}]" for i in range(len(items))])
    numbers = sorted({i["invoice_number"] for i in items})
    found = {i.number: i for i in db.session.scalars(select(Invoice).options(*INVOICE_LOADED)
                                                     .where(Invoice.number.in_(numbers)))}
    return _batch_result(plan, [invoice_json(found[n]) for n in numbers])


@bp.post("/statements")
@api_role("agent")
def post_statement():
    """A bank statement as the body (camt.053 / camt.054 XML, OFX, CSV; `?format=` when it cannot be told from the
    content, `?filename=` kept with its lines): its credits kept once, matched to the open invoices, recorded when
    nothing is in doubt and the setting says so; the counts as the CLI prints them."""
    fmt = request.args.get("format") or None
    if fmt is not None and fmt not in statement_formats:
        raise ApiError(422, _l("The request has errors; nothing was saved."),
                       [("format", str(_l("Unknown statement format %(format)s: camt, ofx or csv.", format=fmt[:20])))])
    data = _body_bytes(MAX_BYTES * 5, cache=False)  # the statement reader's own limit
    try:
        result = bank_lines.import_statement(db.session, data, now=clock.utcnow(), fmt=fmt,
                                             settings=settings_service.load(db.session),
                                             filename=(request.args.get("filename") or "api")[:255])
    except StatementError as exc:
        db.session.rollback()
        raise ApiError(422, _l("The request has errors; nothing was saved."), [("body", str(exc))]) from None
    db.session.commit()
    return jsonify({"read": result.read, "imported": result.imported, "already": result.already,
                    "skipped": result.skipped, "automatic": result.automatic, "proposed": result.proposed,
                    "left": result.left})


@bp.post("/contacts")
@api_role("agent")
def post_contacts():
    """Create or update customers' contacts by customer code + email: all items or none."""
    return _counted_batch("contacts", schema.CONTACT_ITEM)


@bp.post("/reminder-history")
@api_role("agent")
def post_reminder_history():
    """Record the reminders a previous tool sent: all items or none."""
    return _counted_batch("history", schema.HISTORY_ITEM)


def _counted_batch(kind: str, item: dict):
    """A batch of `kind` items written like an import of that kind; answers how many were created, updated, left."""
    items = _body(schema.batch(item))["items"]
    plan = _upsert(kind, items, [f"items[{i}]" for i in range(len(items))])
    return jsonify({"created": plan.created, "updated": plan.updated, "unchanged": plan.unchanged})


@bp.get("/invoices/<invoice_number:number>/reminders")
@api_role("viewer")
def reminders(number: str):
    invoice = _invoice(number)
    rows = db.session.scalars(select(Reminder).where(Reminder.invoice_id == invoice.id)
                              .order_by(Reminder.reminder_date, Reminder.id))
    return jsonify({"items": [reminder_json(r) for r in rows]})


def verdict_json(invoice: Invoice, on, verdict) -> dict:
    return {"invoice_number": invoice.number, "date": _day(on), "level": verdict.rank, "channel": verdict.channel,
            "may_send": verdict.ok, "next_level": verdict.proposed, "refusals": [r.as_json() for r in verdict.refusals]}


@bp.get("/invoices/<invoice_number:number>/eligibility")
@api_role("viewer")
def eligibility_of(number: str):
    """What the rulebook says of a level (default: the engine's next one) for this invoice today."""
    invoice = _invoice(number)
    params = _query(schema.ELIGIBILITY_QUERY)
    on = clock.today()
    verdict = eligibility.check(db.session, invoice, params.get("level"), params.get("channel"), on)
    return jsonify(verdict_json(invoice, on, verdict))


@bp.post("/invoices/<invoice_number:number>/reminders")
@api_role("agent")
def post_reminder(number: str):
    """Make a reminder by hand (the rulebook decides; `override_reason` is a person's "send anyway"). The same
    `Idempotency-Key` header twice makes one reminder: the second answer is the first one's (200)."""
    invoice = _invoice(number)
    data = _body(schema.REMINDER_IN)
    idempotency = request.headers.get("Idempotency-Key", "").strip()
    if idempotency and (len(idempotency) > 64 or _CONTROL.search(idempotency)):
        raise ApiError(422, _l("The request has errors."), [("Idempotency-Key", _l("At most 64 characters."))])
    on = clock.today()
    level = level_at(db.session, invoice.customer.policy_id, data["level"])  # in the customer's policy
    level = level if level is not None and level.active else None
    next_date = _date_or_none(data.get("next_date"))
    if level is None:
        raise ApiError(422, _l("The request has errors; nothing was saved."),
                       [("level", _l("Level %(rank)s does not exist.", rank=data["level"]))])
    if next_date is not None and next_date < on:
        raise ApiError(422, _l("The request has errors; nothing was saved."),
                       [("next_date", _l("The next reminder date cannot be in the past."))])
    try:
        params.check_date(next_date or on, "next_date", on, params.DATA_LAST_DAY)
    except params.ParamError as exc:
        raise ApiError(422, _l("The request has errors; nothing was saved."), [("next_date", exc.message)]) from None
    key = dunning.manual_key(invoice.id, level.rank, data["channel"], "api-" + idempotency) if idempotency else None
    existing = db.session.scalar(select(Reminder).where(Reminder.key == key)) if key else None
    if existing is not None:
        return jsonify({"reminder": reminder_json(existing), "invoice": invoice_json(invoice)}), 200
    try:
        reminder = dunning.create_reminder(
            db.session, invoice, level, data["channel"], on, user=g.api_user, note=data.get("note", "").strip(),
            next_date=next_date, override=data.get("override_reason", ""), key=key,
            config=SendingConfig.from_config(current_app.config))
    except dunning.ReminderRefused as refused:
        db.session.rollback()
        raise ApiError(422, _l("The rules refuse this reminder; nothing was made."),
                       [("override_reason" if r.code not in eligibility.HARD_CODES else "level", r.text)
                        for r in refused.verdict.refusals]) from None
    except dunning.ReminderError as exc:
        db.session.rollback()
        raise ApiError(422, _l("The request has errors; nothing was saved."),
                       [(exc.field or "", exc.message)]) from None
    db.session.commit()
    from relance import tasks

    reminder = tasks.queue_send(reminder)
    return jsonify({"reminder": reminder_json(reminder), "invoice": invoice_json(_invoice(number))}), 201


def _date_or_none(value):
    return date.fromisoformat(value) if value else None


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API (public, like any API documentation)."""
    from relance.api.openapi import document

    return jsonify(document(request.url_root.rstrip("/") + (bp.url_prefix or "")))

