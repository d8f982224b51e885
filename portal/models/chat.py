"""Online customer service (在线客服, S2.1.2): conversations on the portal and through the WeChat
official account, the followers WeChat tells us of, canned replies, what arrives from WeChat and
the telephone system before the worker handles it, and the hotline's calls (S2.1.1)."""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import Unit, User


class ConversationStatus(enum.StrEnum):
    OPEN = "open"  # waiting for customer service
    ASSIGNED = "assigned"  # someone took it
    CLOSED = "closed"


class Sender(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    SYSTEM = "system"  # automatic answers, the ticket number


class WeChatFollower(db.Model):
    """Someone who follows the official account; linked to a resident once bound or matched."""

    __tablename__ = "wechat_follower"
    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    is_following: Mapped[bool] = mapped_column(default=True)
    last_message_at: Mapped[datetime | None]  # WeChat allows 客服消息 for 48 hours after this
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User | None] = relationship()


class Conversation(db.Model):
    __tablename__ = "conversation"
    __table_args__ = (Index("ix_conversation_queue", "status", "waiting_since"), Index("ix_conversation_resident", "resident_id", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), default="portal")  # portal, wechat
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    follower_id: Mapped[int | None] = mapped_column(ForeignKey("wechat_follower.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    status: Mapped[ConversationStatus] = mapped_column(default=ConversationStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    is_urgent: Mapped[bool] = mapped_column(default=False)  # an emergency word was written
    waiting_since: Mapped[datetime | None]  # the resident's first message since staff last answered
    last_message_id: Mapped[int] = mapped_column(default=0)  # the ETag of the polls
    last_message_at: Mapped[datetime | None]
    resident_seen_id: Mapped[int] = mapped_column(default=0)  # the last message the resident saw
    auto_answered_at: Mapped[datetime | None]  # the out-of-hours answer, once per night
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    resident: Mapped[User | None] = relationship(foreign_keys=[resident_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    follower: Mapped[WeChatFollower | None] = relationship()
    unit: Mapped[Unit | None] = relationship()
    messages: Mapped[list["ChatMessage"]] = relationship(back_populates="conversation", order_by="ChatMessage.id", cascade="all, delete-orphan")

    @property
    def is_open(self):
        return self.status != ConversationStatus.CLOSED


class ChatMessage(db.Model):
    __tablename__ = "chat_message"
    __table_args__ = (Index("ix_chat_message_conversation", "conversation_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    sender: Mapped[Sender]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="text")  # text, image, voice, location
    photo_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"))
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # location, WeChat media id
    wechat_msg_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # a retried message is stored once
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()


class CannedReply(db.Model):
    __tablename__ = "canned_reply"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)


class InboundEvent(db.Model):
    """What WeChat or the telephone system sent, stored as it came and answered at once; the
    worker does the rest. One row per message or event: a retry is stored once."""

    __tablename__ = "inbound_event"
    __table_args__ = (Index("ix_inbound_due", "processed_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # wechat
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")


class Call(db.Model):
    """A call to the hotline, from the telephone system's events: ringing, answered, ended."""

    __tablename__ = "call"
    __table_args__ = (Index("ix_call_recent", "ringing_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), unique=True)
    caller: Mapped[str] = mapped_column(String(32), index=True)
    line: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(32), default="")  # the extension that answered
    state: Mapped[str] = mapped_column(String(16), default="ringing")  # ringing, answered, ended
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    ringing_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    record_id: Mapped[int | None] = mapped_column(ForeignKey("comm_record.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # the caller screen's ETag
    resident: Mapped[User | None] = relationship(foreign_keys=[resident_id])
    taken_by: Mapped[User | None] = relationship(foreign_keys=[taken_by_id])
