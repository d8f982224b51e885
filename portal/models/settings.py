"""Policy settings: every [X] of the policy, with a history of who changed what and when."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.database import utcnow
from portal.models.people import User


class Setting(db.Model):
    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)


class SettingChange(db.Model):
    __tablename__ = "setting_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    old_value: Mapped[object | None] = mapped_column(JSON)
    new_value: Mapped[object] = mapped_column(JSON)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    changed_by: Mapped[User | None] = relationship()
