"""PostgreSQL plans every query with its values: no server-side prepared statements.

psycopg prepares a statement after five runs, and PostgreSQL may then use a generic
plan blind to the values; for the triage queue filtered by path and stage that
plan was eight times slower (docs/performance.md). ``crm._plan_every_query`` turns
preparing off.
"""
import pytest
from sqlalchemy import select, text

from crm.extensions import db
from crm.models import Contact, PathChoice


def test_repeated_queries_are_never_prepared(backend):
    if backend != "postgresql":
        pytest.skip("psycopg and PostgreSQL only")
    with db.engine.connect() as conn:
        for _ in range(12):
            conn.execute(select(Contact.id).where(Contact.status == "new", Contact.id.in_(
                select(PathChoice.contact_id).where(PathChoice.path == "volunteering"))).limit(5)).all()
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar() == 0
