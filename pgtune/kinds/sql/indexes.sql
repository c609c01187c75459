-- Indexes of the declared tables (with their definitions) and of their partitions (without:
-- for those only name, validity and the partitioned index they are attached to matter).
-- Plus any relation holding a name the profile wants for an index, to report collisions.
SELECT i.indexrelid AS oid, i.indrelid AS table_oid, n.nspname AS schema, c.relname AS name,
       c.relkind = 'I' AS partitioned, i.indisvalid AS valid,
       CASE WHEN i.indrelid = ANY (%(tables)s::oid[]) THEN pg_get_indexdef(i.indexrelid) END AS definition,
       con.conname AS constraint_name, con.contype AS constraint_type,
       inh.inhparent AS parent_index
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_inherits inh ON inh.inhrelid = i.indexrelid
WHERE i.indrelid = ANY (%(tables)s::oid[]) OR i.indrelid = ANY (%(leaves)s::oid[])
ORDER BY n.nspname, c.relname
