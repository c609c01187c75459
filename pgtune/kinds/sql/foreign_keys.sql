-- Foreign keys of the declared partitioned tables, both ways (top-level constraints only):
-- `references`: tables the parent points at (ATTACH and DETACH lock them SHARE ROW EXCLUSIVE, a
-- DROP of a retired partition ACCESS EXCLUSIVE: their FK triggers change); `referenced_by`: tables
-- that point at the parent (ATTACH reads them, DETACH locks them ACCESS EXCLUSIVE).
SELECT k.conrelid AS table_oid, 'references' AS direction, n.nspname, c.relname
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.confrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0 AND k.conrelid = ANY (%(tables)s::oid[]) AND k.confrelid <> k.conrelid
UNION
SELECT k.confrelid, 'referenced_by', n.nspname, c.relname
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0 AND k.confrelid = ANY (%(tables)s::oid[]) AND k.confrelid <> k.conrelid
ORDER BY 1, 2, 3, 4
