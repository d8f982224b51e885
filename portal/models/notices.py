"""Notice board (公告栏) and building bulletins (单元宣传栏): one Notice, scoped by buildings."""
import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Table, Text, and_, or_
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.database import utcnow
from portal.models.people import Building, User


class NoticeCategory(enum.StrEnum):
    NEWS = "news"
    MAINTENANCE = "maintenance"
    FEE_STANDARD = "fee_standard"
    SERVICE_COMMITMENT = "service_commitment"
    SAFETY = "safety"
    EMERGENCY = "emergency"


notice_building = Table(
    "notice_building",
    db.metadata,
    Column("notice_id", ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True),
    Column("building_id", ForeignKey("building.id"), primary_key=True, index=True),
)


class Notice(db.Model):
    __tablename__ = "notice"
    __table_args__ = (
        Index("ix_notice_board", "is_pinned", "publish_at", "id"),
        Index("ix_notice_emergency", "category", "lifted_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown source, as staff typed it
    body_html: Mapped[str] = mapped_column(Text, default="")  # sanitised rendering of body
    category: Mapped[NoticeCategory] = mapped_column(default=NoticeCategory.NEWS)
    is_community_wide: Mapped[bool] = mapped_column(default=True)
    publish_at: Mapped[datetime | None] = mapped_column(index=True)  # None: draft
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    is_pinned: Mapped[bool] = mapped_column(default=False)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str] = mapped_column(String(500), default="")
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    lifted_at: Mapped[datetime | None]  # an emergency lifted by staff before its expiry
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    mailed_at: Mapped[datetime | None]  # email copies written to the outbox
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    buildings: Mapped[list[Building]] = relationship(secondary=notice_building, order_by=Building.name)
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="notice", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    author: Mapped[User] = relationship(foreign_keys=[author_id])

    @property
    def is_emergency(self):
        return self.category == NoticeCategory.EMERGENCY

    def is_published(self, now):
        return self.publish_at is not None and self.publish_at <= now and self.withdrawn_at is None

    def is_current(self, now):
        return self.is_published(now) and (self.expires_at is None or self.expires_at > now)

    @classmethod
    def current_clause(cls, now):
        """is_current() as SQL."""
        return and_(cls.publish_at <= now, cls.withdrawn_at.is_(None), or_(cls.expires_at.is_(None), cls.expires_at > now))

    def state(self, now):
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.publish_at is None:
            return "draft"
        if self.publish_at > now:
            return "scheduled"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "published"


class Blob(db.Model):
    """File content stored once by its SHA-256, so every host sees it and backups are whole."""

    __tablename__ = "blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(db.Model):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"), index=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blob.sha256"))
    filename: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    notice: Mapped[Notice] = relationship(back_populates="attachments")
