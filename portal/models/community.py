"""The suggestion box (S2.5), events and meetings (S2.2, S4.3) and consultations (S4.2.2)."""
import enum
from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import Building, Unit, User


class SuggestionTopic(enum.StrEnum):
    ENVIRONMENT = "environment"
    SECURITY = "security"
    FACILITIES = "facilities"
    FEES = "fees"
    ACTIVITIES = "activities"
    OTHER = "other"


class SuggestionStatus(enum.StrEnum):
    NEW = "new"
    UNDER_REVIEW = "under_review"
    PLANNED = "planned"
    DONE = "done"
    DECLINED = "declined"
    DUPLICATE = "duplicate"


class Suggestion(db.Model):
    __tablename__ = "suggestion"
    __table_args__ = (Index("ix_suggestion_board", "hidden_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), index=True)  # set: only that building's residents see it
    topic: Mapped[SuggestionTopic]
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    is_anonymous: Mapped[bool] = mapped_column(default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[SuggestionStatus] = mapped_column(default=SuggestionStatus.NEW)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("suggestion.id"))
    reply: Mapped[str] = mapped_column(Text, default="")
    replied_at: Mapped[datetime | None]
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    is_important: Mapped[bool] = mapped_column(default=False)
    support_count: Mapped[int] = mapped_column(default=0)
    hidden_at: Mapped[datetime | None]
    hidden_reason: Mapped[str] = mapped_column(String(300), default="")
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    opening_id: Mapped[int | None] = mapped_column(ForeignKey("box_opening.id"))  # the opening that read it
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    forum_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))  # on a forum's agenda
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    author: Mapped[User] = relationship(foreign_keys=[author_id])
    study: Mapped["Study | None"] = relationship(back_populates="suggestion", uselist=False)


class SuggestionSupport(db.Model):
    """Support counts once per household (unit)."""

    __tablename__ = "suggestion_support"
    __table_args__ = (UniqueConstraint("suggestion_id", "unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestion.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BoxOpening(db.Model):
    """Opening the suggestion box (S2.5.1): who opened it, when, and what was read."""

    __tablename__ = "box_opening"
    id: Mapped[int] = mapped_column(primary_key=True)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    read_count: Mapped[int] = mapped_column(default=0)
    opened_by: Mapped[User] = relationship()


class Study(db.Model):
    """An important suggestion is studied (S2.5.2) until its reply is published."""

    __tablename__ = "study"
    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestion.id"), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    deadline: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    suggestion: Mapped[Suggestion] = relationship(back_populates="study")
    owner: Mapped[User] = relationship()


class EventType(enum.StrEnum):
    ACTIVITY = "activity"  # monthly community activity (S2.2.1)
    FORUM = "forum"  # quarterly owners' forum, 业主座谈会 (S2.2.1)
    CAMPAIGN = "campaign"  # ad-hoc campaign (S2.2.2)
    DRILL = "drill"  # fire drill (S2.2.2)
    GENERAL_MEETING = "general_meeting"  # owners' general meeting


event_building = Table(
    "event_building",
    db.metadata,
    Column("event_id", ForeignKey("event.id", ondelete="CASCADE"), primary_key=True),
    Column("building_id", ForeignKey("building.id"), primary_key=True, index=True),
)


class Event(db.Model):
    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[EventType] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    capacity: Mapped[int | None]  # seats; None: as many as come
    seats_per_household: Mapped[int] = mapped_column(default=1)
    signup_deadline: Mapped[datetime | None]
    is_community_wide: Mapped[bool] = mapped_column(default=True)
    policy_exception: Mapped[str] = mapped_column(Text, default="")  # why it departs from S4.3
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"))
    minutes: Mapped[str] = mapped_column(Text, default="")
    minutes_published_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    sequence: Mapped[int] = mapped_column(default=0)  # iCalendar SEQUENCE: raised on each change
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    buildings: Mapped[list[Building]] = relationship(secondary=event_building, order_by=Building.name)
    signups: Mapped[list["EventSignup"]] = relationship(back_populates="event", order_by="EventSignup.id")


class SignupStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class EventSignup(db.Model):
    """One row per household and event; the waitlist promotes in the order people joined it."""

    __tablename__ = "event_signup"
    __table_args__ = (UniqueConstraint("event_id", "unit_id"), Index("ix_signup_queue", "event_id", "status", "queued_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    seats: Mapped[int] = mapped_column(default=1)
    status: Mapped[SignupStatus]
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    attended: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # of the form that signed up last
    event: Mapped[Event] = relationship(back_populates="signups")
    unit: Mapped[Unit] = relationship()
    user: Mapped[User] = relationship()


consultation_building = Table(
    "consultation_building",
    db.metadata,
    Column("consultation_id", ForeignKey("consultation.id", ondelete="CASCADE"), primary_key=True),
    Column("building_id", ForeignKey("building.id"), primary_key=True, index=True),
)


class ConsultationKind(enum.StrEnum):
    """What the answers decide. Owners' decisions are counted as 民法典 art. 278 requires."""

    POLL = "poll"  # 征求意见: opinions, no legal thresholds
    ORDINARY = "ordinary"  # 一般事项 (art. 278 items 1-5 and 9): more than half of the participating area and owners agree
    MAJOR = "major"  # 重大事项 (items 6-8): three quarters of the participating area and owners agree


class Vote(enum.StrEnum):
    """The options of an owners' decision."""

    AGREE = "agree"  # 同意
    DISAGREE = "disagree"  # 反对
    ABSTAIN = "abstain"  # 弃权: takes part, does not agree


class Consultation(db.Model):
    """A question put to the owners before a major decision (征求意见, S4.2.2)."""

    __tablename__ = "consultation"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ConsultationKind] = mapped_column(default=ConsultationKind.POLL)
    title: Mapped[str] = mapped_column(String(200))
    explanation: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[datetime] = mapped_column(index=True)
    closing_told_at: Mapped[datetime | None]  # owners who had not answered were reminded a day before
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"), unique=True)  # the published result
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    buildings: Mapped[list[Building]] = relationship(secondary=consultation_building, order_by=Building.name)
    options: Mapped[list["ConsultationOption"]] = relationship(order_by="ConsultationOption.position", cascade="all, delete-orphan")


class ConsultationOption(db.Model):
    __tablename__ = "consultation_option"
    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)
    vote: Mapped[Vote | None]  # an owners' decision's agree, disagree or abstain; None in a poll


class ConsultationAnswer(db.Model):
    """One answer per household, changeable until the deadline."""

    __tablename__ = "consultation_answer"
    __table_args__ = (UniqueConstraint("consultation_id", "unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    option_id: Mapped[int] = mapped_column(ForeignKey("consultation_option.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    comment: Mapped[str] = mapped_column(Text, default="")  # optional, for the staff who run the consultation
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    unit: Mapped[Unit] = relationship()
    user: Mapped[User] = relationship()
