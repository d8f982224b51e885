"""Version counters that let every worker on every host keep cheap in-process caches coherent."""
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class CacheVersion(db.Model):
    __tablename__ = "cache_version"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
