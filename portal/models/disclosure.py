"""The disclosure board (信息公示, S2.3.1): the fee standard, the service commitments, the service
hours and contacts, and the department heads, each a section whose every edit is a new version."""
import enum
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.notices import Notice
from portal.models.people import User


class DisclosureSection(enum.StrEnum):
    FEES = "fees"  # 收费标准
    COMMITMENTS = "commitments"  # 服务承诺
    HOURS = "hours"  # 服务时间与联系方式
    HEADS = "heads"  # 各部门负责人


class DisclosureVersion(db.Model):
    """One version of one section, never changed once written: the newest is the current one (for
    the fee standard: the newest of those whose effective day has come)."""

    __tablename__ = "disclosure_version"
    __table_args__ = (
        UniqueConstraint("section", "number"),
        Index("ix_disclosure_version_in_force", "section", "effective_on", "number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    section: Mapped[DisclosureSection]
    number: Mapped[int]  # 1, 2, ... within the section
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown source, as staff typed it
    body_html: Mapped[str] = mapped_column(Text, default="")  # its sanitised rendering
    fees: Mapped[list | None] = mapped_column(JSON)  # the fee table: [{"item", "scope", "price", "unit", "note"}], prices as text
    effective_on: Mapped[date | None]  # the fee standard: the community's day it applies from
    note: Mapped[str] = mapped_column(String(300), default="")  # what changed, in the editor's words
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id", ondelete="SET NULL"))  # its announcement on the board
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("disclosure_version.id"))  # the version it took the place of
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    created_by: Mapped[User] = relationship()
    notice: Mapped[Notice | None] = relationship()
    previous: Mapped["DisclosureVersion | None"] = relationship(remote_side="DisclosureVersion.id")
