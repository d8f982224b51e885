"""The WeChat official account's side of the portal: binding a follower to their portal account
through web OAuth (snsapi_base) from the account's menu, and the callback WeChat posts followers'
messages and events to (checked, stored, answered at once; the worker does the rest)."""
import secrets
import time

from flask import Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.wechat import bp
from portal.database import insert_ignore
from portal.extensions import csrf, db
from portal.forms import ConfirmForm
from portal.inputs import without_controls
from portal.links import external_url
from portal.models import Channel, InboundEvent, User, utcnow
from portal.notify import prefs
from portal.notify.channels import ChannelError, LogAdapter, channels_for
from portal.permissions import login_required
from portal.services import settings

PENDING = "wechat_openid_pending"
STATE = "wechat_oauth_state"


def _account():
    adapter = channels_for(current_app._get_current_object()).get(Channel.WECHAT)
    return None if isinstance(adapter, LogAdapter) else adapter


MAX_BODY = 1024 * 1024
FRESH_SECONDS = 300  # a signed request older than this is a replay


def _payload(message):
    """What the worker needs of a parsed message or event, as plain JSON."""
    data = {"type": message.type, "source": message.source, "id": str(getattr(message, "id", "") or ""), "time": message.time}
    for name in ("content", "image", "media_id", "recognition", "label", "location_x", "location_y", "scale", "event", "key"):
        value = getattr(message, name, None)
        if value is not None and not callable(value):
            data[name] = value if isinstance(value, (str, int, float)) else str(value)
    return data


def _external_id(message, data):
    if data.get("id") and data["id"] != "0":
        return f"msg:{data['id']}"
    return f"event:{message.source}:{message.time}:{data.get('event', '')}:{data.get('key', '')}"


@bp.route("/callback", methods=["GET", "POST"])
@csrf.exempt
def callback():
    """WeChat's server check (GET, echoing echostr) and its messages (POST, plaintext or safe mode).
    Every request's signature is checked; one older than five minutes is refused as a replay."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring
    from wechatpy import parse_message
    from wechatpy.crypto import WeChatCrypto
    from wechatpy.exceptions import InvalidSignatureException
    from wechatpy.replies import TextReply, create_reply
    from wechatpy.utils import check_signature

    account = _account()
    if account is None or not account.token:
        abort(404)
    args = request.args
    signature, timestamp, nonce = args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    try:
        check_signature(account.token, signature, timestamp, nonce)
    except InvalidSignatureException:
        abort(403)
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > FRESH_SECONDS:
        abort(403)
    if request.method == "GET":
        return Response(args.get("echostr", ""), mimetype="text/plain")
    if (request.content_length or 0) > MAX_BODY:
        abort(413)
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        abort(413)
    crypto = WeChatCrypto(account.token, account.aes_key, account.appid) if args.get("encrypt_type") == "aes" and account.aes_key else None
    try:
        raw = without_controls(raw)  # what a follower typed is kept, without control characters (portal/inputs.py)
        fromstring(raw)  # refuses DTDs and entities (XXE, entity bombs) before anything else reads it
        if crypto is not None:
            raw = without_controls(crypto.decrypt_message(raw, args.get("msg_signature", ""), timestamp, nonce))
            fromstring(raw)
        message = parse_message(raw)
    except InvalidSignatureException:
        abort(403)
    except (DefusedXmlException, ValueError, SyntaxError, KeyError, TypeError) as exc:
        current_app.logger.warning("wechat callback: refused %s", type(exc).__name__)
        abort(400)
    data = _payload(message)
    now = utcnow()
    _store(_external_id(message, data), data, now)
    reply = _passive_reply(message)
    if reply is None:
        return Response("success", mimetype="text/plain")
    xml = create_reply(reply, message).render() if not isinstance(reply, TextReply) else reply.render()
    if crypto is not None:
        xml = crypto.encrypt_message(xml, nonce, timestamp)
    return Response(xml, mimetype="application/xml")


def _store(external_id, data, now):
    insert_ignore(db.session, InboundEvent.__table__, [{"source": "wechat", "external_id": external_id[:128], "payload": data, "received_at": now,
                                            "processed_at": None, "error": ""}])


def _passive_reply(message):
    """A subscribe is welcomed, and the binding explained, in the same answer."""
    from wechatpy.replies import TextReply

    event = getattr(message, "event", "")
    if message.type == "event" and event in ("subscribe", "subscribe_scan"):
        text = _("Welcome! To hear of your requests here, tap “绑定账户” in the menu and sign in once. "
                 "Write to us here any time; the 24-hour hotline is %(hotline)s.", hotline=settings.get("hotline"))
        return TextReply(content=text, message=message)
    if message.type == "event" and event == "click" and getattr(message, "key", "") in ("BIND", "bind"):
        return TextReply(content=_("Bind your portal account: %(url)s", url=external_url("wechat.bind")), message=message)
    return None


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
        previous = db.session.scalar(select(User).where(User.wechat_openid == openid, User.id != user.id))
        if previous is not None:  # the same WeChat moves to this account
            prefs.set_consent(previous, Channel.WECHAT, False, "WeChat bound to another account", now)
            previous.wechat_openid = None
            previous.wechat_bound_at = None
            db.session.flush()
        user.wechat_openid = openid
        user.wechat_bound_at = now
        prefs.set_consent(user, Channel.WECHAT, True, "WeChat binding", now)
        session.pop(PENDING, None)
        flash(_("Your WeChat is bound: we will send you messages there."), "success")
        return redirect(url_for("account.index") + "#channels")
    return render_template("wechat/confirm.html", form=form)
