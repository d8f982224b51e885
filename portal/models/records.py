"""Communication records and their archive (S3.6, S4.1), figures published, evaluation reports
and improvement measures (S5), training (S6.2)."""
import enum
from datetime import date, datetime

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import Department, User


class RecordKind(enum.StrEnum):
    CALL = "call"
    VISIT = "visit"
    OUTREACH_CALL = "outreach_call"  # proactive contact, counted against the daily target (S4.1.1)
    OUTREACH_VISIT = "outreach_visit"
    FORUM = "forum"
    COORDINATION = "coordination"  # weekly inter-department coordination meeting (S4.1.2)
    OWNERS_COMMITTEE = "owners_committee"
    RESIDENTS_COMMITTEE = "residents_committee"
    GOVERNMENT = "government"
    OTHER = "other"


OUTREACH_KINDS = (RecordKind.OUTREACH_CALL, RecordKind.OUTREACH_VISIT)


class CommRecord(db.Model):
    __tablename__ = "comm_record"
    __table_args__ = (Index("ix_record_kind_time", "kind", "occurred_at"), Index("ix_record_staff_time", "staff_id", "occurred_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RecordKind]
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    participants: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text, default="")
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    legal_hold: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    staff: Mapped[User] = relationship(foreign_keys=[staff_id])
    resident: Mapped[User | None] = relationship(foreign_keys=[resident_id])


class FigureKey(enum.StrEnum):
    SATISFACTION = "satisfaction"
    RESOLUTION = "resolution"
    TIMELINESS = "timeliness"
    EMERGENCY = "emergency"
    ACCURACY = "accuracy"
    PARTICIPATION = "participation"


class PublishedFigures(db.Model):
    """Last month's headline figures, published to residents and the lobby screens."""

    __tablename__ = "published_figures"
    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    data: Mapped[dict] = mapped_column(JSON)
    published_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    published_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Report(db.Model):
    """The half-year evaluation report (S5.1.2): figures computed, problems and causes written."""

    __tablename__ = "report"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    problems: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class MeasureStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    MET = "met"
    MISSED = "missed"
    REVISED = "revised"


class Measure(db.Model):
    """An improvement measure (S5.2): goal on a figure, owner, deadline, steps; verified before/after."""

    __tablename__ = "measure"
    id: Mapped[int] = mapped_column(primary_key=True)
    problem: Mapped[str] = mapped_column(Text)
    goal: Mapped[str] = mapped_column(Text)
    figure: Mapped[FigureKey]
    target: Mapped[float]  # the figure's value to reach, 0..1
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    steps: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MeasureStatus] = mapped_column(default=MeasureStatus.PLANNED)
    before_value: Mapped[float | None]
    after_value: Mapped[float | None]
    verified_at: Mapped[datetime | None]
    revision_of_id: Mapped[int | None] = mapped_column(ForeignKey("measure.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    department: Mapped[Department | None] = relationship()
    owner: Mapped[User] = relationship()


class TrainingTopic(enum.StrEnum):
    COMMUNICATION = "communication"
    SERVICE = "service"
    BUSINESS = "business"
    PROBLEM_HANDLING = "problem_handling"


class TrainingMethod(enum.StrEnum):
    INTERNAL = "internal"
    COACHING = "coaching"
    CASE_STUDY = "case_study"
    EXTERNAL = "external"


training_plan_person = Table(
    "training_plan_person",
    db.metadata,
    Column("item_id", ForeignKey("training_plan_item.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user.id"), primary_key=True, index=True),
)


class TrainingPlanItem(db.Model):
    """One line of the year's training plan (S6.2.1): what, how, for whom (a department, named
    people, or both) and in which month; the sessions that deliver it point at it."""

    __tablename__ = "training_plan_item"
    __table_args__ = (Index("ix_training_plan_year_month", "year", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    month: Mapped[int]  # 1..12, the month it is planned for
    title: Mapped[str] = mapped_column(String(200))
    topic: Mapped[TrainingTopic]
    method: Mapped[TrainingMethod]
    goal: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)  # everyone in it attends
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    department: Mapped[Department | None] = relationship()
    people: Mapped[list[User]] = relationship(secondary=training_plan_person, order_by=User.name)
    sessions: Mapped[list["TrainingSession"]] = relationship(back_populates="plan_item", order_by="TrainingSession.held_on")


class TrainingSession(db.Model):
    __tablename__ = "training_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    topic: Mapped[TrainingTopic]
    method: Mapped[TrainingMethod]
    held_on: Mapped[date] = mapped_column(Date, index=True)
    trainer: Mapped[str] = mapped_column(String(100))
    plan_item_id: Mapped[int | None] = mapped_column(ForeignKey("training_plan_item.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attendees: Mapped[list["TrainingAttendance"]] = relationship(cascade="all, delete-orphan", back_populates="session")
    plan_item: Mapped[TrainingPlanItem | None] = relationship(back_populates="sessions")


class TrainingAttendance(db.Model):
    __tablename__ = "training_attendance"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_session.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    score: Mapped[int | None]
    session: Mapped[TrainingSession] = relationship(back_populates="attendees")
    user: Mapped[User] = relationship()
