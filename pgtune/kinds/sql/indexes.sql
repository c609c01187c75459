-- Indexes of the declared tables and of their partitions (for those only name, validity and
-- the partitioned index they are attached to matter).
--
-- No pg_get_indexdef() here: it costs 20-40 µs an index (syscache lookups, a scan of
-- pg_opclass per column) and at fleet scale it was most of a plan. For the declared tables'
-- indexes this returns instead what that text is a function of, besides the index's name and
-- table and the table's columns: the access method, the index's relkind (ON ONLY), the pg_index
-- row without its own oids, WITH and per-column opclass options (`shape`, an md5 of them), and
-- expressions and predicate as node trees. kinds/indexes/read.py groups indexes by that and asks pg_get_indexdef()
-- once per group (index_definitions.sql).
SELECT i.indexrelid AS oid, i.indrelid AS table_oid, n.nspname AS schema, c.relname AS name,
       c.relkind = 'I' AS partitioned, i.indisvalid AS valid,
       con.conname AS constraint_name, inh.inhparent AS parent_index,
       d.declared,
       CASE WHEN d.declared THEN quote_ident(c.relname) END AS quoted_name,
       CASE WHEN d.declared THEN md5(concat_ws(' ', c.relam, c.relkind, i.indnatts, i.indnkeyatts, i.indisunique,
            /*nulls_not_distinct*/, i.indkey, i.indclass, i.indcollation, i.indoption,
            c.reloptions, ao.options))
       END AS shape,
       CASE WHEN d.declared THEN i.indexprs::text END AS expressions,
       CASE WHEN d.declared THEN i.indpred::text END AS predicate
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN (SELECT DISTINCT unnest(%(tables)s::oid[]) AS oid) dt ON dt.oid = i.indrelid
CROSS JOIN LATERAL (SELECT dt.oid IS NOT NULL AS declared) d
LEFT JOIN pg_constraint con
    ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_inherits inh ON inh.inhrelid = i.indexrelid
LEFT JOIN (
    SELECT attrelid, string_agg(attnum || '=' || attoptions::text, ',' ORDER BY attnum) AS options
    FROM pg_attribute WHERE attoptions IS NOT NULL GROUP BY attrelid
) ao ON ao.attrelid = i.indexrelid
WHERE i.indrelid = ANY (%(tables)s::oid[]) OR i.indrelid = ANY (%(leaves)s::oid[])
