-- Column names of the declared tables, to check what index definitions refer to.
SELECT attrelid AS table_oid, attname AS name
FROM pg_attribute
WHERE attrelid = ANY (%(tables)s::oid[]) AND attnum > 0 AND NOT attisdropped
