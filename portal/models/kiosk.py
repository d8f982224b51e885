"""Lobby screens (the digital 单元宣传栏 and 公告栏, S2.3): one per building lobby, no login."""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import Building


class Orientation(enum.StrEnum):
    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"


class KioskScreen(db.Model):
    __tablename__ = "kiosk_screen"
    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(String(64), unique=True)
    orientation: Mapped[Orientation] = mapped_column(default=Orientation.LANDSCAPE)
    slide_seconds: Mapped[int] = mapped_column(default=12)
    poll_seconds: Mapped[int] = mapped_column(default=30)
    night_start: Mapped[int | None]  # hour (community time) the screen dims; None: never
    night_end: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    building: Mapped[Building] = relationship()
