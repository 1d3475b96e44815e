"""Many rows at once, inside the session's transaction.

``among`` selects rows by a long list of ids. ``insert_rows`` is for services
that create rows by the thousand (seeding, imports): PostgreSQL gets them through
COPY, which costs the server and the client far less per row than a prepared
INSERT per row; other databases get one Core ``executemany``.
Rows are plain dicts with the same keys; a column they leave out gets its
Python-side default (``default=utcnow``...) here, as a Core insert would. The
rows commit or roll back with the rest of the unit of work.
"""
from sqlalchemy import DateTime, LargeBinary, any_, bindparam, insert
from sqlalchemy.dialects.postgresql import ARRAY


def among(session, column, values):
    """``column IN values`` for a long list: one array parameter on PostgreSQL.

    An expanding ``IN`` sends one parameter per value; psycopg re-parses any statement
    of more than 50 parameters on every execution (its statement cache skips them)
    and PostgreSQL parses and plans each one. ``= ANY(array)`` is one parameter and
    one plan. SQLite keeps the plain ``IN``.
    """
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def core_rows(session, query):
    """Run a SELECT of plain columns on the session's connection, inside its transaction.

    ``session.execute`` would hand every row of the result through the ORM's loading
    machinery although no object is built (the follow-up rules' stage-change query took
    a fifth less time without it, decision 0031). Flushes first, as autoflush would.
    """
    session.flush()
    return session.connection().execute(query)


def insert_rows(session, table, rows):
    """Insert ``rows`` (dicts with the same keys) into ``table``; nothing if empty."""
    if not rows:
        return
    rows = _with_defaults(table, rows)
    session.flush()  # rows may refer to objects still pending in the session
    connection = session.connection()
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        _copy_rows(connection, table, rows)
    else:
        _executemany(connection, table, rows)


def _executemany(connection, table, rows):
    """One ``executemany`` of the compiled INSERT, each value through its type's bind processor.

    What ``connection.execute(insert(table), rows)`` sends, without building a parameter
    dict per row on the way (a third of an import batch's insert time on SQLite).
    """
    bound = _bind(connection.dialect, table, rows)
    if bound is None:
        connection.execute(insert(table), rows)
    else:
        connection.exec_driver_sql(*bound)


def prebinds(dialect):
    """Whether ``insert_rows`` takes this dialect's rows through ``bind`` (SQLite; not COPY)."""
    return dialect.name == "sqlite"


def bind(dialect, table, rows):
    """(INSERT statement, parameter tuples) of ``rows`` for ``insert_bound``, with the Python
    defaults ``insert_rows`` would add ((None, []) for no rows); None where this dialect
    inserts otherwise.

    Needs no connection: an import binds its rows in its preparing process (decision 0030).
    """
    if not prebinds(dialect):
        return None
    if not rows:
        return None, []
    bound = _bind(dialect, table, _with_defaults(table, rows))
    if bound is None:
        raise TypeError(f"the INSERT into {table.name} does not take positional parameters")
    return bound


def insert_bound(session, statement, params):
    """Insert what ``bind`` returned; nothing if ``params`` is empty."""
    if params:
        session.flush()
        session.connection().exec_driver_sql(statement, params)


def _bind(dialect, table, rows):
    columns = tuple(rows[0])
    key = (table, columns, dialect)
    entry = _COMPILED.get(key)
    if entry is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        # SQLAlchemy internals (pinned version): without them, the plain Core insert.
        order = getattr(compiled, "positiontup", None)
        processors = getattr(compiled, "_bind_processors", None)
        if order is None or processors is None or sorted(order) != sorted(columns):
            entry = False  # named paramstyle, defaults to run, or another SQLAlchemy
        else:
            entry = (compiled.string, [(name, _processor(dialect, table.c[name].type, processors.get(name)),
                                        isinstance(table.c[name].type, DateTime)) for name in order])
        _COMPILED[key] = entry
    if entry is False:
        return None
    statement, processed = entry
    columns = [_bound_column(rows, name, process, memo) for name, process, memo in processed]
    return statement, list(zip(*columns))


def _processor(dialect, type_, process):
    """The bind processor of a column; none for SQLite's blobs (sqlite3 takes ``bytes`` as they
    are: the processor wraps each in a memoryview, which cannot be handed to another process)."""
    if dialect.name == "sqlite" and isinstance(type_, LargeBinary):
        return None
    return process


def _bound_column(rows, name, process, memo):
    """One column's values through its bind processor (column by column: fewer branches).

    A datetime's processor formats a string each call, and a batch's rows share a few
    timestamps (``utcnow()`` once per batch): each distinct one is formatted once.
    """
    values = [row[name] for row in rows]
    if process is None:
        return values
    if not memo:
        return [process(value) for value in values]
    seen = {}
    return [seen[value] if value in seen else seen.setdefault(value, process(value)) for value in values]


_COMPILED = {}  # (table, columns, dialect) -> (SQL, [(column, bind processor)]), or False


def _with_defaults(table, rows):
    """``rows`` with the Python-side defaults of the columns they leave out, as a Core insert adds."""
    defaults = _python_defaults(table, rows[0])
    if not defaults:
        return rows
    return [{**row, **{name: make() for name, make in defaults}} for row in rows]


def _python_defaults(table, present):
    """(column name, value maker) for the columns ``present`` lacks that have a Python default."""
    defaults = []
    for column in table.columns:
        default = column.default
        if column.name in present or default is None or getattr(default, "is_sequence", False):
            continue
        if default.is_callable:
            defaults.append((column.name, lambda d=default: d.arg(None)))
        elif default.is_scalar:
            defaults.append((column.name, lambda d=default: d.arg))
    return defaults


# Built-in types whose binary COPY form psycopg writes from the Python values we keep in
# them: bool, bytea, int8, int2, int4, text, varchar, timestamp, timestamptz, uuid.
_BINARY_COPY_OIDS = frozenset({16, 17, 20, 21, 23, 25, 1043, 1114, 1184, 2950})
_COPY_TYPES = {}  # (table, columns) -> [type oid] for a binary COPY, or None for text


def _copy_rows(connection, table, rows):
    """COPY ``rows`` in; in binary form when every column is of a plain built-in type.

    In text form the client escapes every ciphertext into hex and every timestamp into
    a string, and the server parses them back: the larger part of an import batch's
    COPY time on both sides (decision 0030).
    """
    columns = list(rows[0])
    quote = connection.dialect.identifier_preparer
    statement = (f"COPY {quote.format_table(table)} "
                 f"({', '.join(quote.quote(name) for name in columns)}) FROM STDIN")
    with connection.connection.driver_connection.cursor() as cursor:
        types = _binary_copy_types(cursor, quote.format_table(table), table.name, columns)
        with cursor.copy(statement + (" (FORMAT BINARY)" if types else "")) as copy:
            if types:
                copy.set_types(types)
            for row in rows:
                copy.write_row([row[name] for name in columns])


def _binary_copy_types(cursor, qualified, name, columns):
    key = (name, tuple(columns))
    if key not in _COPY_TYPES:
        cursor.execute("SELECT attname, atttypid::int FROM pg_attribute "
                       "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped", (qualified,))
        oids = dict(cursor.fetchall())
        types = [oids.get(column) for column in columns]
        _COPY_TYPES[key] = types if all(oid in _BINARY_COPY_OIDS for oid in types) else None
    return _COPY_TYPES[key]
