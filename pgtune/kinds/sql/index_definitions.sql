-- pg_get_indexdef() of the given indexes: one index of each shape (see indexes.sql).
SELECT d.oid, pg_get_indexdef(d.oid) AS definition FROM unnest(%(oids)s::oid[]) AS d(oid)
