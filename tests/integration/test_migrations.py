"""The migrations build exactly the schema the models describe, on every backend."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import inspect

from crm.extensions import db


def _context(conn):
    return MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True,
                                                  "render_as_batch": True})


def test_upgrade_from_empty_matches_the_models(app, backend):
    """The app fixture ran `flask db upgrade` on an empty database; nothing is left to autogenerate."""
    with db.engine.connect() as conn:
        diff = compare_metadata(_context(conn), db.metadata)
    assert diff == [], f"{backend}: the models and the migrations differ: {diff}"


def test_database_is_at_the_single_head(app):
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"
    with db.engine.connect() as conn:
        assert _context(conn).get_current_heads() == tuple(heads)


def test_every_model_table_exists_with_its_columns(app):
    inspector = inspect(db.engine)
    for table in db.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name


def test_no_plaintext_column_for_encrypted_values(app):
    """Every column of a sensitive value is a binary `_ct` column; no `email`, `phone`, ... column."""
    inspector = inspect(db.engine)
    contact_columns = {c["name"]: c for c in inspector.get_columns("contact")}
    for name in ("full_name", "email", "phone", "messenger", "city", "country", "notes", "skills", "languages",
                 "availability"):
        assert name not in contact_columns
        assert f"{name}_ct" in contact_columns
        assert contact_columns[f"{name}_ct"]["type"].python_type is bytes


def test_the_comparison_does_see_a_difference(app):
    """Guard for the test above: a model change without a migration is reported."""
    from sqlalchemy import Column, MetaData, String

    changed = MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["contact"].append_column(Column("nickname", String(40)))
    with db.engine.connect() as conn:
        diff = compare_metadata(_context(conn), changed)
    assert [(d[0], d[3].name) for d in diff if d[0] == "add_column"] == [("add_column", "nickname")]
