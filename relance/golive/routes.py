"""/admin/go-live (managers): the go-live step with the dry run of the first day of automatic sending and its
confirmation; /go-live/overdue (agents): the invoices already overdue on the go-live date, to bring into the automatic
schedule from a level (one or all). Everything is decided by services/golive.py."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from relance import clock, params
from relance.auth import role_required
from relance.extensions import db
from relance.golive import bp
from relance.golive.forms import GoLiveForm
from relance.pagination import paginate
from relance.services import golive
from relance.services import settings as settings_service
from relance.services.engine.levels import active_levels, delay_text
from relance.templating import render

OVERDUE_PER_PAGE = 50


def _language() -> str:
    return str(get_locale() or "fr")


def _level_choices() -> list[tuple[str, str]]:
    language = _language()
    return [(str(level.rank), _("Level %(rank)s: %(name)s (%(delay)s)", rank=level.rank, name=level.name(language),
                                delay=delay_text(level.delay)))
            for level in active_levels(db.session)]


@bp.route("/admin/go-live", methods=["GET", "POST"])
@role_required("manager")
def step():
    today = clock.today()
    settings = settings_service.load(db.session)
    form = GoLiveForm()
    form.automatic.choices = _level_choices()
    preview, seen, status = None, "", 200
    if request.method == "GET":
        values = golive.current(db.session, today)
        form.process(data={**values, "automatic": [str(rank) for rank in values["automatic"]],
                           "auto_hour": str(values["auto_hour"])})
    elif not form.validate():
        status = 422
    else:
        try:
            choice = golive.clean(db.session, form.values(), today)
        except golive.GoLiveError as refused:
            for name, message in refused.errors.items():
                if name in form:
                    form[name].errors = [*form[name].errors, str(message)]
            status = 422
        else:
            seen = golive.fingerprint(choice)
            if request.form.get("action") == "confirm" and request.form.get("seen") == seen:
                golive.confirm(db.session, choice, today, current_user)
                db.session.commit()
                flash(_("Relance is live. Automatic sending starts on %(day)s.",
                        day=golive.start_day(choice.go_live, today).isoformat()), "success")
                return redirect(url_for("golive.step"))
            if request.form.get("action") == "confirm":  # a field changed since the dry run: show it again
                flash(_("Something changed since the dry run: check it again, then confirm."), "warning")
            preview = golive.preview(db.session, choice, today, _language())
    return render("golive/step.html", form=form, preview=preview, seen=seen, done=golive.is_done(settings),
                  settings=settings, logo=settings.company_logo, status=status)


@bp.route("/go-live/overdue")
@role_required("agent")
def overdue():
    settings = settings_service.load(db.session)
    go_live = golive.go_live_day(settings)
    if not golive.is_done(settings) or go_live is None:
        return render("golive/overdue.html", pagination=None, go_live=None, levels=[], today=clock.today())
    pagination = paginate(golive.overdue_select(go_live), OVERDUE_PER_PAGE)
    return render("golive/overdue.html", pagination=pagination, go_live=go_live, today=clock.today(),
                  levels=[(level.rank, level.name(_language())) for level in golive.adoptable_ranks(db.session)])


@bp.route("/go-live/overdue/adopt", methods=["POST"])
@role_required("agent")
def adopt():
    raw_id = request.form.get("invoice_id")
    ids: list[int] | None = None
    if raw_id:
        invoice_id = params.valid_id(raw_id)
        if invoice_id is None:
            abort(400)
        ids = [invoice_id]
    elif request.form.get("all") != "1":
        abort(400)
    try:
        count = golive.adopt(db.session, ids, request.form.get("rank"), current_user)
    except golive.GoLiveError as refused:
        db.session.rollback()
        flash(str(refused.message), "error")
        return redirect(url_for("golive.overdue"))
    db.session.commit()
    flash(ngettext("%(num)d invoice brought into the automatic schedule.",
                   "%(num)d invoices brought into the automatic schedule.", count), "success")
    return redirect(url_for("golive.overdue"))
