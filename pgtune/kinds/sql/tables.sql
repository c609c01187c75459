-- Every declared table (schema NULL = resolve through search_path) with its leaf relations:
-- a plain table is its own leaf; a partitioned table's leaves are its partitions at any depth.
-- Each leaf comes with its reloptions and those of its TOAST table.
WITH wanted AS (
    SELECT * FROM unnest(%(keys)s::text[], %(schemas)s::text[], %(names)s::text[]) AS w(key, nspname, relname)
), found AS (
    SELECT w.key, c.oid, n.nspname, c.relname, c.relkind
    FROM wanted w
    JOIN pg_class c ON c.relname = w.relname AND c.relkind IN ('r', 'p', 'm')
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = w.nspname OR (w.nspname IS NULL AND n.nspname = ANY (current_schemas(false)))
)
SELECT f.key, f.oid, f.nspname, f.relname, f.relkind,
       f.relkind = 'p' AND EXISTS (
           SELECT FROM pg_partition_tree(f.oid) t WHERE t.level > 0 AND NOT t.isleaf
       ) AS multilevel,
       l.oid AS leaf_oid, ln.nspname AS leaf_schema, l.relname AS leaf_name,
       coalesce(l.reloptions, '{}') AS reloptions,
       l.reltoastrelid <> 0 AS has_toast,
       coalesce(t.reloptions, '{}') AS toast_reloptions
FROM found f
LEFT JOIN LATERAL (
    SELECT relid FROM pg_partition_tree(f.oid) WHERE isleaf
    UNION SELECT f.oid WHERE f.relkind <> 'p'
) p ON true
LEFT JOIN pg_class l ON l.oid = p.relid
LEFT JOIN pg_namespace ln ON ln.oid = l.relnamespace
LEFT JOIN pg_class t ON t.oid = l.reltoastrelid
ORDER BY f.key, f.nspname, leaf_schema, leaf_name
