"""Notice board and building bulletins (S2.3), their email copies (S2.4) and questions (S3.1.3)."""
import hashlib
from datetime import datetime, timedelta

import filetype
import markdown
import nh3
from flask import current_app, g, has_request_context
from markupsafe import Markup
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from portal import permissions
from portal.inputs import whole_number
from portal.extensions import db
from portal.models import (
    Attachment,
    Blob,
    Notice,
    NoticeCategory,
    Role,
)
from portal.notify import Audience, notify
from portal.search import matches

PAGE_SIZE = 20
ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "u", "ul", "ol", "li", "h3", "h4", "blockquote", "a", "hr", "code", "pre"}
ATTACHMENT_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}

CATEGORY_LABELS = {
    NoticeCategory.NEWS: _l("News"),
    NoticeCategory.MAINTENANCE: _l("Maintenance"),
    NoticeCategory.FEE_STANDARD: _l("Fee standard"),
    NoticeCategory.SERVICE_COMMITMENT: _l("Service commitment"),
    NoticeCategory.SAFETY: _l("Safety"),
    NoticeCategory.EMERGENCY: _l("Emergency"),
}
STATE_LABELS = {
    "draft": _l("Draft"),
    "scheduled": _l("Scheduled"),
    "published": _l("Published"),
    "expired": _l("Expired"),
    "withdrawn": _l("Withdrawn"),
}


class UploadRejected(ValueError):
    pass


def render_body(text):
    """Simple formatting (Markdown) through an allow-list sanitiser; raw HTML never survives."""
    html = markdown.markdown(text or "", extensions=["nl2br"], output_format="html")
    return _clean(html)


def sanitized(html):
    """Jinja filter: stored body HTML, cleaned again on the way out, marked safe only after that."""
    return Markup(_clean(html or ""))  # noqa: S704 - allow-list sanitised just above


def _clean(html):
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


LIST_COLUMNS = (
    Notice.id,
    Notice.title,
    Notice.category,
    Notice.is_pinned,
    Notice.is_community_wide,
    Notice.publish_at,
    Notice.expires_at,
    Notice.lifted_at,
)


def _rows(query):
    """Plain, immutable rows (not ORM objects): safe to keep in the cache across requests."""
    return tuple(db.session.execute(query).all())


def board(user, now, before=None, building_ids=None):
    """Pinned notices (on the first page), then one page of the rest by (publish_at, id) keyset;
    returns (pinned, page, next_cursor). The board's page is kept rendered (notices views)."""
    visible = permissions.notice_scope(user, now, building_ids)
    if before is None:
        pinned = _rows(select(*LIST_COLUMNS).where(visible, Notice.is_pinned).order_by(Notice.publish_at.desc(), Notice.id.desc()))
        _, page, cursor = _page(visible)
        return pinned, page, cursor
    at, nid = before
    return _page(visible, at, nid)


def find(user, now, q, before=None, building_ids=None):
    """The notices the board would show this user that match `q` (portal/search.py), pinned or
    not, one page by the board's (publish_at, id) keyset; returns (page, next_cursor)."""
    at, nid = before or (None, None)
    _, page, cursor = _page(and_(permissions.notice_scope(user, now, building_ids), matches(Notice, q)), at, nid, pinned=None)
    return page, cursor


def _page(visible, at=None, nid=None, pinned=False):
    """One page of the board by (publish_at, id), newest first: the unpinned notices, or with
    `pinned=None` pinned and unpinned alike."""
    query = select(*LIST_COLUMNS).where(visible)
    if pinned is not None:
        query = query.where(Notice.is_pinned.is_(pinned))
    if at is not None:
        query = query.where(or_(Notice.publish_at < at, and_(Notice.publish_at == at, Notice.id < nid)))
    page = _rows(query.order_by(Notice.publish_at.desc(), Notice.id.desc()).limit(PAGE_SIZE + 1))
    cursor = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        cursor = (page[-1].publish_at, page[-1].id)
    return (), page, cursor


def audience(user, building_ids=None):
    """Who sees the same notices: "public", the buildings of a household, or "all" (the back office)."""
    if user is None or not user.is_authenticated:
        return "public"
    if permissions.has_home(user):
        return tuple(sorted(building_ids if building_ids is not None else permissions.building_ids_of(user)))
    return "all"


def next_change(now):
    """When what anyone sees next changes by itself: a scheduled notice appears or one expires
    (at the latest in ten minutes, as a safety net). Asked once per request: what is next after
    an earlier moment of the request is next after this one too, unless it has come."""
    if not has_request_context():
        return _next_change(now)
    found = g.get("next_change")
    if found is None or not (found[0] - timedelta(seconds=1) <= now < found[1]):
        found = g.next_change = (now, _next_change(now))
    return found[1]


def _next_change(now):
    next_publish = db.session.scalar(select(func.min(Notice.publish_at)).where(Notice.publish_at > now, Notice.withdrawn_at.is_(None)))
    next_expiry = db.session.scalar(select(func.min(Notice.expires_at)).where(Notice.expires_at > now, Notice.publish_at <= now))
    return min(t for t in (next_publish, next_expiry, now + timedelta(minutes=10)) if t is not None)


class _BuildingResidents:
    """The audience "residents of these buildings", for a lobby screen that has no user."""

    is_authenticated = True
    role = Role.RESIDENT


BUILDING_RESIDENTS = _BuildingResidents()


def encode_cursor(cursor):
    at, nid = cursor
    return f"{at.strftime('%Y%m%dT%H%M%S.%f')}_{nid}"


def decode_cursor(raw):
    """None for a missing or malformed cursor (the first page)."""
    from datetime import timezone

    try:
        at, nid = raw.split("_", 1)
        at = datetime.strptime(at, "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
    except (AttributeError, ValueError):
        return None
    nid = whole_number(nid)
    return None if nid is None else (at, nid)


def active_emergencies(user, now, building_ids=None):
    """The newest three current emergencies this audience sees, until lifted."""
    visible = permissions.notice_scope(user, now, building_ids)
    return _rows(select(*LIST_COLUMNS).where(visible, Notice.category == NoticeCategory.EMERGENCY, Notice.lifted_at.is_(None))
                 .order_by(Notice.publish_at.desc()).limit(3))


def save(notice, *, title, body, category, community_wide, buildings, publish_at, expires_at, is_pinned, actor, now):
    """Creates or edits a notice; email copies go out when it is (or becomes) current."""
    notice.title = title.strip()
    notice.body = body or ""
    notice.body_html = render_body(body)
    notice.category = NoticeCategory(category)
    notice.is_community_wide = bool(community_wide) or not buildings
    notice.buildings = [] if notice.is_community_wide else list(buildings)
    notice.publish_at = publish_at
    notice.expires_at = expires_at
    notice.is_pinned = bool(is_pinned)
    if notice.id is None:
        notice.author_id = actor.id
        db.session.add(notice)
    db.session.flush()
    if notice.is_current(now) and notice.mailed_at is None:
        tell(notice, now)
    return notice


def withdraw(notice, reason, actor, now):
    notice.withdrawn_at = now
    notice.withdrawn_reason = reason.strip()
    notice.withdrawn_by_id = actor.id


def lift(notice, actor, now):
    """Staff lift an emergency before it expires: the banner goes away everywhere."""
    notice.lifted_at = now
    notice.lifted_by_id = actor.id


def tell(notice, now):
    """Everyone the notice is for hears of it through their channels (an emergency by SMS, at any
    hour): one fan-out job, written in the caller's transaction (S2.4 mailing list)."""
    audience = Audience(buildings=None if notice.is_community_wide else [b.id for b in notice.buildings])
    notify("notice_emergency" if notice.is_emergency else "notice_published", notice, audience, now=now)
    notice.mailed_at = now


def publish_due(now):
    """Worker: scheduled notices whose time has come are told to their audience."""
    due = db.session.scalars(
        select(Notice).where(Notice.current_clause(now), Notice.mailed_at.is_(None)).order_by(Notice.publish_at).limit(50)
    ).all()
    for notice in due:
        tell(notice, now)
    return len(due)


def store_blob(data, allowed=ATTACHMENT_TYPES, limit=None):
    """Checks an upload by its content and size; stores it once by content hash."""
    limit = limit or current_app.config["UPLOAD_MAX_BYTES"]
    if len(data) == 0:
        raise UploadRejected(_l("The file is empty."))
    if len(data) > limit:
        raise UploadRejected(_l("The file is larger than %(mb).1f MB.", mb=limit / 1024 / 1024))
    kind = filetype.guess(data)
    if kind is None or kind.mime not in allowed:
        if "application/pdf" in allowed:
            raise UploadRejected(_l("Only images (PNG, JPEG, GIF, WebP) and PDF files can be attached."))
        raise UploadRejected(_l("Only photos (PNG, JPEG, GIF, WebP, HEIC) can be attached."))
    sha = hashlib.sha256(data).hexdigest()
    blob = db.session.get(Blob, sha)
    if blob is None:
        blob = Blob(sha256=sha, mime=kind.mime, size=len(data), data=data)
        db.session.add(blob)
    return blob


def attach(notice, filename, data):
    blob = store_blob(data)
    name = (filename or "file").replace("\\", "/").rsplit("/", 1)[-1][:200] or "file"
    attachment = Attachment(blob_sha256=blob.sha256, filename=name, mime=blob.mime, size=blob.size)
    notice.attachments.append(attachment)
    return attachment
