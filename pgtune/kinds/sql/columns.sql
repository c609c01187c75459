-- Columns of the declared tables, in order: to check what index definitions refer to, and to
-- list the insertable ones when rows move between partitions.
SELECT attrelid AS table_oid, attname AS name, attgenerated <> '' AS generated
FROM pg_attribute
WHERE attrelid = ANY (%(tables)s::oid[]) AND attnum > 0 AND NOT attisdropped
ORDER BY attrelid, attnum
