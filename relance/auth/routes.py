"""Log in and out, and the person's own account page (password change, "log out everywhere else").

Sessions: the identity kept in the session cookie and the remember-me cookie is "user id:session version"
(models.User.get_id); `load_user` accepts only the user's current version. `accounts.end_sessions` takes a new
version, which ends every session and remember-me cookie of the person at once: on logout, on "log out everywhere
else" (this browser is then logged in again under the new version), on a password change or reset, on deactivation.

Logout ends every session of the person, not only this browser's. With a client-side (signed cookie) session,
logging out only deletes the browser's cookies: a copy (a stolen cookie, a proxy's log) would still be valid.
Making that copy worthless needs a state on the server; the session version is that state, already read at each
request with the user (no other table, no extra query, no write per request, nothing to clean up). A server-side
session id per login would let logout end one browser only, at the cost of a sessions table written at each login,
read at each request and purged. For an office tool, "log out" meaning "end my sessions" is the safe reading; the
cost is that a person logged in on two computers logs in again on the other one.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from relance.auth import bp, known_browser
from relance.auth.forms import EmptyForm, LoginForm, PasswordChangeForm
from relance.auth.roles import role_required
from relance.extensions import db
from relance.extensions import login as login_manager
from relance.models import User
from relance.models.base import utcnow
from relance.redirects import local_target
from relance.services import accounts, audit, throttle
from relance.templating import render


@login_manager.user_loader
def load_user(identity: str):
    """The user of an identity "id:session_version" (User.get_id), when that version is still the user's and the
    user is active; anything else (an older version, an identity made before versions existed) is nobody."""
    user_id, _sep, version = str(identity).partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None  # deactivation and a new session version end open sessions
    return user


def _attempt(email: str) -> throttle.Attempt:
    return throttle.Attempt(email=email, address=request.remote_addr or "", browser=known_browser.browser_id(email))


def _wait_message(seconds: int) -> str:
    if seconds < 60:
        return ngettext("Too many failed logins. Wait %(num)d second before trying again.",
                        "Too many failed logins. Wait %(num)d seconds before trying again.", seconds)
    minutes = -(-seconds // 60)
    return ngettext("Too many failed logins. Wait %(num)d minute before trying again.",
                    "Too many failed logins. Wait %(num)d minutes before trying again.", minutes)


def stay_logged_in(user: User) -> None:
    """After a new session version: this browser keeps its session, and its remember-me cookie if it had one,
    under the new identity (every other copy of the old one stops working)."""
    remember = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
    login_user(user, remember=remember)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        now, attempt = utcnow(), _attempt(email)
        wait = throttle.wait_seconds(db.session, attempt, now)
        if wait:
            flash(_wait_message(wait), "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        # an unknown email costs one hash too (accounts.check_login): the answer's time tells nothing
        if not accounts.check_login(user, form.password.data or "") or user is None or not user.active:
            throttle.record_failure(db.session, attempt, now)
            db.session.commit()
            flash(_("Unknown email or wrong password."), "error")
            return render_template("auth/login.html", form=form), 401
        throttle.record_success(db.session, attempt)
        user.last_login_at = now
        db.session.commit()
        login_user(user, remember=form.remember.data)
        session.pop("language", None)
        response = redirect(local_target(request.args.get("next"), url_for("main.dashboard")))
        known_browser.remember(response, email, attempt.browser)
        return response
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    accounts.end_sessions(current_user._get_current_object())  # a copy of this session's cookies is now worthless
    db.session.commit()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account")
@role_required("viewer")
def account():
    return render("auth/account.html", action_form=EmptyForm())


@bp.route("/account/password", methods=["GET", "POST"])
@role_required("viewer")
def change_password():
    form = PasswordChangeForm()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            user = current_user._get_current_object()
            now, attempt = utcnow(), _attempt(user.email)
            wait = throttle.wait_seconds(db.session, attempt, now)  # guessing the current password is a login try
            if wait:
                form.current_password.errors = [*form.current_password.errors, _wait_message(wait)]
                status = 429
            else:
                try:
                    accounts.change_password(user, form.current_password.data or "", form.new_password.data or "")
                except accounts.PasswordRefused as exc:  # nothing was changed
                    if "current_password" in exc.errors:
                        throttle.record_failure(db.session, attempt, now)
                        db.session.commit()
                    for name, message in exc.errors.items():
                        form[name].errors.append(message)
                else:
                    throttle.record_success(db.session, attempt)
                    audit.record(db.session, user, "change_password", "user", user.id, None, {"email": user.email})
                    db.session.commit()
                    stay_logged_in(user)
                    flash(_("Password changed. Your sessions on other browsers and devices are logged out."), "success")
                    return redirect(url_for("auth.account"))
    return render("auth/password.html", form=form, status=status)


@bp.route("/account/sessions", methods=["POST"])
@role_required("viewer")
def end_other_sessions():
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    accounts.end_sessions(user)
    audit.record(db.session, user, "end_sessions", "user", user.id)
    db.session.commit()
    stay_logged_in(user)
    flash(_("You are logged out everywhere else: only this browser stays logged in."), "success")
    return redirect(url_for("auth.account"))
