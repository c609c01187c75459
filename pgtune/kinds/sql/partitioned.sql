-- Layout of the declared partitioned tables: strategy, key column and type, default partition,
-- and every direct child with its bound (as the server prints it) and a pending concurrent detach
-- (pg_inherits.inhdetachpending, PostgreSQL 14+: filled in by the caller for the server's version).
SELECT p.partrelid AS table_oid, p.partstrat AS strategy, p.partnatts AS key_count,
       p.partexprs IS NOT NULL AS key_is_expression,
       a.attname AS key_column, format_type(a.atttypid, a.atttypmod) AS key_type,
       p.partdefid AS default_oid,
       c.oid AS child_oid, cn.nspname AS child_schema, c.relname AS child_name, c.relkind AS child_relkind,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       /*detach_pending*/ AS detach_pending
FROM pg_partitioned_table p
LEFT JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
LEFT JOIN pg_inherits i ON i.inhparent = p.partrelid
LEFT JOIN pg_class c ON c.oid = i.inhrelid
LEFT JOIN pg_namespace cn ON cn.oid = c.relnamespace
WHERE p.partrelid = ANY (%(tables)s::oid[])
ORDER BY p.partrelid, cn.nspname, c.relname
