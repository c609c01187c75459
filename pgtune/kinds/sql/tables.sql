-- Every declared table (schema NULL = resolve through search_path) with its leaf relations:
-- a plain table is its own leaf; a partitioned table's leaves are its partitions at any depth.
-- Each leaf comes with its reloptions and those of its TOAST table. Partition trees are walked
-- in pg_inherits with one recursive query: pg_partition_tree() per table would cost a catalog
-- scan and an ACCESS SHARE lock per partition, and at thousands of tables most of the plan.
WITH wanted AS (
    SELECT * FROM unnest(%(keys)s::text[], %(schemas)s::text[], %(names)s::text[]) AS w(key, nspname, relname)
), found AS (
    SELECT w.key, c.oid, n.nspname, c.relname, c.relkind
    FROM wanted w
    JOIN pg_class c ON c.relname = w.relname AND c.relkind IN ('r', 'p', 'm')
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = w.nspname OR (w.nspname IS NULL AND n.nspname = ANY (current_schemas(false)))
), tree AS (
    WITH RECURSIVE walk(root, relid, level, relkind) AS (
        SELECT DISTINCT oid, oid, 0, relkind FROM found WHERE relkind = 'p'
        UNION ALL
        SELECT w.root, i.inhrelid, w.level + 1, c.relkind
        FROM walk w
        JOIN pg_inherits i ON i.inhparent = w.relid
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE w.relkind = 'p'
    )
    SELECT root, relid, level, relkind <> 'p' AS isleaf FROM walk
), multi AS (
    SELECT root, bool_or(level > 0 AND NOT isleaf) AS multilevel FROM tree GROUP BY root
), leaves AS (
    SELECT root, relid FROM tree WHERE isleaf
    UNION ALL
    SELECT oid, oid FROM found WHERE relkind <> 'p'
)
SELECT f.key, f.oid, f.nspname, f.relname, f.relkind,
       quote_ident(f.nspname) || '.' || quote_ident(f.relname) AS quoted,
       coalesce(m.multilevel, false) AS multilevel,
       l.oid AS leaf_oid, ln.nspname AS leaf_schema, l.relname AS leaf_name,
       coalesce(l.reloptions, '{}') AS reloptions,
       l.reltoastrelid <> 0 AS has_toast,
       coalesce(t.reloptions, '{}') AS toast_reloptions
FROM found f
LEFT JOIN multi m ON m.root = f.oid
LEFT JOIN (SELECT DISTINCT root, relid FROM leaves) p ON p.root = f.oid
LEFT JOIN pg_class l ON l.oid = p.relid
LEFT JOIN pg_namespace ln ON ln.oid = l.relnamespace
LEFT JOIN pg_class t ON t.oid = l.reltoastrelid
