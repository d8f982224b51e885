"""The WeChat official account's side of the portal: binding a follower to their portal account
through web OAuth (snsapi_base) from the account's menu."""
import secrets

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.blueprints.wechat import bp
from portal.extensions import db
from portal.forms import ConfirmForm
from portal.links import external_url
from portal.models import Channel, User, utcnow
from portal.notify import prefs
from portal.notify.channels import ChannelError, LogAdapter, channels_for

PENDING = "wechat_openid_pending"
STATE = "wechat_oauth_state"


def _account():
    adapter = channels_for(current_app._get_current_object()).get(Channel.WECHAT)
    return None if isinstance(adapter, LogAdapter) else adapter


@bp.route("/bind")
def bind():
    """Sends the browser (inside WeChat) to WeChat's silent authorisation; it comes back with a code."""
    account = _account()
    if account is None:
        flash(_("The WeChat official account is not set up yet."), "error")
        return redirect(url_for("account.index"))
    state = secrets.token_urlsafe(12)
    session[STATE] = state
    return redirect(account.authorize_url(external_url("wechat.oauth"), state))


@bp.route("/oauth")
def oauth():
    """WeChat's redirect back: the code names the follower; binding waits for their sign-in and
    their confirmation. The account's menu may link here through WeChat with state=menu."""
    account = _account()
    code = request.args.get("code", "")
    state = request.args.get("state", "")
    if account is None or not code or len(code) > 128 or (state != "menu" and state != session.pop(STATE, None)):
        flash(_("The WeChat link has expired. Open it again from the official account's menu."), "error")
        return redirect(url_for("account.index"))
    try:
        openid = account.openid_for_code(code)
    except ChannelError as exc:
        current_app.logger.warning("wechat oauth: %s", exc)
        flash(_("WeChat did not confirm who you are. Open the link again from the official account's menu."), "error")
        return redirect(url_for("account.index"))
    session[PENDING] = openid
    return redirect(url_for("wechat.confirm"))


@bp.route("/confirm", methods=["GET", "POST"])
@login_required
def confirm():
    openid = session.get(PENDING)
    if not openid:
        return redirect(url_for("account.index"))
    form = ConfirmForm()
    if form.validate_on_submit():
        now = utcnow()
        user = db.session.get(User, current_user.id)
        previous = db.session.query(User).filter(User.wechat_openid == openid, User.id != user.id).first()
        if previous is not None:  # the same WeChat moves to this account
            prefs.set_consent(previous, Channel.WECHAT, False, "WeChat bound to another account", now)
            previous.wechat_openid = None
            previous.wechat_bound_at = None
            db.session.flush()
        user.wechat_openid = openid
        user.wechat_bound_at = now
        prefs.set_consent(user, Channel.WECHAT, True, "WeChat binding", now)
        session.pop(PENDING, None)
        db.session.commit()
        flash(_("Your WeChat is bound: we will send you messages there."), "success")
        return redirect(url_for("account.index") + "#channels")
    return render_template("wechat/confirm.html", form=form)
