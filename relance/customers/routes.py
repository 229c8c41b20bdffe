"""Customers: the list (active search, filters, sort, pages) and the customer page with its tabs."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import selectinload

from relance import clock, params
from relance.auth import role_required
from relance.customers import bp
from relance.customers.forms import ContactForm, CustomerForm, choices
from relance.extensions import db
from relance.forms import customer_language_choices
from relance.invoices.queries import due_by_currency, due_by_customer
from relance.models import Answer, Contact, Customer, CustomerLink, Invoice, Policy, Reminder, User
from relance.pagination import paginate
from relance.search import any_contains
from relance.services import answers, audit, credit_notes, policies
from relance.templating import render

PER_PAGE = 50
SORTS = {
    "name": (Customer.name.asc(), Customer.id.asc()),
    "-name": (Customer.name.desc(), Customer.id.desc()),
    "code": (Customer.code.asc(),),
    "-created": (Customer.created_at.desc(), Customer.id.desc()),
}
TABS = ("details", "invoices", "reminders")


@bp.route("/")
@role_required("viewer")
def index():
    args = request.args
    q = args.get("q", "").strip()
    sort = args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    filters = {name: args.get(name) == "1" for name in ("unpaid", "excluded", "paused")}
    stmt = select(Customer)
    if q:
        stmt = stmt.where(any_contains((Customer.name, Customer.code, Customer.email, Customer.city), q))
    if filters["unpaid"]:
        stmt = stmt.where(exists().where(Invoice.customer_id == Customer.id, Invoice.is_open))
    if filters["excluded"]:
        stmt = stmt.where(Customer.no_auto_reminders.is_(True))
    if filters["paused"]:
        stmt = stmt.where(Customer.paused_until >= clock.today())
    policy_id = params.id_arg("policy")
    if policy_id is not None:
        stmt = stmt.where(_follows(policy_id))
    stmt = stmt.order_by(*SORTS[sort])
    pagination = paginate(stmt, PER_PAGE)
    everyone = policies.all_policies(db.session)
    return render(
        "customers/index.html", "customers/_rows.html",
        pagination=pagination, q=q, sort=sort, filters=filters, today=clock.today(),
        due=due_by_customer([c.id for c in pagination.items]),
        policies=everyone if len(everyone) > 1 else [], policy_id=policy_id,
    )


def _follows(policy_id: int):
    """SQL: the customer follows that policy (the default one: chose none, or chose it)."""
    default = policies.default_policy(db.session)
    if default is not None and default.id == policy_id:
        return Customer.policy_id.is_(None) | (Customer.policy_id == policy_id)
    return Customer.policy_id == policy_id


def _customer_or_404(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        abort(404)
    return customer


def _user_choices() -> list[tuple[int, str]]:
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.email))
    return [(u.id, u.name or u.email) for u in users]


def _customer_form(customer: Customer | None = None) -> CustomerForm:
    form = CustomerForm(obj=customer) if customer is not None else CustomerForm()
    form.sales_reps.choices = choices(_user_choices())
    form.language.choices = customer_language_choices(keep=customer.language if customer is not None else None)
    default = policies.default_policy(db.session)
    form.reminder_policy.choices = policy_choices(default)
    if customer is not None and not form.is_submitted():
        form.sales_reps.data = [u.id for u in customer.sales_reps]
        form.group_reminders.data = GROUPING_CHOICE[customer.group_reminders]
        chosen = customer.policy_id
        form.reminder_policy.data = "" if chosen is None or (default is not None and chosen == default.id) \
            else str(chosen)
    return form


def policy_choices(default: Policy | None):
    """The form's policies: the default one first, as "" (stored as NULL: the customer follows whichever policy is
    the default), then the others by name."""
    others = [(str(p.id), p.name) for p in policies.all_policies(db.session) if not p.is_default]
    first = _("%(name)s (default)", name=default.name) if default is not None else _("The default policy")
    return choices([("", first), *others])


def _chosen_policy(form: CustomerForm) -> int | None:
    """The policy id the form chose; None for the default policy."""
    value = params.valid_id(form.reminder_policy.data) if form.reminder_policy.data else None
    policy = db.session.get(Policy, value) if value is not None else None
    return None if policy is None or policy.is_default else policy.id


def policy_label(customer: Customer) -> str | None:
    """The name of the policy a customer follows (None in a database without policies yet)."""
    if customer.policy_id is not None:
        policy = db.session.get(Policy, customer.policy_id)
        if policy is not None:
            return policy.name
    default = policies.default_policy(db.session)
    return default.name if default is not None else None


def _code_taken(code: str, customer: Customer | None) -> bool:
    other = db.session.scalar(select(Customer.id).where(Customer.code == code))
    return other is not None and (customer is None or other != customer.id)


AUDITED = ("code", "name", "email", "phone", "address", "postcode", "city", "country", "language", "kind",
           "direct_debit", "no_auto_reminders", "group_reminders", "paused_until", "pause_reason")
GROUPING_CHOICE = {None: "", True: "yes", False: "no"}  # Customer.group_reminders <-> the form's choice
CONTACT_AUDITED = ("customer_id", "first_name", "name", "email", "phone", "role")


def _snapshot(customer: Customer) -> dict:
    return {**audit.snapshot(customer, AUDITED), "sales_reps": sorted(u.email for u in customer.sales_reps),
            "policy": policy_label(customer)}


def _apply(form: CustomerForm, customer: Customer) -> None:
    customer.code = (form.code.data or "").strip()
    customer.name = (form.name.data or "").strip()
    customer.email = (form.email.data or "").strip()
    customer.phone = (form.phone.data or "").strip()
    customer.address = (form.address.data or "").strip()
    customer.postcode = (form.postcode.data or "").strip()
    customer.city = (form.city.data or "").strip()
    customer.country = (form.country.data or "").strip().upper()
    customer.language = form.language.data
    customer.kind = form.kind.data
    customer.direct_debit = form.direct_debit.data
    customer.no_auto_reminders = form.no_auto_reminders.data
    customer.group_reminders = {"yes": True, "no": False}.get(form.group_reminders.data or "")
    if form.reminder_policy.raw_data:  # posted (the field is shown once there are several policies)
        customer.policy_id = _chosen_policy(form)
    customer.paused_until = form.paused_until.data
    customer.pause_reason = (form.pause_reason.data or "").strip() if form.paused_until.data else ""
    customer.sales_reps = list(db.session.scalars(select(User).where(User.id.in_(form.sales_reps.data or []))))


@bp.route("/new", methods=["GET", "POST"])
@role_required("agent")
def new():
    form = _customer_form()
    if form.validate_on_submit():
        if _code_taken((form.code.data or "").strip(), None):
            form.code.errors = [*form.code.errors, _("A customer with this code already exists.")]
        else:
            customer = Customer()
            _apply(form, customer)
            db.session.add(customer)
            db.session.flush()
            audit.record(db.session, current_user, "create", "customer", customer.id, None, _snapshot(customer))
            db.session.commit()
            flash(_("Customer %(name)s created.", name=customer.name), "success")
            return redirect(url_for("customers.show", customer_id=customer.id))
    status = 422 if form.is_submitted() else 200
    return render("customers/new.html", form=form, status=status)


def _tab_context(customer: Customer, tab: str) -> dict:
    context: dict = {"customer": customer, "tab": tab, "today": clock.today(),
                     "policy_name": policy_label(customer), "several_policies": _several_policies()}
    context["due"] = due_by_currency(Invoice.customer_id == customer.id)
    if tab == "invoices":
        context["invoices"] = db.session.scalars(
            select(Invoice)
            .where(Invoice.customer_id == customer.id)
            .order_by(case((Invoice.is_open, 0), else_=1), Invoice.due_date.is_(None), Invoice.due_date,
                      Invoice.id).options(selectinload(Invoice.payments))
        ).all()
        context["credit_notes"] = credit_notes.unallocated(db.session, customer.id)
        context["open_invoices"] = [i for i in context["invoices"] if i.is_open]
    elif tab == "reminders":
        context["reminders"] = paginate(
            select(Reminder).join(Reminder.invoice)
            .where(Invoice.customer_id == customer.id)
            .options(selectinload(Reminder.invoice).selectinload(Invoice.customer), selectinload(Reminder.user))
            .order_by(Reminder.reminder_date.desc(), Reminder.id.desc()),
            PER_PAGE,
        )
    return context


def _several_policies() -> bool:
    return len(db.session.scalars(select(Policy.id).limit(2)).all()) > 1


def _show(customer: Customer, tab: str, form=None, contact_form=None, status: int = 200):
    context = _tab_context(customer, tab)
    if tab == "details":
        context["answers"] = db.session.scalars(
            select(Answer).where(Answer.customer_id == customer.id)
            .options(selectinload(Answer.invoice), selectinload(Answer.handled_by))
            .order_by(Answer.created_at.desc(), Answer.id.desc()).limit(20)).all()
        context["links"] = db.session.scalar(select(func.count(CustomerLink.id)).where(
            CustomerLink.customer_id == customer.id, CustomerLink.revoked_at.is_(None),
            CustomerLink.expires_at > clock.utcnow()))
    if tab == "details" and current_user.has_role("agent"):
        context["form"] = form or _customer_form(customer)
        context["contact_form"] = contact_form or ContactForm(formdata=None)
    return render("customers/show.html", "customers/_tabs.html", status=status, **context)


@bp.route("/<int:customer_id>")
@role_required("viewer")
def show(customer_id: int):
    return _show(_customer_or_404(customer_id), "details")


@bp.route("/<int:customer_id>/invoices")
@role_required("viewer")
def invoices(customer_id: int):
    return _show(_customer_or_404(customer_id), "invoices")


@bp.route("/<int:customer_id>/reminders")
@role_required("viewer")
def reminders(customer_id: int):
    return _show(_customer_or_404(customer_id), "reminders")


@bp.route("/<int:customer_id>/links/revoke", methods=["POST"])
@role_required("agent")
def revoke_links(customer_id: int):
    """End every link to the customer's page (a link forwarded to the wrong person): their next reminder carries a
    new one."""
    customer = _customer_or_404(customer_id)
    count = answers.revoke_links(db.session, customer.id, clock.utcnow(), current_user)
    db.session.commit()
    flash(ngettext("%(num)d link to the customer's page revoked.", "%(num)d links to the customer's page revoked.",
                   count), "success")
    return redirect(url_for("customers.show", customer_id=customer.id), 303)


@bp.route("/<int:customer_id>/edit", methods=["POST"])
@role_required("agent")
def update(customer_id: int):
    customer = _customer_or_404(customer_id)
    form = _customer_form(customer)
    if form.validate_on_submit():
        if _code_taken((form.code.data or "").strip(), customer):
            form.code.errors = [*form.code.errors, _("A customer with this code already exists.")]
        else:
            before = _snapshot(customer)
            _apply(form, customer)
            audit.record_changes(db.session, current_user, "update", "customer", customer.id, before,
                                 _snapshot(customer))
            db.session.commit()
            flash(_("Customer %(name)s saved.", name=customer.name), "success")
            return redirect(url_for("customers.show", customer_id=customer.id))
    return _show(customer, "details", form=form, status=422)


@bp.route("/<int:customer_id>/contacts", methods=["POST"])
@role_required("agent")
def add_contact(customer_id: int):
    customer = _customer_or_404(customer_id)
    form = ContactForm()
    if form.validate_on_submit():
        contact = Contact()
        form.populate_obj(contact)
        customer.contacts.append(contact)
        db.session.flush()
        audit.record(db.session, current_user, "create", "contact", contact.id, None,
                     audit.snapshot(contact, CONTACT_AUDITED))
        db.session.commit()
        flash(_("Contact %(name)s added.", name=contact.full_name), "success")
        return redirect(url_for("customers.show", customer_id=customer.id) + "#contacts")
    return _show(customer, "details", contact_form=form, status=422)


def _contact_or_404(customer: Customer, contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.customer_id != customer.id:
        abort(404)
    return contact


@bp.route("/<int:customer_id>/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@role_required("agent")
def edit_contact(customer_id: int, contact_id: int):
    customer = _customer_or_404(customer_id)
    contact = _contact_or_404(customer, contact_id)
    form = ContactForm(obj=contact)
    if form.validate_on_submit():
        before = audit.snapshot(contact, CONTACT_AUDITED)
        form.populate_obj(contact)
        audit.record_changes(db.session, current_user, "update", "contact", contact.id, before,
                             audit.snapshot(contact, CONTACT_AUDITED))
        db.session.commit()
        flash(_("Contact %(name)s saved.", name=contact.full_name), "success")
        return redirect(url_for("customers.show", customer_id=customer.id) + "#contacts")
    status = 422 if form.is_submitted() else 200
    return render("customers/contact_edit.html", customer=customer, contact=contact, form=form, status=status)


@bp.route("/<int:customer_id>/contacts/<int:contact_id>/delete", methods=["POST"])
@role_required("agent")
def delete_contact(customer_id: int, contact_id: int):
    customer = _customer_or_404(customer_id)
    contact = _contact_or_404(customer, contact_id)
    # Invoices naming this contact lose it (the same on SQLite without foreign keys as on PostgreSQL).
    for column in (Invoice.billing_contact_id, Invoice.followup_contact_id):
        db.session.execute(sa.update(Invoice).where(column == contact.id).values({column: None}))
    name = contact.full_name
    audit.record(db.session, current_user, "delete", "contact", contact.id,
                 audit.snapshot(contact, CONTACT_AUDITED), None)
    db.session.delete(contact)
    db.session.commit()
    flash(_("Contact %(name)s removed.", name=name), "success")
    return redirect(url_for("customers.show", customer_id=customer.id) + "#contacts")
