"""A person's own settings: language, email, how they are told (channels, consent, WeChat), password."""
from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import select

from portal.blueprints.account import bp
from portal.blueprints.account.forms import ChannelsForm, ConsentForm, PasswordForm, PreferencesForm
from portal.extensions import db
from portal.forms import ConfirmForm
from portal.models import Channel, ConsentRecord, User, utcnow
from portal.notify import kinds, phones, prefs
from portal.permissions import login_required
from portal.services import auth


def _page(user, form=None, channels_form=None, password_form=None, status=200):
    user_prefs = prefs.load([user.id]).get(user.id)
    if channels_form is None:
        channels_form = ChannelsForm(formdata=None, data={c: [ch.value for ch in prefs.chosen(user_prefs, c)] for c in kinds.RESIDENT_CATEGORIES})
    consents = db.session.scalars(
        select(ConsentRecord).where(ConsentRecord.user_id == user.id).order_by(ConsentRecord.id.desc()).limit(10)
    ).all()
    return render_template(
        "account/index.html", user=user, form=form or PreferencesForm(obj=user, formdata=None), channels_form=channels_form,
        password_form=password_form or PasswordForm(formdata=None), consent_form=ConsentForm(formdata=None), confirm=ConfirmForm(formdata=None), consents=consents,
        reachable=prefs.reachable(user), categories=kinds.RESIDENT_CATEGORIES, mobile=phones.normalize(user.phone),
    ), status


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    user = db.session.get(User, current_user.id)
    form = PreferencesForm(obj=user)
    if form.validate_on_submit():
        user.language = form.language.data
        user.email = (form.email.data or "").strip() or None
        session["lang"] = form.language.data
        flash(_("Your preferences were saved."), "success")
        return redirect(url_for("account.index"))
    return _page(user, form=form, status=422 if form.errors else 200)


@bp.route("/channels", methods=["POST"])
@login_required
def channels():
    user = db.session.get(User, current_user.id)
    form = ChannelsForm()
    if not form.validate_on_submit():
        return _page(user, channels_form=form, status=422)
    prefs.save(user, {c: [Channel(v) for v in getattr(form, c).data or []] for c in kinds.RESIDENT_CATEGORIES})
    flash(_("How we tell you was saved."), "success")
    return redirect(url_for("account.index") + "#channels")


@bp.route("/consent", methods=["POST"])
@login_required
def consent():
    """Consent to SMS or WeChat messages, given or withdrawn here, recorded with time and source (PIPL)."""
    form = ConsentForm()
    if not form.validate_on_submit():
        flash(_("The request could not be understood. Please check what you entered."), "error")
        return redirect(url_for("account.index"))
    user = db.session.get(User, current_user.id)
    granted = form.granted.data == "1"
    prefs.set_consent(user, Channel(form.channel.data), granted, "account page", utcnow())
    if granted:
        flash(_("Thank you: we may now send you messages on this channel."), "success")
    else:
        flash(_("Withdrawn: we no longer send you messages on this channel. Emergencies still reach you in the portal."), "success")
    return redirect(url_for("account.index") + "#channels")


@bp.route("/wechat/unbind", methods=["POST"])
@login_required
def wechat_unbind():
    if not ConfirmForm().validate_on_submit():
        flash(_("The request could not be understood. Please check what you entered."), "error")
        return redirect(url_for("account.index"))
    user = db.session.get(User, current_user.id)
    prefs.set_consent(user, Channel.WECHAT, False, "WeChat unbound", utcnow())
    user.wechat_openid = None
    user.wechat_bound_at = None
    flash(_("Your WeChat is no longer bound to this account."), "success")
    return redirect(url_for("account.index") + "#channels")


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
            session.permanent = True
            login_user(user)
            flash(_("Your password was changed. Other devices have been signed out."), "success")
            return redirect(url_for("account.index"))
    user = db.session.get(User, current_user.id)
    return _page(user, password_form=form)
