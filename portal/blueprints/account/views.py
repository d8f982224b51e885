"""A person's own settings: language, email copies, password."""
from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from portal.blueprints.account import bp
from portal.blueprints.account.forms import PasswordForm, PreferencesForm
from portal.extensions import db
from portal.models import EmailPref, User
from portal.services import auth


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    user = db.session.get(User, current_user.id)
    form = PreferencesForm(obj=user)
    if form.validate_on_submit():
        user.language = form.language.data
        user.email = (form.email.data or "").strip() or None
        user.email_pref = EmailPref(form.email_pref.data)
        session["lang"] = form.language.data
        db.session.commit()
        flash(_("Your preferences were saved."), "success")
        return redirect(url_for("account.index"))
    return render_template("account/index.html", form=form, password_form=PasswordForm(formdata=None))


@bp.route("/password", methods=["POST"])
@login_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append(_("The current password is wrong."))
        else:
            user = db.session.get(User, current_user.id)
            auth.change_password(user, form.new.data)  # every session of this user ends...
            session.clear()
            auth.start_session(user)  # ...and this browser gets a fresh one
            db.session.commit()
            session.permanent = True
            login_user(user)
            flash(_("Your password was changed. Other devices have been signed out."), "success")
            return redirect(url_for("account.index"))
    user = db.session.get(User, current_user.id)
    return render_template("account/index.html", form=PreferencesForm(obj=user, formdata=None), password_form=form), 200


