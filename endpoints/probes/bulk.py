"""One UPDATE for many rows with different values, for the recorder's hot path.

Django's `bulk_update` builds a CASE WHEN per field and row in Python, which cost more CPU
than the probes themselves at a few hundred results a second (measured with py-spy in
`make bench`). This sends `UPDATE … FROM (VALUES …)`, which PostgreSQL and SQLite (3.33+)
both understand, with each value adapted by its own field.
"""

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
