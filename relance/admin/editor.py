"""Reminder texts editor: level x channel x language grid, edit with variables and a live preview, versions.
The grid shows the languages Relance ships texts in, the languages that have texts and those the customers read;
a manager adds another language (any Babel knows) from the grid and writes its texts, starting from the company
language's text.

Texts are data: they are validated and rendered by the engine (`placeholders`, `texts`), never run as templates.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, g, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from relance import clock, params, security
from relance.admin import bp
from relance.admin.levels import CHANNEL_LABELS
from relance.auth import role_required
from relance.extensions import db
from relance.models import CHANNELS, Customer, Invoice, Policy, Reminder, ReminderLevel, Template, User
from relance.redirects import local_target
from relance.search import any_contains
from relance.services import answers, audit
from relance.services import settings as settings_service
from relance.services.engine import readiness
from relance.services.engine.levels import level_list
from relance.services.engine.penalties import claim_for_invoice
from relance.services.letters import content, printing
from relance.services.sending import dunning
from relance.services.texts import languages, placeholders, wording
from relance.templating import render


def _target(level_id: int, channel: str, language: str) -> tuple[ReminderLevel, Template | None]:
    if channel not in CHANNELS or languages.normalize(language) != language:
        abort(404)
    level = db.get_or_404(ReminderLevel, level_id)
    template = db.session.scalar(select(Template).where(
        Template.level_id == level.id, Template.channel == channel, Template.language == language))
    return level, template


def _invoice(invoice_id) -> Invoice | None:
    """The invoice chosen for the preview (an id: a form's value, the query's `invoice`), else the most recently due
    open invoice."""
    invoice = params.lookup(Invoice, invoice_id)
    if invoice is not None:
        return invoice
    return db.session.scalar(select(Invoice).where(
        Invoice.is_open, Invoice.due_date.is_not(None)).order_by(Invoice.due_date.desc(), Invoice.id.desc()).limit(1))


def _preview(level: ReminderLevel, channel: str, language: str, subject: str, body: str,
             invoice: Invoice | None) -> dict:
    """The draft rendered for one invoice by the engine, with what would stop it from being saved."""
    try:
        placeholders.validate_template(subject, body)
        problems = {}
    except placeholders.TemplateError as exc:
        problems = exc.errors
    result: dict[str, Any] = {"problems": problems, "invoice": invoice, "channel": channel}
    if invoice is None or invoice.due_date is None:
        return result
    settings = settings_service.load(db.session)
    on = clock.today()
    claim = claim_for_invoice(db.session, invoice, level, on, settings)
    ctx = wording.context_for(db.session, invoice, level, on, settings, language, claim, current_user,
                              page_url=answers.preview_url(current_app.config["PUBLIC_URL"]))
    result.update(subject=placeholders.render_text(subject, ctx).replace("\n", " ").strip(),
                  html=placeholders.render_html(body, ctx), text=placeholders.render_text(body, ctx), on=on)
    return result


def _short_problems(problems: dict) -> dict:
    """Problem messages without the long list of valid variables (the page shows that list beside)."""
    short = {}
    for key, message in problems.items():
        unknown = placeholders.unknown_variables(request.form.get(key, ""))
        short[key] = (_("Unknown variable(s): %(names)s. Use the variables of the list.", names=", ".join(unknown))
                      if unknown else message)
    return short


def _grid_languages(rows: list[Template], added: str | None) -> list[str]:
    """The grid's columns: the shipped languages, then the other languages that have texts or customers, then the
    one the manager is adding (`?language=`)."""
    shown = list(wording.LANGUAGES)
    settings = settings_service.load(db.session)
    others = {t.language for t in rows} | set(readiness.read_languages(db.session, settings.default_language))
    if added:
        others.add(added)
    others = {code for code in others if code and code not in shown and languages.normalize(code) == code}
    return shown + sorted(others, key=lambda code: languages.language_label(code))


@bp.route("/templates")
@role_required("manager")
def templates():
    levels = level_list(db.session)  # the default policy's first, then the others' by name; each by rank
    rows = list(db.session.scalars(select(Template)))
    cells = {(t.level_id, t.channel, t.language): t for t in rows}
    raw = (request.args.get("language") or "").strip()
    added = languages.normalize(raw) if raw else None
    if raw and added is None:
        flash(_("%(value)s is not a language code: choose the language in the list.", value=raw[:20]), "error")
    shown = _grid_languages(rows, added)
    return render("admin/templates.html", levels=levels, cells=cells, channels=CHANNELS, languages=shown,
                  several=_several_policies(), channel_labels=CHANNEL_LABELS, shipped=wording.LANGUAGES, added=added,
                  language_choices=[(code, label) for code, label in languages.choices() if code not in shown])


@bp.route("/templates/<int:level_id>/<channel>/<language>", methods=["GET", "POST"])
@role_required("manager")
def edit_template(level_id: int, channel: str, language: str):
    level, template = _target(level_id, channel, language)
    status, errors = 200, {}
    if request.method == "POST":
        subject, body = request.form.get("subject", ""), request.form.get("body", "")
        if request.form.get("action") != "preview":
            before = {"subject": template.subject, "body": template.body, "version": template.version} \
                if template else None
            try:
                saved = wording.save_template(db.session, level, channel, language, subject, body, current_user)
            except placeholders.TemplateError as exc:
                db.session.rollback()
                errors, status = _short_problems(exc.errors), 422
            else:
                after = {"subject": saved.subject, "body": saved.body, "version": saved.version}
                if before is None or before["version"] != saved.version:
                    audit.record(db.session, current_user, "update" if before else "create", "template", saved.id,
                                 before, after)
                    db.session.commit()
                    flash(_("Text saved (version %(n)d).", n=saved.version), "success")
                else:
                    flash(_("Nothing was changed."), "success")
                return redirect(url_for("admin.edit_template", level_id=level.id, channel=channel,
                                        language=language, invoice=request.form.get("invoice_id") or None))
    else:
        subject = template.subject if template else ""
        body = template.body if template else ""
        if template is None:
            subject, body = _starting_text(level, channel, language)
    invoice = _invoice(request.form.get("invoice_id") if request.method == "POST" else params.id_arg("invoice"))
    preview = _preview(level, channel, language, subject, body, invoice)
    preview["problems"] = errors or (_short_problems(preview["problems"]) if request.method == "POST" else {})
    versions = template.versions if template else []
    ids = {v.user_id for v in versions if v.user_id}
    people = {u.id: u.name or u.email for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return render("admin/template_edit.html", status=status, level=level, channel=channel, language=language,
                  template=template, subject=subject, body=body, errors=errors, preview=preview,
                  variables=placeholders.catalogue(), versions=list(reversed(versions)), people=people,
                  channel_labels=CHANNEL_LABELS, has_default=wording.has_default(language),
                  policy_name=level.policy.name if _several_policies() else None,
                  company_language=settings_service.load(db.session).default_language)


def _several_policies() -> bool:
    """More than one policy: the texts' pages say which policy each level belongs to."""
    return len(db.session.scalars(select(Policy.id).limit(2)).all()) > 1


def _starting_text(level: ReminderLevel, channel: str, language: str) -> tuple[str, str]:
    """What the editor shows for a text that does not exist yet: the default text of that language, else (a language
    Relance ships no texts in) the company language's text, stored or default, for the manager to translate."""
    if wording.has_default(language):
        return wording.default_text(level, channel, language)
    company = settings_service.load(db.session).default_language
    stored = db.session.scalar(select(Template).where(
        Template.level_id == level.id, Template.channel == channel, Template.language == company))
    if stored is not None and stored.subject.strip() and stored.body.strip():
        return stored.subject, stored.body
    return wording.default_text(level, channel, company if wording.has_default(company) else "en")


@bp.route("/templates/<int:level_id>/<channel>/<language>/preview", methods=["POST"])
@role_required("manager")
def preview_template(level_id: int, channel: str, language: str):
    level, _template = _target(level_id, channel, language)
    subject, body = request.form.get("subject", ""), request.form.get("body", "")
    preview = _preview(level, channel, language, subject, body, _invoice(request.form.get("invoice_id")))
    preview["problems"] = _short_problems(preview["problems"])
    return render("admin/_template_preview.html", preview=preview, level=level, channel=channel, language=language)


@bp.route("/templates/<int:level_id>/<channel>/<language>/letter.pdf", methods=["POST"])
@role_required("manager")
def letter_preview(level_id: int, channel: str, language: str):
    """The draft as the letter the customer would receive (the engine's letter for an unsaved reminder)."""
    level, _template = _target(level_id, channel, language)
    subject, body = request.form.get("subject", ""), request.form.get("body", "")
    invoice = _invoice(request.form.get("invoice_id"))
    if invoice is None:
        abort(404)
    preview = _preview(level, "letter", language, subject, body, invoice)
    claim = claim_for_invoice(db.session, invoice, level, preview["on"], settings_service.load(db.session))
    draft = Reminder(  # never added to the session: only read by letter_data
        key="preview", invoice=invoice, level=level.rank, level_ref=level, formal_notice=level.formal_notice,
        level_names=dict(level.names or {}), channel="letter", user=current_user._get_current_object(),
        reminder_date=preview["on"], language=language, subject=preview["subject"], body=preview["text"],
        **dunning.claim_columns(claim))
    with db.session.no_autoflush:
        data = content.letter_data(db.session, draft, settings_service.load(db.session))
    if draft in db.session:
        db.session.expunge(draft)
    db.session.rollback()
    data.body_html = preview["html"]
    response = make_response(printing.render_letter(data))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = "inline; filename=preview.pdf"
    response.headers["Cache-Control"] = "no-store"
    return security.frame_by_this_site(response)  # shown in the editor's frame (formtarget="letter-frame")


@bp.route("/templates/<int:level_id>/<channel>/<language>/revert", methods=["POST"])
@role_required("manager")
def revert_template(level_id: int, channel: str, language: str):
    level, template = _target(level_id, channel, language)
    if not wording.has_default(language):  # Relance ships no text in that language: nothing to go back to
        abort(404)
    subject, body = wording.default_text(level, channel, language)
    before = {"subject": template.subject, "body": template.body, "version": template.version} if template else None
    saved = wording.save_template(db.session, level, channel, language, subject, body, current_user)
    if before is None or before["version"] != saved.version:
        audit.record(db.session, current_user, "revert", "template", saved.id, before,
                     {"subject": saved.subject, "body": saved.body, "version": saved.version})
    db.session.commit()
    flash(_("The default text is back (version %(n)d).", n=saved.version), "success")
    return redirect(url_for("admin.edit_template", level_id=level.id, channel=channel, language=language))


@bp.route("/templates/invoices")
@role_required("manager")
def invoice_search():
    """Invoices matching a number or a customer name, for the preview (htmx fragment or page)."""
    q = (request.args.get("q") or "").strip()
    query = select(Invoice).join(Invoice.customer).options(joinedload(Invoice.customer)).where(
        Invoice.kind == "invoice", Invoice.due_date.is_not(None))
    if q:
        query = query.where(any_contains((Invoice.number, Customer.name), q))
    found = db.session.scalars(query.order_by(Invoice.due_date.desc()).limit(8)).all()
    back = local_target(request.args.get("back"), "")
    if not back.startswith(url_for("admin.templates") + "/"):  # a text's editor
        back = ""
    return render("admin/_invoice_results.html", "admin/_invoice_results.html", found=found, q=q, back=back,
                  htmx=g.get("htmx"))
