"""Who is on duty (值班表): shifts per department with a weekly pattern and changes for single days,
the company's duty manager (shifts without a department), the working calendar's holidays and
make-up working days, and the pages sent for an emergency until someone acknowledges it."""
from datetime import date, datetime, time

from sqlalchemy import Date, ForeignKey, Index, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import Department, User


class Shift(db.Model):
    """A shift of a department (day 08:00–20:00, night 20:00–08:00); without a department it is the
    company's duty manager's (值班经理). A shift that ends at or before its start runs past midnight."""

    __tablename__ = "shift"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    is_active: Mapped[bool] = mapped_column(default=True)
    department: Mapped[Department | None] = relationship()
    pattern: Mapped[list["RotaEntry"]] = relationship(back_populates="shift", cascade="all, delete-orphan", order_by="RotaEntry.weekday")


class RotaEntry(db.Model):
    """The weekly pattern: on this weekday (0 Monday) the shift that starts that day is held by
    `primary` with `deputy` behind them."""

    __tablename__ = "rota_entry"
    __table_args__ = (UniqueConstraint("shift_id", "weekday"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shift.id", ondelete="CASCADE"))
    weekday: Mapped[int]
    primary_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    shift: Mapped[Shift] = relationship(back_populates="pattern")
    primary: Mapped[User | None] = relationship(foreign_keys=[primary_id])
    deputy: Mapped[User | None] = relationship(foreign_keys=[deputy_id])


class RotaChange(db.Model):
    """One day differs from the pattern: a swap (调班) or leave (请假)."""

    __tablename__ = "rota_change"
    __table_args__ = (UniqueConstraint("shift_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shift.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)  # the day the shift starts, in the community's time zone
    primary_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    shift: Mapped[Shift] = relationship()
    primary: Mapped[User | None] = relationship(foreign_keys=[primary_id])
    deputy: Mapped[User | None] = relationship(foreign_keys=[deputy_id])


class CalendarDay(db.Model):
    """A day the administrator entered: a statutory holiday (放假) or a make-up working day (调休上班),
    for years the chinesecalendar package does not know yet."""

    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool]
    name: Mapped[str] = mapped_column(String(64), default="")


class Page(db.Model):
    """One page of an emergency: round n of the chain, to one person, and the short signed link
    that acknowledges it (single use, for 24 hours)."""

    __tablename__ = "page"
    __table_args__ = (UniqueConstraint("ticket_id", "round", "user_id"), Index("ix_page_ticket", "ticket_id", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    round: Mapped[int]
    level: Mapped[int]  # 0 the on-duty head (and the desk), 1 the deputy, 2 the duty manager
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    due_at: Mapped[datetime]  # when the schedule said it should go
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the worker wrote it
    used_at: Mapped[datetime | None]  # the link acknowledged the emergency
    user: Mapped[User] = relationship()
