"""Users and API tokens (admins only). The last active admin can never be deactivated or demoted."""

from __future__ import annotations

import secrets

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from relance import params
from relance.admin import bp
from relance.admin.user_forms import TokenForm, UserForm
from relance.auth import role_required
from relance.auth.forms import EmptyForm
from relance.auth.routes import stay_logged_in
from relance.extensions import db
from relance.forms import choices
from relance.models import ApiToken, User
from relance.models.base import utcnow
from relance.services import accounts, audit
from relance.templating import render

USER_FIELDS = ("email", "name", "role", "language", "signature", "active")


def _user_dict(user: User) -> dict:
    return {key: getattr(user, key) for key in USER_FIELDS}


def leaves_no_admin(user: User, role: str, active: bool) -> bool:
    """Would giving `user` this role/state leave the company without an active admin?

    The other active admins are read with a row lock (PostgreSQL), so two admins demoting each other at the
    same moment cannot both succeed.
    """
    if role == "admin" and active:
        return False
    if not (user.role == "admin" and user.active):
        return False
    others = db.session.scalars(
        select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id).with_for_update()
    ).all()
    return not others


def _email_taken(email: str, user_id: int | None) -> bool:
    query = select(User.id).where(func.lower(User.email) == email.lower())
    if user_id:
        query = query.where(User.id != user_id)
    return db.session.scalar(query) is not None


@bp.route("/users")
@role_required("admin")
def users():
    rows = db.session.scalars(select(User).order_by(User.active.desc(), User.name, User.email)).all()
    return render("admin/users.html", rows=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def new_user():
    form = UserForm()
    status = 200
    if request.method == "GET":
        form.role.data = "agent"
    elif form.validate_on_submit():
        if not form.password.data:
            form.password.errors = [*form.password.errors, _("Enter a password of at least 12 characters.")]
        elif _email_taken(form.email.data or "", None):
            form.email.errors = [*form.email.errors, _("A user with this email already exists.")]
        else:
            user = User(email=(form.email.data or "").lower(), name=(form.name.data or "").strip(), role=form.role.data,
                        language=form.language.data or None, signature=form.signature.data or "",
                        active=bool(form.active.data))
            user.set_password(form.password.data)
            db.session.add(user)
            db.session.flush()
            audit.record(db.session, current_user, "create", "user", user.id, None, _user_dict(user))
            db.session.commit()
            flash(_("User %(name)s created.", name=user.name), "success")
            return redirect(url_for("admin.users"))
        status = 422
    else:
        status = 422
    return render("admin/user_form.html", form=form, user=None, status=status)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def edit_user(user_id: int):
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user if request.method == "GET" else None)
    del form.password
    status = 200
    if request.method == "GET":
        form.language.data = user.language or ""
    elif form.validate_on_submit():
        active = bool(form.active.data)
        if _email_taken(form.email.data or "", user.id):
            form.email.errors = [*form.email.errors, _("A user with this email already exists.")]
        elif leaves_no_admin(user, form.role.data, active):
            field = form.role if form.role.data != "admin" else form.active
            field.errors = [*field.errors, _("%(name)s is the last active admin: make someone else admin first.",
                                             name=user.name or user.email)]
        else:
            before = _user_dict(user)
            if user.active and not active:
                accounts.end_sessions(user)  # a deactivated user's sessions end, and stay ended if reactivated
            user.email, user.name = (form.email.data or "").lower(), (form.name.data or "").strip()
            user.role, user.language = form.role.data, form.language.data or None
            user.signature, user.active = form.signature.data or "", active
            new = audit.record_changes(db.session, current_user, "update", "user", user.id, before, _user_dict(user))
            db.session.commit()
            flash(_("User %(name)s saved.", name=user.name) if new else _("Nothing was changed."), "success")
            return redirect(url_for("admin.users"))
        status = 422
    else:
        status = 422
    return render("admin/user_form.html", form=form, user=user, action_form=EmptyForm(), status=status)


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@role_required("admin")
def reset_password(user_id: int):
    user = db.get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    password = secrets.token_urlsafe(9)
    accounts.set_password(user, password)  # every session and remember-me cookie of the user ends
    audit.record(db.session, current_user, "reset_password", "user", user.id, None, {"email": user.email})
    db.session.commit()
    if user.id == current_user.id:
        stay_logged_in(user)  # an admin resetting their own password keeps this browser's session
    response = render("admin/secret.html", title=_("New password for %(name)s", name=user.name or user.email),
                      secret=password, back=url_for("admin.edit_user", user_id=user.id),
                      explain=_("Give this password to %(name)s. It is shown only once: copy it now.",
                                name=user.name or user.email))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- API tokens ---------------------------------------------------------------------------------------

def _token_dict(token: ApiToken) -> dict:
    return {"name": token.name, "user": token.user.email, "prefix": token.prefix}


def _token_form() -> TokenForm:
    form = TokenForm()
    people = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.email)).all()
    form.user_id.choices = choices((str(u.id), f"{u.name} <{u.email}> ({u.role})") for u in people)
    if not form.user_id.data:
        form.user_id.data = str(current_user.id)
    return form


@bp.route("/tokens", methods=["GET", "POST"])
@role_required("admin")
def tokens():
    form = _token_form()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            owner = params.lookup(User, form.user_id.data)
            if owner is None or not owner.active:
                form.user_id.errors = [*form.user_id.errors, _("Choose an active user from the list.")]
            else:
                token, clear = ApiToken.issue(owner, (form.name.data or "").strip())
                db.session.add(token)
                db.session.flush()
                audit.record(db.session, current_user, "create", "token", token.id, None, _token_dict(token))
                db.session.commit()
                response = render(
                    "admin/secret.html", title=_("API token %(name)s", name=token.name), secret=clear,
                    back=url_for("admin.tokens"),
                    explain=_("Copy this token now and paste it into the other software: it is shown only once. "
                              "Relance keeps only a fingerprint of it."))
                response.headers["Cache-Control"] = "no-store"
                return response
        status = 422
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())).all()
    return render("admin/tokens.html", form=form, rows=rows, action_form=EmptyForm(), status=status)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@role_required("admin")
def revoke_token(token_id: int):
    token = db.get_or_404(ApiToken, token_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(db.session, current_user, "revoke", "token", token.id, _token_dict(token), None)
        db.session.commit()
        flash(_("Token %(name)s revoked: it no longer works.", name=token.name), "success")
    return redirect(url_for("admin.tokens"))
