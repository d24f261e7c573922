"""One UPDATE for many rows with different values, for the recorder's hot path.

Django's `bulk_update` builds a CASE WHEN per field and row in Python, which cost more CPU
than the probes themselves at a few hundred results a second (measured with py-spy in
`make bench`). This sends one statement per batch, each value adapted by its own field:

- on PostgreSQL, `UPDATE … FROM unnest(%b::type[], …)`: one array parameter per column, so
  the statement's text is the same whatever the batch's size (psycopg parses a statement's
  placeholders anew for every text it has not seen, which a VALUES list with thousands of
  them made the worker's biggest cost after the probes). The arrays go bound on the server
  and in binary: Django's client-side binding writes each as quoted text, 3.6 times the CPU
  (125 rows of 14 columns: 4.5 ms against 1.2 ms). A binary array has one element type:
  each field's own conversion (`get_db_prep_save`: float() for a FloatField, int() for an
  IntegerField…) makes a column's values of one Python type;
- elsewhere (SQLite 3.33+), `UPDATE … FROM (VALUES …)`.
"""

import psycopg
from django.db import connection


def bulk_set(model, objs, fields: list[str], batch_size: int = 500) -> int:
    """Write `fields` of `objs` (saved rows) in one statement per batch; returns rows sent."""
    objs = list(objs)
    if not objs:
        return 0
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    table = connection.ops.quote_name(meta.db_table)
    postgres = connection.vendor == "postgresql"

    def cast(field, n):
        ref = f"v.column{n}"
        return f"CAST({ref} AS {field.db_type(connection)})" if postgres else ref

    assignments = ", ".join(
        f"{connection.ops.quote_name(f.column)} = {cast(f, n + 2)}" for n, f in enumerate(columns)
    )
    where = f"{table}.{connection.ops.quote_name(pk.column)} = {cast(pk, 1)}"
    placeholders = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    if postgres:
        return _bulk_set_unnest(model, objs, columns, batch_size)
    sent = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            params = []
            for obj in batch:
                params.append(pk.get_db_prep_value(obj.pk, connection))
                params.extend(
                    f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns
                )
            values = ", ".join([placeholders] * len(batch))
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v WHERE {where}",  # noqa: S608 - names from the model, values as parameters
                params,
            )
            sent += len(batch)
    return sent


def _bulk_set_unnest(model, objs, columns, batch_size: int) -> int:
    meta = model._meta
    pk = meta.pk
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    fields = [pk, *columns]
    names = [f"c{n}" for n in range(len(fields))]
    arrays = ", ".join(f"%b::{f.db_type(connection)}[]" for f in fields)
    assignments = ", ".join(
        f"{quote(f.column)} = v.{name}" for f, name in zip(columns, names[1:], strict=True)
    )
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "  # noqa: S608 - names from the model, values as parameters
        f"WHERE {table}.{quote(pk.column)} = v.c0"
    )
    sent = 0
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            params = [[pk.get_db_prep_value(obj.pk, connection) for obj in batch]]
            params.extend(
                [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in batch]
                for f in columns
            )
            cursor.execute(sql, params)
            sent += len(batch)
    return sent
