"""The telephone system's events (signed), and the hotline's caller screen."""
import json

from flask import abort, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.telephony import bp
from portal.extensions import csrf, db
from portal.forms import ConfirmForm
from portal.htmx import wants_fragment
from portal.models import Call, User, utcnow
from portal.permissions import DESK, role_required
from portal.services import telephony

MAX_BODY = 64 * 1024


@bp.route("/events", methods=["POST"])
@csrf.exempt
def events():
    """POSTed by the PBX: {"event": "ringing"|"answered"|"ended", "call_id", "caller", "line", "agent", "at"},
    signed with X-Portal-Signature: sha256=<hex HMAC-SHA256 of the raw body>."""
    if (request.content_length or 0) > MAX_BODY:
        abort(413)
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        abort(413)
    if not telephony.verify(raw, request.headers.get("X-Portal-Signature", ""), current_app.config.get("TELEPHONY_SECRET")):
        abort(403)
    try:
        event = json.loads(raw)
        if not isinstance(event, dict):
            raise ValueError("not an object")
        call = telephony.handle(event, utcnow())
    except (ValueError, telephony.TelephonyError) as exc:
        return jsonify(error=str(exc)[:200]), 400
    return jsonify(ok=True, call=call.id, resident=bool(call.resident_id))


@bp.route("/")
@role_required(*DESK)
def screen():
    """来电弹屏: refreshed every two seconds (304 while no call changed)."""
    now = utcnow()
    tag = telephony.state(now)
    if wants_fragment() and request.if_none_match.contains(tag):
        response = make_response("", 304)
    else:
        calls = telephony.screen(now)
        context = {"calls": [(c, telephony.context_for(c)) for c in calls], "now": now, "confirm": ConfirmForm(formdata=None)}
        response = make_response(render_template("telephony/_calls.html" if wants_fragment() else "telephony/screen.html", **context))
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("HX-Request")
    return response


@bp.route("/<int:call_id>/take", methods=["POST"])
@role_required(*DESK)
def take(call_id):
    call = db.session.get(Call, call_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    telephony.take(call, db.session.get(User, current_user.id))
    params = {"caller_phone": call.caller, "call": call.id}
    if call.resident_id:
        params["resident_id"] = call.resident_id
    return redirect(url_for("tickets.new", **params))
