"""`flask db upgrade` builds exactly the schema the models describe (SQLite, and PostgreSQL when set)."""
import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db


def _pg_scratch_database():
    import psycopg

    base = os.environ["TEST_DATABASE_URL"]
    name = f"portal_mig_{uuid.uuid4().hex[:8]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name, admin, name


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_matches_the_models(tmp_path, backend):
    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
            assert diff == []
            db.engine.dispose()
    finally:
        if cleanup:
            import psycopg

            with psycopg.connect(cleanup[0], autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{cleanup[1]}" WITH (FORCE)')


def test_seed_demo_loads_a_chinese_community(app):
    from sqlalchemy import func, select

    from portal.models import Building, Department, Notice, Role, Unit, User
    from portal.services import demo

    demo.seed()
    db.session.commit()
    assert db.session.scalar(select(func.count(Building.id))) >= 3
    assert db.session.scalar(select(func.count(Unit.id))) >= 200
    assert db.session.scalar(select(func.count(User.id)).where(User.role == Role.RESIDENT)) >= 200
    names = set(db.session.scalars(select(Department.name)))
    assert {"客服中心", "工程维修部", "秩序维护部", "环境保洁部", "绿化部", "财务部"} <= names
    categories = set(db.session.scalars(select(Notice.category)))
    assert len(categories) == 6
    assert db.session.scalar(select(func.count(Notice.id)).where(Notice.is_community_wide.is_(False))) >= 6
