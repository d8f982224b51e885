"""Telling people: in-app notifications, one outbox row per delivery on every channel, the fan-out
jobs that tell thousands at once, consent records (PIPL) and each person's channel choices."""
import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import User


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WECHAT = "wechat"  # the company's official account (服务号): template messages
    WECOM = "wecom"  # 企业微信 application messages to one member
    WECOM_ROBOT = "wecom_robot"  # a department's 企业微信 group robot
    VOICE = "voice"  # a voice call reading a short text (emergencies)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # due at next_attempt_at (quiet hours and coalescing push that later)
    STANDBY = "standby"  # a later channel in the person's order: used only if an earlier one fails for good
    SENT = "sent"  # the provider accepted it (its id is kept)
    FAILED = "failed"  # refused for good (invalid number, not following ...): never retried
    DEAD = "dead"  # transient failures until the last retry
    SKIPPED = "skipped"  # not sent: an earlier channel delivered, merged into another SMS, or the daily cap


class Notification(db.Model):
    """The in-app notification: always written, whatever else reaches the person."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user", "user_id", "id"),
        Index("ix_notification_unread", "user_id", "read_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)  # one per person, kind and object
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")  # a path on this site
    object_type: Mapped[str] = mapped_column(String(20), default="")
    object_id: Mapped[int | None]
    is_urgent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class Delivery(db.Model):
    """One message to one person (or one department's robot) on one channel: written in the
    caller's transaction, sent by `flask worker`, with every attempt kept."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_user", "user_id", "channel", "next_attempt_at"),
        Index("ix_delivery_list", "created_at", "id"),
        Index("ix_delivery_coalesce", "coalesce_key", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)  # recipient, kind, object, channel
    channel: Mapped[Channel] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    address: Mapped[str] = mapped_column(String(300))  # phone, openid, email, 企业微信 userid, robot key
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)  # template parameters, link, language
    is_urgent: Mapped[bool] = mapped_column(default=False)  # ignores quiet hours and caps
    chain_key: Mapped[str] = mapped_column(String(160), default="", index=True)  # the rows of one person's channel order
    position: Mapped[int] = mapped_column(default=0)  # place in that order
    coalesce_key: Mapped[str | None] = mapped_column(String(160))
    coalesced: Mapped[int] = mapped_column(default=1)  # updates this one message carries
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    ticket_event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_event.id", ondelete="SET NULL"), index=True)
    object_type: Mapped[str] = mapped_column(String(20), default="")
    object_id: Mapped[int | None]
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    provider_id: Mapped[str] = mapped_column(String(128), default="")
    error_code: Mapped[str] = mapped_column(String(64), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    user: Mapped[User | None] = relationship()
    attempt_log: Mapped[list["DeliveryAttempt"]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.id", cascade="all, delete-orphan"
    )


class DeliveryAttempt(db.Model):
    __tablename__ = "delivery_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # sent, transient, permanent
    provider_id: Mapped[str] = mapped_column(String(128), default="")
    code: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")


class NotifyJob(db.Model):
    """Telling a whole audience (every resident of some buildings): the request writes this one
    row; workers fan it out in batches, so telling 10,000 costs the request what telling one does."""

    __tablename__ = "notify_job"
    __table_args__ = (Index("ix_notify_job_due", "done_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(String(80))
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    cursor: Mapped[int] = mapped_column(default=0)  # the last user id done
    told: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class ConsentRecord(db.Model):
    """Consent to SMS or WeChat messages, given or withdrawn, with when and how (PIPL art. 14)."""

    __tablename__ = "consent_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel]
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))  # account page, WeChat binding, paper form at the desk ...
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationPref(db.Model):
    """Which channels a person wants per category; no row: the defaults (notify.prefs)."""

    __tablename__ = "notification_pref"
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(20), primary_key=True)
    channels: Mapped[str] = mapped_column(String(64), default="")  # "wechat,sms,email"
