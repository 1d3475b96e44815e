"""Many rows into one table at once, inside the session's transaction.

For services that create rows by the thousand (seeding, imports): PostgreSQL
gets them through COPY, which costs the server and the client far less per row
than a prepared INSERT per row; other databases get one Core ``executemany``.
Rows are plain dicts that name every column to fill (no Python-side defaults
run); they commit or roll back with the rest of the unit of work.
"""
from sqlalchemy import insert


def insert_rows(session, table, rows):
    """Insert ``rows`` (dicts with the same keys) into ``table``; nothing if empty."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        _copy_rows(connection, table, rows)
    else:
        connection.execute(insert(table), rows)


def _copy_rows(connection, table, rows):
    columns = list(rows[0])
    quote = connection.dialect.identifier_preparer
    statement = (f"COPY {quote.format_table(table)} "
                 f"({', '.join(quote.quote(name) for name in columns)}) FROM STDIN")
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
