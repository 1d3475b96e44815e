"""Column helpers shared by the models."""
import uuid
from datetime import UTC, datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, Uuid
from sqlalchemy.orm import mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigIntPK = BigInteger().with_variant(Integer, "sqlite")


def utcnow():
    """Timezone-aware now, for column defaults (a callable, never a value)."""
    return datetime.now(UTC)


def uuid_pk():
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def one_of(column, values, name):
    """CHECK constraint: ``column`` holds one of ``values``."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)
