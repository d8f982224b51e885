"""People and places: buildings, units, departments, users and their sessions."""
import enum
from datetime import datetime
from decimal import Decimal

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.database import SquareMetres, utcnow


class Role(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"  # customer-service staff (客服人员)
    HEAD = "head"  # department head (部门负责人)
    WORKER = "worker"  # other staff (其他工作人员)
    COMMITTEE = "committee"  # owners' committee member (业委会)
    ADMIN = "admin"


class Building(db.Model):
    __tablename__ = "building"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    units: Mapped[list["Unit"]] = relationship(back_populates="building", order_by="Unit.number")


class Unit(db.Model):
    __tablename__ = "unit"
    __table_args__ = (UniqueConstraint("building_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    # The exclusive part's floor area (专有部分面积) in m², as the property register, the survey or
    # the sales contract records it: what owners' decisions count by (民法典 art. 278).
    area: Mapped[Decimal | None] = mapped_column("area_dm2", SquareMetres())
    # Not yet sold, or sold but not handed over, by the developer (建设单位): while no owner is
    # recorded, such units count together as one owner (SPC interpretation on 建筑物区分所有权, art. 9).
    is_unsold: Mapped[bool] = mapped_column(default=False)
    building: Mapped[Building] = relationship(back_populates="units")

    @property
    def label(self):
        return f"{self.building.name} {self.number}"


class Department(db.Model):
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    robot_webhook: Mapped[str] = mapped_column(String(300), default="")  # 企业微信 group robot: its key or URL


class Residency(db.Model):
    """A person holds a unit as owner or occupant (业主/使用人); a person may hold several."""

    __tablename__ = "residency"
    __table_args__ = (UniqueConstraint("user_id", "unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    is_owner: Mapped[bool] = mapped_column(default=True)
    unit: Mapped[Unit] = relationship()


class User(UserMixin, db.Model):
    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[Role] = mapped_column(default=Role.RESIDENT, index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh_Hans")
    wecom_userid: Mapped[str | None] = mapped_column(String(64))  # staff: their 企业微信 member id
    phone_extension: Mapped[str | None] = mapped_column(String(16))  # staff: their extension on the hotline's telephone system
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)  # bound official-account follower
    wechat_bound_at: Mapped[datetime | None]
    sms_consent_at: Mapped[datetime | None]  # PIPL: consent in force since (the history is in consent_record)
    wechat_consent_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    notices_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department | None] = relationship()
    residencies: Mapped[list[Residency]] = relationship(cascade="all, delete-orphan")

    def set_password(self, password):
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password):
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_resident(self):
        return self.role == Role.RESIDENT

    @property
    def is_staff_side(self):
        """Anyone who works in the back office (not residents, not the committee)."""
        return self.role in (Role.STAFF, Role.HEAD, Role.WORKER, Role.ADMIN)

    def get_id(self):
        # Flask-Login keeps the session token, not the user id: see UserSession.
        return getattr(self, "session_token", None)


class UserSession(db.Model):
    """One row per signed-in browser. Logout deletes it; a password change deletes them all."""

    __tablename__ = "user_session"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
