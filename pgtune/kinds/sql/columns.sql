-- Columns of the declared tables, in order: to check what index definitions refer to, to list
-- the insertable ones when rows move between partitions, and (attnum, type, typmod, collation)
-- as the part of an index's shape that its table contributes (see indexes.sql).
SELECT attrelid AS table_oid, attname AS name, attgenerated <> '' AS generated,
       attnum, atttypid AS type_oid, atttypmod AS typmod, attcollation AS collation
FROM pg_attribute
WHERE attrelid = ANY (%(tables)s::oid[]) AND attnum > 0 AND NOT attisdropped
ORDER BY attrelid, attnum
