"""Lobby screens: the building's current notices, bulletins and upcoming events as slides, an
emergency taking the screen over, and polls that cost one small query when nothing changed."""
import hashlib
import html
import re
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update

from portal import cache
from portal.extensions import db
from portal.links import external_url
from portal.models import Event, KioskScreen, Notice, Orientation, PublishedFigures, event_building
from portal.pdf import qr_svg
from portal.services import disclosure, notices
from portal.services.events import TYPE_LABELS
from portal.services.notices import CATEGORY_LABELS

PAGE_CHARS = {Orientation.LANDSCAPE: 260, Orientation.PORTRAIT: 420}
FEE_ROWS = {Orientation.LANDSCAPE: 7, Orientation.PORTRAIT: 10}  # rows of the fee table per slide
# What one slide's text holds as lines on the screen: (characters per line, lines)
PAGE_LINES = {Orientation.LANDSCAPE: (32, 10), Orientation.PORTRAIT: (21, 17)}
REPORT_EVERY = timedelta(seconds=60)  # the page's heartbeat
SILENT_AFTER = timedelta(minutes=5)


def create(building, name, orientation, slide_seconds, poll_seconds, night_start, night_end, now):
    screen = KioskScreen(
        building_id=building.id, name=name.strip(), secret=secrets.token_urlsafe(24), orientation=Orientation(orientation),
        slide_seconds=slide_seconds, poll_seconds=poll_seconds, night_start=night_start, night_end=night_end, created_at=now,
    )
    db.session.add(screen)
    db.session.flush()
    return screen


def revoke(screen, now):
    """The old link answers 404 from the next request on, on every worker (cache.KIOSK)."""
    screen.revoked_at = now


def screen_for(secret):
    """The screen's settings by its secret link, or None; cached until any screen changes."""

    def build():
        row = db.session.execute(select(KioskScreen).where(KioskScreen.secret == secret, KioskScreen.revoked_at.is_(None))).scalar()
        if row is None:
            return None, None
        return {
            "id": row.id, "building_id": row.building_id, "building": row.building.name, "orientation": row.orientation,
            "slide_seconds": row.slide_seconds, "poll_seconds": row.poll_seconds, "night_start": row.night_start,
            "night_end": row.night_end, "secret": row.secret,
        }, None

    return cache.cached("kiosk-screen", secret, cache.KIOSK, build)


def report_in(screen, now):
    """The screen's heartbeat (a POST from its page once a minute): it is alive."""
    db.session.execute(update(KioskScreen).where(KioskScreen.id == screen["id"]).values(last_seen_at=now))  # Core: no cache bump


def silent(now):
    """Screens that have not polled for a while (or never)."""
    return db.session.scalars(
        select(KioskScreen).where(
            KioskScreen.revoked_at.is_(None), or_(KioskScreen.last_seen_at.is_(None), KioskScreen.last_seen_at < now - SILENT_AFTER)
        ).order_by(KioskScreen.id)
    ).all()


def _pages(text, size):
    """Long notices page through instead of being cut off: split at sentence ends near `size` characters."""
    text = re.sub(r"\n{3,}", "\n\n", text.strip())
    pages = []
    while len(text) > size:
        cut = max(text.rfind(mark, 0, size) for mark in ("。", "！", "？", "；", "\n", ". "))
        cut = cut + 1 if cut > size // 2 else size
        pages.append(text[:cut].strip())
        text = text[cut:].strip()
    if text or not pages:
        pages.append(text)
    return pages


def _plain(body_html):
    text = re.sub(r"</(p|li|h3|h4|blockquote)>|<br\s*/?>", "\n", body_html or "")
    return html.unescape(re.sub(r"<[^>]+>", "", text))


CONTENT_DEPENDS = (cache.NOTICES, cache.COMMUNITY, cache.SETTINGS, cache.DISCLOSURE, cache.PLACES)


def _content_key(screen):
    return (screen["building_id"], screen["orientation"])


def unchanged_etag(secret, versions, now):
    """The screen's current ETag if everything about it is already kept and still valid, else None.
    Lets a poll that finds nothing new be answered without building anything."""
    screen = cache.peek("kiosk-screen", secret, cache.KIOSK, versions)
    if not screen:
        return None
    kept = cache.peek("kiosk-content", _content_key(screen), CONTENT_DEPENDS, versions, now)
    return kept[1] if kept else None


def content(screen, now, render):
    """(html, etag) of the screen's slides, `render(slides)` making the HTML of what slides()
    returns; kept until notices, events, settings or the disclosure board change, or the next
    notice or event starts or ends, or the next fee standard takes effect."""

    def build():
        found, until = slides(screen, now)
        body = render(found)
        return (body, hashlib.sha256(body.encode()).hexdigest()[:32]), until

    return cache.cached("kiosk-content", _content_key(screen), CONTENT_DEPENDS, build, now)


def slides(screen, now):
    """({"slides", "emergency", "emergency_text"}, valid_until) for the screen's building: its
    notices (long ones paged), the next month's events, the latest published figures, and the
    disclosure board's published sections."""
    building = [screen["building_id"]]
    pinned, page, _cursor = notices.board(notices.BUILDING_RESIDENTS, now, None, building)
    ids = [n.id for n in (*pinned, *page)]
    bodies = dict(db.session.execute(select(Notice.id, Notice.body_html).where(Notice.id.in_(ids or [-1]))).all())
    found = []
    size = PAGE_CHARS[screen["orientation"]]
    for n in (*pinned, *page[: max(0, 12 - len(pinned))]):
        pages = _pages(_plain(bodies.get(n.id, "")), size)
        url = external_url("notices.show", notice_id=n.id)
        for i, text in enumerate(pages):
            found.append({"kind": "notice", "label": str(CATEGORY_LABELS[n.category]), "title": n.title, "text": text,
                          "page": i + 1, "pages": len(pages), "qr": qr_svg(url), "pinned": n.is_pinned,
                          "bulletin": not n.is_community_wide, "at": n.publish_at})
    upcoming = _upcoming_events(screen["building_id"], now)
    for e in upcoming:
        found.append({"kind": "event", "label": str(TYPE_LABELS[e.kind]), "title": e.title, "text": e.description[:size],
                      "starts": e.starts_at, "ends": e.ends_at, "place": e.location, "qr": qr_svg(external_url("events.show", event_id=e.id)),
                      "pinned": False, "page": 1, "pages": 1})
    figures = db.session.scalars(select(PublishedFigures).order_by(PublishedFigures.id.desc()).limit(1)).first()
    if figures is not None and figures.published_at > now - timedelta(days=45):
        found.append({"kind": "figures", "label": "服务数据", "title": f"{figures.period_start:%Y年%-m月}服务数据", "data": figures.data,
                      "text": "", "pinned": False, "page": 1, "pages": 1, "qr": qr_svg(external_url("figures.published"))})
    board, board_changes = _disclosure(now, screen["orientation"], size)
    found += board
    # pinned notices come round twice as often
    rotation = [s for s in found for _ in range(2 if s["pinned"] else 1)]
    emergencies = notices.active_emergencies(notices.BUILDING_RESIDENTS, now, building)
    emergency = emergencies[0] if emergencies else None
    emergency_text = _plain(db.session.scalar(select(Notice.body_html).where(Notice.id == emergency.id))) if emergency else ""
    ends = [t for t in (notices.next_change(now), board_changes, *(e.starts_at for e in upcoming if e.starts_at > now), *(e.ends_at for e in upcoming)) if t]
    return {"slides": rotation, "emergency": emergency, "emergency_text": emergency_text}, min(ends) if ends else None


def _disclosure(now, orientation, size):
    """The disclosure board's published sections as slides (信息公示: the fee standard in force
    and the next one published, the commitments, the hours, the department heads), and when the
    next fee standard takes effect."""
    found, ahead = disclosure.current(now), disclosure.upcoming(now)
    label = str(disclosure.PUBLIC_INFORMATION)

    def slide(section, title, **values):
        url = external_url("disclosure.index", _anchor=section.value)
        return {"kind": f"disclosure-{section.value}", "label": label, "title": title, "text": "", "pinned": False, "page": 1,
                "pages": 1, "qr": qr_svg(url), **values}

    slides = []
    fees = [(found[disclosure.FEES], str(disclosure.SECTION_LABELS[disclosure.FEES]))] if found[disclosure.FEES] else []
    fees += [(v, str(disclosure.NEW_STANDARD)) for v in ahead[:1]]
    per = FEE_ROWS[orientation]
    for version, title in fees:
        chunks = [version.fees[i:i + per] for i in range(0, len(version.fees), per)] or [[]]
        for i, rows in enumerate(chunks):
            slides.append(slide(disclosure.FEES, title, rows=rows, effective=version.effective_on, page=i + 1, pages=len(chunks)))
    for section in (disclosure.COMMITMENTS, disclosure.HOURS):
        if found[section] is not None:
            texts = _line_pages(disclosure.plain_lines(found[section].body), *PAGE_LINES[orientation])
            slides += [slide(section, str(disclosure.SECTION_LABELS[section]), text=text, page=i + 1, pages=len(texts))
                       for i, text in enumerate(texts)]
    if found[disclosure.HEADS] is not None:
        note = "\n".join(disclosure.plain_lines(found[disclosure.HEADS].body))
        slides.append(slide(disclosure.HEADS, str(disclosure.SECTION_LABELS[disclosure.HEADS]), heads=disclosure.department_heads(),
                            text=note if len(note) <= size // 2 else ""))  # a longer note is on the page its QR code opens
    return slides, disclosure.next_change(ahead)


def _line_pages(lines, per_line, per_page):
    """Lines (list items, short paragraphs) onto pages by how many screen lines each takes; a
    line longer than a page pages through at its sentence ends."""
    pages, page, used = [], [], 0
    for line in lines:
        for part in _pages(line, per_line * per_page):
            height = -(-len(part) // per_line)
            if page and used + height > per_page:
                pages.append("\n".join(page))
                page, used = [], 0
            page.append(part)
            used += height
    if page or not pages:
        pages.append("\n".join(page))
    return pages


def _upcoming_events(building_id, now):
    return db.session.scalars(
        select(Event).where(
            Event.cancelled_at.is_(None), Event.ends_at > now, Event.starts_at < now + timedelta(days=30),
            or_(Event.is_community_wide, Event.id.in_(select(event_building.c.event_id).where(event_building.c.building_id == building_id))),
        ).order_by(Event.starts_at).limit(6)
    ).all()
