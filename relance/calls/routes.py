"""The calls to make and their outcomes: one card per customer (the ones the agent follows first), recorded by a
plain POST (the page again) or an htmx one (the customer's card swapped for what was recorded)."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from relance import clock
from relance.auth import role_required
from relance.calls import bp
from relance.calls.forms import OutcomeForm
from relance.extensions import db
from relance.models import Customer, User
from relance.pagination import paginate
from relance.services import calls
from relance.services import settings as settings_service
from relance.templating import render

PER_PAGE = 20


def _user() -> User:
    return current_user._get_current_object()


def _form(customer_id: int, card: calls.CustomerCalls | None = None, formdata=None) -> OutcomeForm:
    form = OutcomeForm(formdata=formdata, prefix=f"c{customer_id}")
    if card is not None and formdata is None:
        form.calls.data = card.call_ids
    return form


@bp.route("/")
@role_required("agent")
def index():
    pagination = paginate(calls.due_customers(current_user.id), PER_PAGE)
    cards = calls.customer_calls(db.session, pagination.items, current_user.id)
    forms = {card.customer.id: _form(card.customer.id, card) for card in cards}
    return render("calls/index.html", pagination=pagination, cards=cards, forms=forms, today=clock.today(),
                  outcome_labels=calls.OUTCOME_LABELS)


@bp.route("/<int:customer_id>", methods=["POST"])
@role_required("agent")
def record(customer_id: int):
    customer = db.get_or_404(Customer, customer_id)
    form = _form(customer_id, formdata=request.form)
    ids = calls.parse_ids(form.calls.data)
    problem = None
    if form.validate():
        try:
            made = calls.record_outcome(
                db.session, customer_id, ids, form.outcome.data or "", note=form.note.data or "",
                promise_date=form.promise_date.data, dispute_reason=form.dispute_reason.data or "",
                user=_user(), now=clock.utcnow(), settings=settings_service.load(db.session))
        except calls.CallError as exc:
            db.session.rollback()
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None:
                field.errors = [*field.errors, str(exc.message)]
            else:
                problem = str(exc.message)
        else:
            db.session.commit()
            label = calls.OUTCOME_LABELS[made[0].outcome]
            if g.get("htmx"):
                return render("calls/_done.html", customer=customer, made=made, label=label)
            flash(_("Call to %(customer)s recorded: %(outcome)s.", customer=customer.name, outcome=label), "success")
            return redirect(url_for("calls.index"), 303)
    # refused: the card again with the messages (htmx: just the card; else the page with the card's form kept)
    if problem and not g.get("htmx"):
        flash(problem, "error")
        return redirect(url_for("calls.index"), 303)
    card = next(iter(calls.customer_calls(db.session, [customer], current_user.id)))
    card.calls = [call for call in card.calls if call.id in set(ids)] or card.calls
    if g.get("htmx"):
        return render("calls/_card.html", status=422, card=card, form=form, problem=problem, today=clock.today(),
                      outcome_labels=calls.OUTCOME_LABELS)
    pagination = paginate(calls.due_customers(current_user.id), PER_PAGE, page=1)
    cards = calls.customer_calls(db.session, pagination.items, current_user.id)
    forms = {c.customer.id: (form if c.customer.id == customer_id else _form(c.customer.id, c)) for c in cards}
    if customer_id not in forms:
        cards.insert(0, card)
        forms[customer_id] = form
    return render("calls/index.html", status=422, pagination=pagination, cards=cards, forms=forms,
                  today=clock.today(), outcome_labels=calls.OUTCOME_LABELS)

