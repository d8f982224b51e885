"""Sign in and out. Failed logins are limited per account and per address (shared via Redis)."""
from flask import redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.blueprints.auth import bp
from portal.blueprints.auth.forms import LoginForm
from portal.i18n import safe_next
from portal.services import auth


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        address = request.remote_addr
        if auth.is_locked_out(form.identifier.data, address):
            form.password.errors.append(_("Too many failed attempts. Please wait 15 minutes and try again."))
            return render_template("auth/login.html", form=form), 429
        user = auth.authenticate(form.identifier.data, form.password.data)
        if user is None:
            auth.record_failure(form.identifier.data, address)
            form.password.errors.append(_("Wrong phone number, username or password."))
            return render_template("auth/login.html", form=form), 200
        lang = session.get("lang")
        session.clear()  # a fresh session at login: nothing carried over from before
        auth.start_session(user)
        if lang and not user.language:
            user.language = lang
        session["lang"] = user.language or lang  # so that pages made without the database speak it too
        session.permanent = True
        login_user(user)
        return redirect(safe_next(form.next.data) or url_for("main.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        auth.end_session(current_user.session_token)
        logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
