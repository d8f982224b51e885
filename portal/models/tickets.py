"""The register (客户信息登记表): one ticket per thing a resident or caller raised, from any channel."""
import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import Building, Department, Unit, User


class TicketCategory(enum.StrEnum):
    INQUIRY = "inquiry"  # 咨询
    COMPLAINT = "complaint"  # 投诉
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬
    REPAIR = "repair"  # 报修


NUMBER_PREFIX = {
    TicketCategory.INQUIRY: "ZX",
    TicketCategory.COMPLAINT: "TS",
    TicketCategory.SUGGESTION: "JY",
    TicketCategory.PRAISE: "BY",
    TicketCategory.REPAIR: "BX",
}


class TicketChannel(enum.StrEnum):
    ONLINE = "online"
    HOTLINE = "hotline"
    WALK_IN = "walk_in"
    EMAIL = "email"
    SUGGESTION_BOX = "suggestion_box"
    NOTICE_QUESTION = "notice_question"
    EVENT_FEEDBACK = "event_feedback"
    RELAYED = "relayed"
    GOV_HOTLINE = "hotline_12345"  # a work order from the city's 12345 hotline
    WECHAT = "wechat"  # a conversation on the official account became a ticket


class TicketStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    FEEDBACK_GIVEN = "feedback_given"
    CLOSED = "closed"


OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS, TicketStatus.ON_HOLD)


class EventKind(enum.StrEnum):
    CREATED = "created"
    CLASSIFIED = "classified"
    TRANSFERRED = "transferred"
    DUE_CHANGED = "due_changed"
    CALLED = "called"  # the on-duty head phoned about an emergency (S3.3.2)
    PROGRESS = "progress"
    INTERNAL_NOTE = "internal_note"
    RESIDENT_REPLY = "resident_reply"
    REPLY = "reply"  # staff answer the resident
    ON_HOLD = "on_hold"
    RESUMED = "resumed"
    RESOLVED = "resolved"
    FEEDBACK = "feedback"
    FORMAL_REPLY = "formal_reply"
    RATING = "rating"
    REOPENED = "reopened"
    CLOSED = "closed"
    ESCALATED = "escalated"
    ASSIGNED = "assigned"  # a head hands the ticket to someone in the department
    NOT_REACHED = "not_reached"  # no channel reached the resident: someone must call
    PAGED = "paged"  # an emergency paged the people on duty (a round of the chain)
    ACKNOWLEDGED = "acknowledged"  # someone on duty took the emergency (已受理)
    ON_SITE = "on_site"  # someone arrived (到场)
    URGENCY_CHANGED = "urgency_changed"
    GOV_REPLY = "gov_reply"  # the reply sent back to the 12345 hotline


INTERNAL_EVENTS = (
    EventKind.INTERNAL_NOTE, EventKind.ESCALATED, EventKind.CALLED, EventKind.DUE_CHANGED, EventKind.ASSIGNED, EventKind.NOT_REACHED,
    EventKind.PAGED, EventKind.URGENCY_CHANGED, EventKind.GOV_REPLY,
)


class TicketCounter(db.Model):
    """The last number given per category and year; numbers are never given twice."""

    __tablename__ = "ticket_counter"
    category: Mapped[TicketCategory] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class Ticket(db.Model):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_register", "created_at", "id"),
        Index("ix_ticket_resident", "resident_id", "id"),
        Index("ix_ticket_status_due", "status", "due_at"),
        Index("ix_ticket_department", "lead_department_id", "id"),
        Index("ix_ticket_feedback_at", "feedback_at"),  # the figures' pieces: answered in a month
        Index("ix_ticket_rated_at", "rated_at"),  # and rated in a month
        # an emergency runs a response clock (S4.2.1): pages and slips show when it runs out
        CheckConstraint("NOT is_urgent OR response_due_at IS NOT NULL", name="urgent_has_response_due"),
        # a question asked under a notice is shown and answered under it
        CheckConstraint("channel <> 'notice_question' OR notice_id IS NOT NULL", name="question_has_notice"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    category: Mapped[TicketCategory] = mapped_column(index=True)
    channel: Mapped[TicketChannel] = mapped_column(index=True)
    status: Mapped[TicketStatus] = mapped_column(default=TicketStatus.NEW)
    is_urgent: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(Text)
    preferred_visit: Mapped[str] = mapped_column(String(200), default="")  # repairs: when the resident is home

    resident_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    caller_name: Mapped[str] = mapped_column(String(64), default="")  # unregistered callers
    caller_phone: Mapped[str] = mapped_column(String(32), default="", index=True)
    caller_unit: Mapped[str] = mapped_column(String(64), default="")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)  # feedback after an event (S3.1.2)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Moves on every change to the ticket or its timeline, departments and photos (portal/cache.py):
    # a kept page that shows this ticket is rebuilt, one that does not is kept.
    version: Mapped[int] = mapped_column(default=0, server_default="0")

    lead_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    assigned_at: Mapped[datetime | None]
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    due_at: Mapped[datetime | None]
    held_since: Mapped[datetime | None]
    hold_reason: Mapped[str] = mapped_column(String(300), default="")
    expected_completion: Mapped[date | None] = mapped_column(Date)

    response_due_at: Mapped[datetime | None]  # emergencies: contact within [X] minutes (S4.2.1)
    responded_at: Mapped[datetime | None]  # the recorded call to the on-duty head (S3.3.2)
    acknowledged_at: Mapped[datetime | None]  # someone on duty took it: paging stops (已受理)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    acknowledged_via: Mapped[str] = mapped_column(String(16), default="")  # link, button, call
    on_site_at: Mapped[datetime | None]  # 到场
    on_site_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    paging_since: Mapped[datetime | None]  # the chain's clock: rounds every N minutes from here
    next_page_at: Mapped[datetime | None] = mapped_column(index=True)  # the next round, None when paging is over
    page_round: Mapped[int] = mapped_column(default=0)  # rounds sent
    page_reason: Mapped[str] = mapped_column(String(16), default="")  # emergency, gov_overdue
    held_work_seconds: Mapped[int | None]  # on hold: the working time that was left until due
    escalated_at: Mapped[datetime | None]
    overdue_notified_at: Mapped[datetime | None]
    due_soon_notified_at: Mapped[datetime | None]  # the hour-before reminder went out

    resolved_at: Mapped[datetime | None]
    result: Mapped[str] = mapped_column(Text, default="")
    feedback_at: Mapped[datetime | None]
    feedback_method: Mapped[str] = mapped_column(String(16), default="")
    formal_reply_at: Mapped[datetime | None]
    formal_reply_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"))
    rating: Mapped[int | None]
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopened_count: Mapped[int] = mapped_column(default=0)
    reclassified_count: Mapped[int] = mapped_column(default=0)
    legal_hold: Mapped[bool] = mapped_column(default=False)  # kept past the retention period (S3.6)
    gov_order_number: Mapped[str] = mapped_column(String(40), default="", index=True)  # 12345 工单编号
    gov_reply_due_at: Mapped[datetime | None] = mapped_column(index=True)  # the hotline's own deadline for the reply
    gov_reply: Mapped[str] = mapped_column(Text, default="")
    gov_replied_at: Mapped[datetime | None]

    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    resident: Mapped[User | None] = relationship(foreign_keys=[resident_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    unit: Mapped[Unit | None] = relationship()
    building: Mapped[Building | None] = relationship()
    lead_department: Mapped[Department | None] = relationship()
    departments: Mapped[list["TicketDepartment"]] = relationship(cascade="all, delete-orphan", back_populates="ticket")
    events: Mapped[list["TicketEvent"]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )
    photos: Mapped[list["TicketPhoto"]] = relationship(back_populates="ticket", order_by="TicketPhoto.id", cascade="all, delete-orphan")
    aliases: Mapped[list["TicketAlias"]] = relationship(back_populates="ticket", order_by="TicketAlias.id", cascade="all, delete-orphan")

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    def is_overdue(self, now):
        return self.is_open and self.status != TicketStatus.ON_HOLD and self.due_at is not None and self.due_at < now

    @property
    def answered_on_time(self):
        """Fed back within the due time (None while not yet fed back)."""
        if self.feedback_at is None or self.due_at is None:
            return None
        return self.feedback_at <= self.due_at

    @property
    def is_paging(self):
        return self.is_urgent and self.acknowledged_at is None and self.next_page_at is not None

    @property
    def contact_name(self):
        return self.resident.name if self.resident else self.caller_name


class TicketDepartment(db.Model):
    """The transfer slip's departments: one lead, any co-departments (S3.2, S3.3.1)."""

    __tablename__ = "ticket_department"
    __table_args__ = (UniqueConstraint("ticket_id", "department_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    is_lead: Mapped[bool] = mapped_column(default=False)
    ticket: Mapped[Ticket] = relationship(back_populates="departments")
    department: Mapped[Department] = relationship()


class TicketEvent(db.Model):
    """The timeline: append-only, who did what and when (S3.6)."""

    __tablename__ = "ticket_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EventKind]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    is_internal: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # a resident's message: of the form that sent it
    ticket: Mapped[Ticket] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class TicketAlias(db.Model):
    """A number the ticket had before it was reclassified into another category's series: search
    still finds the ticket by it, and the timeline shows it."""

    __tablename__ = "ticket_alias"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ticket: Mapped[Ticket] = relationship(back_populates="aliases")


class TicketPhoto(db.Model):
    __tablename__ = "ticket_photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blob.sha256"))
    filename: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[Ticket] = relationship(back_populates="photos")
