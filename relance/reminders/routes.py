"""Reminder screens: follow-up (with CSV export), the new reminder form with its preview, the mass reminder page
(inline row changes, bulk toggles, one POST to start a run) and the run's progress component."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta

from flask import Response, abort, current_app, flash, g, redirect, request, send_file, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import ngettext, pgettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from relance import clock, params, tasks
from relance.auth import role_required
from relance.extensions import db
from relance.invoices.queries import (
    list_conditions,
    list_filters,
    list_order,
    open_currencies,
)
from relance.models import REMINDER_STATUSES, Customer, Invoice, Reminder, ReminderLevel, Run, User
from relance.models.reminder import message_rows
from relance.pagination import Page, page_number, paginate, requested_page
from relance.redirects import local_target
from relance.reminders import bp
from relance.reminders.forms import ReminderForm
from relance.search import any_contains, contains
from relance.services import answers
from relance.services import settings as settings_service
from relance.services.engine import eligibility, readiness, recipients
from relance.services.engine.levels import (
    DONE_STATUSES,
    MADE_STATUSES,
    DelayError,
    customer_levels,
    level_list,
    parse_delay,
)
from relance.services.files import resolve as resolve_file
from relance.services.letters import content
from relance.services.sending import dunning, mailer, mass, once
from relance.services.sending.config import SendingConfig
from relance.services.texts import wording
from relance.templating import render

PER_PAGE = 50
PROBE = 200  # the mass page's first page is looked for among the first PROBE open invoices first (due today)
CHANNEL_CHOICES = ("email", "letter", "phone")
STATUS_CHOICES = REMINDER_STATUSES


def _user() -> User:
    return current_user._get_current_object()


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _get(model, raw):
    """The row whose id is `raw` (a form value), or None (also for anything that is not an id)."""
    return params.lookup(model, raw)


def _arg(model, name: str):
    """The row named by the query parameter `name` (an id: 400 when garbage, 404 past the database's range), or
    None when it is absent or names nothing."""
    value = params.id_arg(name)
    return db.session.get(model, value) if value is not None else None


# --- follow-up ---------------------------------------------------------------------------------------------------

def _followup_filters(args) -> tuple[dict, list[str]]:
    errors: list[str] = []
    f = {
        "level": "", "user": "auto" if args.get("user") == "auto" else "",
        "channel": args.get("channel", "") if args.get("channel") in CHANNEL_CHOICES else "",
        "status": args.get("status", "") if args.get("status") in STATUS_CHOICES else "",
        "customer": (args.get("customer") or "").strip(),
        "date_from": None, "date_to": None,
    }
    numbers = [("level", _("Level"), 0, params.MAX_RANK)]
    if not f["user"]:
        numbers.append(("user", _("By"), 1, params.MAX_ID))
    for key, label, low, high in numbers:
        value = params.collect(errors, params.parse_int, args.get(key), label, low, high)
        f[key] = "" if value is None else str(value)
    for key, label in (("date_from", pgettext("date range", "From")), ("date_to", pgettext("date range", "To"))):
        f[key] = params.collect(errors, params.parse_date, args.get(key), label)
    return f, errors


def _followup_statement(f: dict):
    stmt = (select(Reminder).join(Reminder.invoice).join(Invoice.customer).where(Invoice.is_open)
            .options(contains_eager(Reminder.invoice).contains_eager(Invoice.customer), selectinload(Reminder.user)))
    if f["level"]:
        stmt = stmt.where(Reminder.level == int(f["level"]))
    if f["user"] == "auto":
        stmt = stmt.where(Reminder.user_id.is_(None))
    elif f["user"]:
        stmt = stmt.where(Reminder.user_id == int(f["user"]))
    if f["channel"]:
        stmt = stmt.where(Reminder.channel == f["channel"])
    if f["status"]:
        stmt = stmt.where(Reminder.status == f["status"])
    if f["date_from"]:
        stmt = stmt.where(Reminder.reminder_date >= f["date_from"])
    if f["date_to"]:
        stmt = stmt.where(Reminder.reminder_date <= f["date_to"])
    if f["customer"]:
        stmt = stmt.where(or_(Customer.code == f["customer"], contains(Customer.name, f["customer"])))
    return stmt.order_by(Reminder.reminder_date.desc(), Reminder.id.desc())


@bp.route("/")
@role_required("viewer")
def index():
    f, errors = _followup_filters(request.args)
    pagination = paginate(_followup_statement(f), PER_PAGE)
    users = db.session.scalars(select(User).order_by(User.name, User.email)).all()
    levels = list({level.rank: level for level in reversed(level_list(db.session))}.values())  # a rank once
    levels.sort(key=lambda level: level.rank)
    return render("reminders/index.html", "reminders/_followup.html", pagination=pagination, f=f,
                  filter_errors=errors, users=users, levels=levels,
                  status=422 if errors else 200)


def _csv_cell(value) -> str:
    """Text as data: a cell a spreadsheet would take for a formula is prefixed with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/export.csv")
@role_required("viewer")
def export():
    f, errors = _followup_filters(request.args)
    if errors:
        return Response("\n".join(errors) + "\n", status=422, mimetype="text/plain")
    header = [_("No."), _("Customer code"), _("Customer"), _("Invoice"), _("Note"), _("Level"), _("By"), _("Date"),
              _("Next reminder"), _("Channel"), _("Status"), _("Error")]
    automatic = _("automatic")
    statement = _followup_statement(f).execution_options(yield_per=1000)

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for reminder in db.session.scalars(statement):
            invoice = reminder.invoice
            writer.writerow([_csv_cell(v) for v in (
                reminder.id, invoice.customer.code, invoice.customer.name, invoice.number, reminder.note,
                reminder.level, (reminder.user.name or reminder.user.email) if reminder.user else automatic,
                reminder.reminder_date.isoformat(), reminder.next_date.isoformat() if reminder.next_date else "",
                reminder.channel, reminder.status, reminder.error)])
            if buffer.tell() > 65536:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    # streamed inside the request's context: the rows are read from the database while the response is sent
    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="reminders-{clock.today().isoformat()}.csv"'
    return response


# --- new reminder ------------------------------------------------------------------------------------------------

def _next_date_default(settings, today: date) -> date:
    try:
        return parse_delay(settings.next_reminder_delay).apply(today)
    except DelayError:
        return today + timedelta(days=15)


def _invoice_choices(customer: Customer | None, invoice: Invoice | None, q: str) -> list[Invoice]:
    """The unpaid invoices offered: the customer's, or the ones matching the search (at most 50)."""
    stmt = (select(Invoice).join(Invoice.customer).options(contains_eager(Invoice.customer))
            .where(Invoice.is_open, Invoice.due_date.is_not(None)))
    if customer is not None:
        stmt = stmt.where(Invoice.customer_id == customer.id)
    elif q:
        stmt = stmt.where(any_contains((Invoice.number, Customer.name, Customer.code), q))
    found = db.session.scalars(stmt.order_by(Invoice.due_date, Invoice.id).limit(200 if customer else 50)).all()
    if invoice is not None and invoice not in found and invoice.is_open:
        found = [invoice, *found]
    return list(found)


def _check(form: ReminderForm, customer: Customer | None, levels: list[ReminderLevel], today: date, settings):
    """The form's own checks, then the rulebook's verdict; returns (invoice, level, override reason) or None with
    the errors on the fields."""
    form.validate()
    invoice = _get(Invoice, form.invoice.data)
    if form.invoice.data is not None and invoice is None:
        form.invoice.errors = [*form.invoice.errors, _("This invoice does not exist.")]
    elif invoice is not None and customer is not None and invoice.customer_id != customer.id:
        form.invoice.errors = [*form.invoice.errors, _("Invoice %(number)s does not belong to customer %(customer)s.",
                                                       number=invoice.number, customer=customer.name)]
    level = next((lvl for lvl in levels if lvl.rank == form.level.data), None)
    if form.level.data is not None and level is None:
        form.level.errors = [*form.level.errors, _("Level %(rank)s does not exist.", rank=form.level.data)]
    if form.next_date.data is not None and form.next_date.data < today:
        form.next_date.errors = [*form.next_date.errors, _("The next reminder date cannot be in the past.")]
    reason = ""
    if invoice is not None and not form.invoice.errors:
        channel = "email" if form.by_email.data else "letter"
        verdict = eligibility.check(db.session, invoice, level.rank if level else None, channel, today)
        hard = [r for r in verdict.refusals if r.hard]
        if hard:
            for refusal in hard:
                on_level = refusal.code in ("unknown_level", "before_due_passed", "no_level")
                target = form.level if on_level else form.invoice
                target.errors = [*target.errors, refusal.text]
        elif level is not None and verdict.refusals:
            reason = (form.override_reason.data or "").strip() if form.override.data else ""
            if not form.override.data:
                form.level.errors = [*form.level.errors, _(
                    "The rules do not send this reminder today: tick \u201csend anyway\u201d and give a reason, or "
                    "choose another level.")]
            elif not reason:
                form.override_reason.errors = [*form.override_reason.errors,
                                               _("Give the reason for sending it anyway.")]
        if form.by_email.data and not mass.invoice_can_email(invoice):
            form.by_email.errors = [*form.by_email.errors,
                                    _("No email address for this customer: the reminder cannot go by email.")]
        elif level is not None and wording.find_template(db.session, level, channel, invoice.customer.language,
                                                       settings.default_language)[0] is None:
            form.level.errors = [*form.level.errors, _(
                "Level %(rank)s has no %(channel)s text: choose another level or channel.", rank=level.rank,
                channel=_(channel))]
    if any(field.errors for field in form):
        return None
    return invoice, level, reason


def _form_page(form: ReminderForm, customer: Customer | None, invoice: Invoice | None, levels, q: str = "",
               status: int = 200):
    settings = settings_service.load(db.session)
    today = clock.today(zone=settings.auto_timezone)
    made_today: Sequence[Reminder]
    verdict, made_today = None, []
    if invoice is not None:
        channel = "email" if form.by_email.data else "letter"
        verdict = eligibility.check(db.session, invoice, form.level.data, channel, today)
        made_today = db.session.scalars(select(Reminder).where(  # back button, reload: say what already left
            Reminder.invoice_id == invoice.id, Reminder.reminder_date == today,
            Reminder.status.in_(DONE_STATUSES)).order_by(Reminder.id)).all()
    context = {
        "form": form, "customer": customer, "invoice": invoice, "levels": levels, "q": q,
        "choices": _invoice_choices(customer, invoice, q), "verdict": verdict, "made_today": made_today,
        "email_ok": mass.invoice_can_email(invoice) if invoice is not None else True,
        "preview": _preview_context(invoice, form.level.data, bool(form.by_email.data), levels, settings, today),
    }
    return render("reminders/new.html", "reminders/_form.html", status=status, **context)


def _preview_context(invoice: Invoice | None, rank, by_email: bool, levels, settings, today: date) -> dict:
    level = next((lvl for lvl in levels if lvl.rank == rank), None)
    if invoice is None or level is None or not invoice.is_open or invoice.due_date is None:
        return {"ready": False}
    channel = "email" if by_email else "letter"
    rendered = wording.render_for_invoice(db.session, invoice, level, channel, today, settings, user=_user(),
                                          page_url=answers.preview_url(current_app.config["PUBLIC_URL"]))
    who = recipients.for_invoice(invoice, settings, _user()) if by_email else None
    return {"ready": True, "invoice": invoice, "level": level, "channel": channel, "rendered": rendered, "who": who}


def _levels_for(customer: Customer | None, invoice: Invoice | None) -> list[ReminderLevel]:
    """The active levels of the invoice's customer's policy (or the customer's; neither: the default policy)."""
    return customer_levels(db.session, invoice.customer if invoice is not None else customer)


def _after_send_url(customer: Customer | None, invoice: Invoice) -> str:
    if customer is not None:
        return url_for("customers.reminders", customer_id=customer.id)
    return url_for("invoices.reminders", invoice_id=invoice.id)


def _see_other(target: str):
    """POST/redirect/GET: the browser lands on a page that back and reload never send again."""
    if g.htmx:
        return Response(status=204, headers={"HX-Redirect": target})
    return redirect(target, code=303)


def _already_done(first_url: str | None):
    flash(_("This form was already sent: nothing was sent again. Here is its result."), "warning")
    return _see_other(first_url or url_for("reminders.index"))


@bp.route("/new", methods=["GET", "POST"])
@role_required("agent")
def new():
    settings = settings_service.load(db.session)
    today = clock.today(zone=settings.auto_timezone)
    source = request.form if request.method == "POST" else request.args
    customer = _get(Customer, source.get("customer")) if request.method == "POST" else _arg(Customer, "customer")
    if request.method == "GET":
        invoice = _arg(Invoice, "invoice")
        if invoice is not None and customer is not None and invoice.customer_id != customer.id:
            invoice = None
        form = ReminderForm(formdata=None)
        form.customer.data = customer.id if customer else None
        form.invoice.data = invoice.id if invoice else None
        form.note.data = request.args.get("note", "")
        asked = "by_email" in request.args or "by_email_sent" in request.args  # the box, ticked or not
        form.by_email.data = request.args.get("by_email") in ("y", "1") if asked else (
            invoice is None or mass.invoice_can_email(invoice))
        chosen = params.int_arg("level", 0, params.MAX_RANK)
        if chosen is None and invoice is not None:  # what the engine would send (its next level)
            chosen = eligibility.check(db.session, invoice, None, None, today).rank
        form.level.data = chosen
        form.next_date.data = _next_date_default(settings, today)
        form.token.data = once.new_token()
        return _form_page(form, customer, invoice, _levels_for(customer, invoice), q=request.args.get("q", "").strip())

    form = ReminderForm()
    first = once.result(db.session, form.token.data)
    if first is not None:  # back + submit again, reload, double click: the first result, nothing new
        return _already_done(first)
    invoice_field = _get(Invoice, form.invoice.data)
    levels = _levels_for(customer, invoice_field)
    if request.form.get("action") == "preview":  # no JavaScript: the preview (and the rules' verdict), nothing made
        return _form_page(form, customer, invoice_field, levels)
    checked = _check(form, customer, levels, today, settings)
    if checked is None:
        return _form_page(form, customer, invoice_field, levels, status=422)
    invoice, level, reason = checked
    channel = "email" if form.by_email.data else "letter"
    try:
        token = once.use(db.session, form.token.data, current_user.id)
        reminder = dunning.create_reminder(
            db.session, invoice, level, channel, today, user=_user(), note=(form.note.data or "").strip(),
            next_date=form.next_date.data, override=reason,
            key=dunning.manual_key(invoice.id, level.rank, channel, form.token.data),
            config=SendingConfig.from_config(current_app.config))
    except once.AlreadyUsed:
        db.session.rollback()
        return _already_done(once.result(db.session, form.token.data))
    except dunning.ReminderError as exc:
        db.session.rollback()
        getattr(form, exc.field if exc.field and exc.field in form else "invoice").errors.append(str(exc.message))
        return _form_page(form, customer, invoice, levels, status=422)
    target = _after_send_url(customer if request.form.get("origin") != "invoice" else None, invoice)
    if token is not None:
        token.url = target
    db.session.commit()

    reminder = tasks.queue_send(reminder)
    _flash_outcome(reminder)
    return _see_other(target)


def _flash_outcome(reminder: Reminder) -> None:
    if reminder.status == "failed":
        flash(_("Reminder %(id)s on %(number)s failed: %(error)s", id=reminder.id, number=reminder.invoice.number,
                error=reminder.error), "error")
    elif reminder.channel == "email" and reminder.status == "sent":
        flash(_("Reminder email for %(number)s sent to %(to)s.", number=reminder.invoice.number,
                to=", ".join(reminder.recipients)), "success")
    elif reminder.channel == "email":
        flash(_("Reminder email for %(number)s is queued: %(error)s", number=reminder.invoice.number,
                error=reminder.error or _("it will be sent shortly.")), "warning")
    else:
        flash(_("Reminder letter for %(number)s created: print it from the PDF link in the history, then mark it "
                "posted.", number=reminder.invoice.number), "success")


@bp.route("/preview")
@role_required("agent")
def preview():
    invoice = _arg(Invoice, "invoice")
    customer_id = params.id_arg("customer")
    if invoice is not None and customer_id and invoice.customer_id != customer_id:
        invoice = None
    levels = _levels_for(None, invoice)
    settings = settings_service.load(db.session)
    context = _preview_context(invoice, params.int_arg("level", 0, params.MAX_RANK),
                               request.args.get("by_email") == "y",
                               levels, settings, clock.today(zone=settings.auto_timezone))
    return render("reminders/_preview.html", "reminders/_preview.html", preview=context)


# --- mass reminder -----------------------------------------------------------------------------------------------

MASS_FILTER_ARGS = ("q", "overdue", "level", "currency", "customer", "sort", "page", "due")
DUE_FILTERS = ("today", "all")
COUNT_CHANGED = '{"selectionChanged": {"target": "#mass-count"}}'  # the row that asked may be swapped away


def _mass_filters(args) -> dict:
    f = list_filters(args)
    f["status"] = "open"
    f["due"] = args.get("due") if args.get("due") in DUE_FILTERS else "today"
    return f


def _once_per_request(name: str, today: date, make):
    """`make(db.session, today)`, computed once per request (kept on the request: tests share one app context)."""
    cache = request.environ.setdefault(f"relance.{name}", {})
    if today not in cache:
        cache[today] = make(db.session, today)
    return cache[today]


def _day_rules(today: date):
    """The settings and active levels of the day (a person's view)."""
    return _once_per_request("rules", today, eligibility.day_rules)


def _mass_conditions(f: dict, today: date) -> list:
    """The invoices list's filters (same meaning), limited to unpaid invoices with a due date; "due today" keeps
    the invoices the engine sends today (the same level the automatic run would pick, for a person)."""
    if f["due"] == "today":  # unpaid with a due date is the engine's first condition
        return [*list_conditions(dict(f, status=""), today), *eligibility.due_conditions(_day_rules(today))]
    return [*list_conditions(f, today), Invoice.due_date.is_not(None)]


def _due_today(today: date) -> dict[int, int]:
    """{invoice id: level} the engine sends today."""
    return _once_per_request("due", today, eligibility.due_ranks)


def _joined_rows():
    return (joinedload(Invoice.customer), joinedload(Invoice.billing_contact),  # many-to-one: joined
            joinedload(Invoice.followup_contact), selectinload(Invoice.answers))  # the rulebook reads the answers


def _mass_page(f: dict, today: date, page: int) -> Page:
    """One page and the count, each view its cheaper way (SQLite reads the count from the covering index):
    - every unpaid invoice: the page in the index's order (it stops at the page's last row), then the count
      unless the page is the last one (its rows and the ones before it are the count);
    - due today: one pass over the covering index gives the page's ids and the count together, when few of the
      open invoices are due (a page looked for in order would read most of the table, then the count again);
      when many are (a backlog), the first page is among the first open invoices: looked for there first."""
    conditions = _mass_conditions(f, today)
    order = list_order(f["sort"], today, open_dated=True)
    page = page_number(page)

    def count() -> int:
        return db.session.scalars(select(func.count()).select_from(Invoice).where(*conditions)).one()

    if f["due"] != "today":
        items = list(db.session.scalars(select(Invoice).where(*conditions).order_by(*order).limit(PER_PAGE)
                                        .offset((page - 1) * PER_PAGE).options(*_joined_rows())))
        last = 0 < len(items) < PER_PAGE or (page == 1 and not items)
        result = Page(page=page, per_page=PER_PAGE, total=(page - 1) * PER_PAGE + len(items) if last else count())
        result.items = items if result.page == page else list(db.session.scalars(  # past the last page: the last
            select(Invoice).where(*conditions).order_by(*order).limit(PER_PAGE)
            .offset(result.offset).options(*_joined_rows())))
        return result
    if page == 1 and not any(f[k] for k in ("q", "customer", "level", "currency", "overdue")):
        head = (select(Invoice.id).where(Invoice.is_open, Invoice.due_date.is_not(None)).order_by(*order)
                .limit(PROBE).subquery())
        items = list(db.session.scalars(select(Invoice).join(head, head.c.id == Invoice.id).where(*conditions)
                                        .order_by(*order).limit(PER_PAGE).options(*_joined_rows())))
        if len(items) == PER_PAGE:  # the first page's rows are the first due among the first open invoices
            result = Page(page=1, per_page=PER_PAGE, total=count())
            result.items = items
            return result

    def ids_and_count(number: int) -> Sequence:
        return db.session.execute(select(Invoice.id, func.count().over()).where(*conditions).order_by(*order)
                                  .limit(PER_PAGE).offset((number - 1) * PER_PAGE)).all()

    rows = ids_and_count(page)
    if rows or page == 1:
        result = Page(page=page, per_page=PER_PAGE, total=rows[0][1] if rows else 0)
    else:  # past the last page: the last one
        result = Page(page=page, per_page=PER_PAGE, total=count())
        rows = ids_and_count(result.page)
    ids = [row[0] for row in rows]
    loaded = {i.id: i for i in db.session.scalars(
        select(Invoice).where(Invoice.id.in_(ids)).options(*_joined_rows()))} if ids else {}
    result.items = [loaded[i] for i in ids]
    return result


def _mass_ids(f: dict, today: date):
    """The ids of every invoice matching the filters (for the bulk toggles)."""
    return select(Invoice.id).where(*_mass_conditions(f, today))


def _filter_args(args) -> dict:
    return {k: v for k, v in args.items() if k in MASS_FILTER_ARGS and v not in ("", None)}


def _row_texts(rules) -> dict:
    """What every row repeats, translated and built once per page (50 rows x a dozen labels and URLs)."""
    from flask_babel import get_locale

    language = str(get_locale() or "fr")
    none = Markup('<option value="" selected>{}</option>').format(_("— not due —"))

    def options(levels, chosen: int | None) -> Markup:
        return (none if chosen is None else Markup("")) + Markup("").join(
            Markup('<option value="{}"{}>{}</option>').format(
                level.rank, Markup(" selected") if level.rank == chosen else "",
                f"{level.rank} · {level.name(language)}") for level in levels)

    return {
        "row_url": url_for("reminders.mass_row", invoice_id=0), "invoice_url": url_for("invoices.show", invoice_id=0),
        "customer_url": url_for("customers.show", customer_id=0),
        # a row's level list (its customer's policy's levels), made once per page for each policy and level it may
        # show chosen (None: no level chosen)
        "level_options": {(policy, chosen): options(levels, chosen) for policy, levels in rules.policies.items()
                          for chosen in (None, *(level.rank for level in levels))},
        "level_n": _("level %(rank)s"), "next_on": _("next %(date)s"), "level_for": _("Level for %(number)s"),
        "incl_claims": _("incl. %(amount)s penalty, interest and indemnity"), "by_letter": _("%(number)s by letter"),
        "by_email": _("%(number)s by email"),
        "no_email": _("No email address for this customer: send a letter or add the address."),
        "not_due": _("Not due today:"), "refused": _("The rules refuse this level:"),
        "send_anyway": _("Send anyway"), "anyway_for": _("Send %(number)s anyway"),
        "reason_for": _("Why send %(number)s anyway"), "reason_placeholder": _("Reason (kept and audited)"),
    }


def _source():
    return request.form if request.method == "POST" else request.args


def _mass_context(today: date, with_filters: bool = False, **extra) -> dict:
    source = _source()
    f = _mass_filters(source)
    rules = _day_rules(today)
    pagination = _mass_page(f, today, requested_page(source))
    currencies = [] if g.htmx and not with_filters else open_currencies()  # the filter form's choices
    context = {
        "f": f, "rules": rules, "pagination": pagination, "currencies": currencies, "today": today,
        "rows": mass.build_rows(db.session, current_user.id, pagination.items, today, rules),
        "counts": mass.counts(db.session, current_user.id), "args": _filter_args(source), "problems": [],
        "t": _row_texts(rules), "token": once.new_token(),
        # the whole page says when nothing can be chased or a text is missing (its htmx fragments need not)
        "readiness": None if g.htmx else readiness.check(db.session),
    }
    context.update(extra)
    return context


def _row_choice(form, invoice_id: int) -> dict:
    """One row's fields as posted (level, boxes, "send anyway" and its reason)."""
    return {"rank": _int(form.get(f"level-{invoice_id}")), "letter": form.get(f"letter-{invoice_id}") == "1",
            "email": form.get(f"email-{invoice_id}") == "1", "override": form.get(f"override-{invoice_id}") == "1",
            "reason": form.get(f"reason-{invoice_id}", "")}


def _save_page(rules) -> list[str]:
    """Keep the choices of the rows posted by the page's form (no JavaScript, or before a bulk action / run)."""
    ids = [i for i in (params.valid_id(v) for v in request.form.getlist("rows")) if i is not None]
    invoices = {i.id: i for i in db.session.scalars(
        select(Invoice).where(Invoice.id.in_(ids)).options(selectinload(Invoice.customer),
                                                           selectinload(Invoice.billing_contact),
                                                           selectinload(Invoice.followup_contact)))} if ids else {}
    problems = []
    for invoice_id in ids:
        invoice = invoices.get(invoice_id)
        if invoice is None:
            continue
        try:
            mass.save_row(db.session, current_user.id, invoice, ranks=list(rules.ranked(invoice.customer.policy_id)),
                          **_row_choice(request.form, invoice_id))
        except mass.SelectionError as exc:
            problems.append(f"{invoice.number}: {exc.message}" if invoice.number not in str(exc.message)
                            else str(exc.message))
    return problems


@bp.route("/mass")
@role_required("agent")
def mass_page():
    return render("reminders/mass.html", "reminders/_mass_list.html", **_mass_context(clock.today()))


@bp.route("/mass/count")
@role_required("agent")
def mass_count():
    return render("reminders/_mass_count.html", "reminders/_mass_count.html",
                  counts=mass.counts(db.session, current_user.id))


@bp.route("/mass/rows/<int:invoice_id>", methods=["POST"])
@role_required("agent")
def mass_row(invoice_id: int):
    """An inline change of one row (level, a box, "send anyway"): keep it and answer the row with the verdict."""
    today = clock.today()
    rules = _day_rules(today)
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    error, status = None, 200
    if not invoice.is_open:
        error, status = _("Invoice %(number)s is no longer unpaid.", number=invoice.number), 422
    else:
        try:
            mass.save_row(db.session, current_user.id, invoice, ranks=list(rules.ranked(invoice.customer.policy_id)),
                          **_row_choice(request.form, invoice_id))
            db.session.commit()
        except mass.SelectionError as exc:
            db.session.rollback()
            error, status = str(exc.message), 422
    if not g.htmx:
        if error:
            flash(error, "error")
        return redirect(url_for("reminders.mass_page", **_filter_args(request.form)), code=303)
    row = mass.build_rows(db.session, current_user.id, [invoice], today, rules)[0]
    response = render("reminders/_mass_row.html", status=status, row=row, rules=rules, t=_row_texts(rules),
                      row_error=error)
    response.headers["HX-Trigger"] = COUNT_CHANGED
    return response


@bp.route("/mass/save", methods=["POST"])
@role_required("agent")
def mass_save():
    problems = _save_page(_day_rules(clock.today()))
    db.session.commit()
    for problem in problems:
        flash(problem, "error")
    if not problems:
        flash(_("Selection saved."), "success")
    args = _filter_args(request.form)
    if request.form.get("goto"):
        args["page"] = page_number(request.form.get("goto"))
    return redirect(url_for("reminders.mass_page", **args), code=303)


@bp.route("/mass/bulk", methods=["POST"])
@role_required("agent")
def mass_bulk():
    """"All letters", "all emails" or "none" over every invoice matching the filters (every page): only the
    invoices the engine sends today are ticked, at its level."""
    today = clock.today()
    action = request.form.get("action", "")
    if action not in ("letters", "emails", "none"):
        abort(400)
    problems = _save_page(_day_rules(today))
    changed, not_due = mass.bulk(db.session, current_user.id, _mass_ids(_mass_filters(request.form), today), action,
                                 _due_today(today))
    db.session.commit()
    message = {"letters": _("By letter: %(n)s invoices ticked.", n=changed),
               "emails": _("By email: %(n)s invoices ticked.", n=changed),
               "none": _("%(n)s invoices unticked.", n=changed)}[action]
    if not_due:
        message += " " + _("%(n)s not due today were left out.", n=not_due)
    if g.htmx:
        response = render("reminders/_mass_list.html", "reminders/_mass_list.html",
                          **_mass_context(today, notice=message, problems=problems))
        response.headers["HX-Trigger"] = COUNT_CHANGED
        return response
    flash(message, "success")
    for problem in problems:
        flash(problem, "error")
    return redirect(url_for("reminders.mass_page", **_filter_args(request.form)), code=303)


@bp.route("/mass/run", methods=["POST"])
@role_required("agent")
def mass_run():
    """One POST starts the run: the page's rows are kept, the selection checked by the rulebook, reminders made
    and their sending queued. The form's one-time token makes a second POST land on the first run."""
    first = once.result(db.session, request.form.get("token"))
    if first is not None:
        return _already_done(first)
    today = clock.today()
    problems = _save_page(_day_rules(today))
    db.session.commit()
    settings = settings_service.load(db.session)
    try:
        if problems:
            raise mass.SelectionError(_("The selection cannot be sent:"), problems)
        started = mass.start(db.session, _user(), request.form.get("token"), today,
                             _next_date_default(settings, today), enqueue=tasks.start_run,
                             run_url=lambda run_id: url_for("reminders.run", run_id=run_id))
    except once.AlreadyUsed:
        db.session.rollback()
        return _already_done(once.result(db.session, request.form.get("token")))
    except mass.SelectionError as exc:
        db.session.rollback()
        context = _mass_context(today, with_filters=True, run_error=str(exc.message), problems=exc.problems)
        return render("reminders/mass.html", "reminders/_mass_page.html", status=422, **context)
    except mass.QueueDown:
        current_app.logger.exception("mass run not queued")
        db.session.rollback()
        context = _mass_context(today, with_filters=True, run_error=_(
            "The background worker's queue cannot be reached: nothing was sent and nothing was saved; your "
            "selection is kept. Try again in a moment, or tell your administrator if it lasts."))
        return render("reminders/mass.html", "reminders/_mass_page.html", status=503, **context)
    db.session.expire_all()
    run = db.session.get_one(Run, started.run.id)
    target = url_for("reminders.run", run_id=run.id)
    for note in started.dropped:
        flash(note, "warning")
    if g.htmx:
        response = render("reminders/run.html", "reminders/_run.html", **_run_context(run))
        response.headers["HX-Push-Url"] = target
        return response
    return redirect(target, code=303)


# --- one reminder: cancel, posted, its letter --------------------------------------------------------------------

def _back(default: str) -> str:
    """The page the action came from (a local path only), else `default`."""
    return local_target(request.form.get("next"), default)


@bp.route("/<int:reminder_id>")
@role_required("viewer")
def show(reminder_id: int):
    """A reminder exactly as it left: recipients, subject, both bodies, attachment names, the letter's PDF."""
    reminder = db.get_or_404(Reminder, reminder_id)
    html = mailer.text_to_html(reminder.body, reminder.language) if reminder.channel == "email" else ""
    together = message_rows(db.session, reminder)  # one email for several invoices: all of them
    attachments = [dunning.attachment_name(r) for r in together] if reminder.channel == "email" else []
    return render("reminders/show.html", reminder=reminder, body_html=html, attachments=attachments,
                  together=[r for r in together if r.id != reminder.id], in_doubt=dunning.is_in_doubt(reminder))


@bp.route("/<int:reminder_id>/mark-sent", methods=["POST"])
@role_required("agent")
def mark_sent(reminder_id: int):
    """An email "in doubt" (its worker stopped while handing it over) that the mail server's log shows as
    delivered: a person marks it sent, with what they checked (audited)."""
    reminder = db.get_or_404(Reminder, reminder_id)
    reason = (request.form.get("reason") or "").strip()[:500]
    if not reason:
        flash(_("Say what you checked (the mail server's log) before marking it sent."), "error")
    elif dunning.mark_sent(db.session, reminder, reason, _user()):
        flash(_("Reminder %(id)s marked sent.", id=reminder.id), "success")
    db.session.commit()
    return redirect(url_for("reminders.show", reminder_id=reminder.id), code=303)


@bp.route("/<int:reminder_id>/cancel", methods=["POST"])
@role_required("agent")
def cancel(reminder_id: int):
    """Cancel a reminder not sent yet (pending) or a letter not posted yet, with a reason (audited)."""
    reminder = db.get_or_404(Reminder, reminder_id)
    target = _back(url_for("invoices.reminders", invoice_id=reminder.invoice_id))
    reason = (request.form.get("reason") or "").strip()[:500]
    if not reason:
        flash(_("Give the reason for cancelling reminder %(id)s.", id=reminder.id), "error")
    elif dunning.cancel(db.session, reminder, reason, _user()):
        flash(_("Reminder %(id)s on %(number)s cancelled.", id=reminder.id, number=reminder.invoice.number),
              "success")
    else:
        flash(_("Reminder %(id)s can no longer be cancelled: it is %(status)s.", id=reminder.id,
                status=reminder.status), "error")
    db.session.commit()
    return redirect(target, code=303)


@bp.route("/<int:reminder_id>/posted", methods=["POST"])
@role_required("agent")
def posted(reminder_id: int):
    reminder = db.get_or_404(Reminder, reminder_id)
    if dunning.mark_posted(db.session, [reminder.id], _user()):
        flash(_("Letter %(id)s on %(number)s marked posted.", id=reminder.id, number=reminder.invoice.number),
              "success")
    db.session.commit()
    return redirect(_back(url_for("invoices.reminders", invoice_id=reminder.invoice_id)), code=303)


@bp.route("/<int:reminder_id>/letter.pdf")
@role_required("viewer")
def letter(reminder_id: int):
    """A letter reminder's PDF: the saved copy, else built again from what the reminder kept."""
    reminder = db.get_or_404(Reminder, reminder_id)
    if reminder.channel != "letter" or reminder.status not in MADE_STATUSES:
        abort(404)
    pdf = content.letter_pdf(db.session, reminder)
    return send_file(io.BytesIO(pdf), mimetype="application/pdf",
                     download_name=f"letter-{reminder.id}-{reminder.invoice.number}.pdf")


# --- runs --------------------------------------------------------------------------------------------------------

def _run_or_404(run_id: int) -> Run:
    run = db.session.get(Run, run_id)
    if run is None or run.kind != "mass":
        abort(404)
    return run


def _run_context(run: Run) -> dict:
    counts = dict(db.session.execute(
        select(Reminder.channel, func.count()).where(Reminder.run_id == run.id, Reminder.status.in_(MADE_STATUSES))
        .group_by(Reminder.channel)).all())
    failures = db.session.scalars(
        select(Reminder).where(Reminder.run_id == run.id, Reminder.status == "failed")
        .options(selectinload(Reminder.invoice)).order_by(Reminder.id).limit(200)).all()
    finished = run.status in ("done", "failed")
    waiting = run.status == "waiting"
    to_post = db.session.scalar(select(func.count()).select_from(Reminder).where(
        Reminder.run_id == run.id, Reminder.channel == "letter", Reminder.status == "to_post"))
    return {"run": run, "finished": finished, "waiting": waiting, "emails_sent": counts.get("email", 0),
            "letters": counts.get("letter", 0), "to_post": to_post, "failures": failures,
            "percent": int(100 * run.done / run.total) if run.total else 100,
            "pdf_ready": bool(run.letters_pdf_path and resolve_file(run.letters_pdf_path))}


@bp.route("/runs/<int:run_id>")
@role_required("agent")
def run(run_id: int):
    context = _run_context(_run_or_404(run_id))
    response = render("reminders/run.html", "reminders/_run.html", **context)
    # the page follows the run without JavaScript too
    if not context["finished"] and not g.htmx:
        response.headers["Refresh"] = "10" if context["waiting"] else "2"
    return response


@bp.route("/runs/<int:run_id>/posted", methods=["POST"])
@role_required("agent")
def run_posted(run_id: int):
    """One click for the whole run: its printed letters are posted."""
    run = _run_or_404(run_id)
    count = dunning.mark_run_posted(db.session, run.id, _user())
    db.session.commit()
    flash(ngettext("%(num)d letter marked posted.", "%(num)d letters marked posted.", count), "success")
    return redirect(url_for("reminders.run", run_id=run.id), code=303)


@bp.route("/runs/<int:run_id>/letters.pdf")
@role_required("agent")
def run_letters(run_id: int):
    run = _run_or_404(run_id)
    path = resolve_file(run.letters_pdf_path) if run.letters_pdf_path else None
    if path is None:
        abort(404)
    return send_file(path, mimetype="application/pdf", download_name=f"letters-run-{run.id}-{run.run_date}.pdf")
