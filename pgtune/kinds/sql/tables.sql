-- Every declared table (schema NULL = resolve through search_path) with its leaf relations:
-- a plain table is its own leaf; a partitioned table's leaves are its partitions at any depth.
-- Each leaf comes with its reloptions and those of its TOAST table, and whether the current role
-- owns it (ALTER TABLE, CREATE INDEX need that) and may CREATE in the table's schema (partitions). Partition trees are walked
-- in pg_inherits with one recursive query: pg_partition_tree() per table would cost a catalog
-- scan and an ACCESS SHARE lock per partition, and at thousands of tables most of the plan.
-- Arrays are sent in binary (%%b): psycopg dumps them element by element, half as fast as text.
WITH wanted AS (
    SELECT * FROM unnest(%(keys)b::text[], %(schemas)b::text[], %(names)b::text[]) AS w(key, nspname, relname)
), spaces AS (  -- the schemas each name may be in: its own, or those of the search path
    SELECT w.key, w.relname, n.oid AS nsp, n.nspname
    FROM wanted w JOIN pg_namespace n ON n.nspname = w.nspname
    UNION ALL
    SELECT w.key, w.relname, n.oid, n.nspname
    FROM wanted w JOIN pg_namespace n ON n.nspname = ANY (current_schemas(false))
    WHERE w.nspname IS NULL
), found AS (
    SELECT s.key, c.oid, s.nspname, c.relname, c.relkind, c.reloptions, c.reltoastrelid,
           quote_ident(s.nspname) || '.' || quote_ident(c.relname) AS quoted,
           pg_has_role(coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user), c.relowner, 'USAGE') AS owned,
           has_schema_privilege(coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user), s.nsp, 'CREATE') AS may_create
    FROM spaces s
    JOIN pg_class c ON c.relname = s.relname AND c.relnamespace = s.nsp
    WHERE c.relkind IN ('r', 'p', 'm')
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
)
-- Plain tables are their own leaf; partitioned ones get a row per leaf (or one without).
-- Two branches rather than a join with a CTE of leaves: the planner cannot estimate these CTEs
-- and a nested loop over them was quadratic in the number of tables.
SELECT f.key, f.oid, f.nspname, f.relname, f.relkind, f.quoted, f.owned, f.may_create,
       false AS multilevel,
       f.oid AS leaf_oid, f.nspname AS leaf_schema, f.relname AS leaf_name, f.owned AS leaf_owned,
       coalesce(f.reloptions, '{}') AS reloptions,
       f.reltoastrelid <> 0 AS has_toast,
       coalesce(t.reloptions, '{}') AS toast_reloptions
FROM found f
LEFT JOIN pg_class t ON t.oid = f.reltoastrelid
WHERE f.relkind <> 'p'
UNION ALL
SELECT f.key, f.oid, f.nspname, f.relname, f.relkind, f.quoted, f.owned, f.may_create,
       coalesce(m.multilevel, false),
       l.oid, ln.nspname, l.relname, pg_has_role(coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user), l.relowner, 'USAGE'),
       coalesce(l.reloptions, '{}'),
       l.reltoastrelid <> 0,
       coalesce(t.reloptions, '{}')
FROM found f
LEFT JOIN multi m ON m.root = f.oid
LEFT JOIN (SELECT DISTINCT root, relid FROM tree WHERE isleaf) p ON p.root = f.oid
LEFT JOIN pg_class l ON l.oid = p.relid
LEFT JOIN pg_namespace ln ON ln.oid = l.relnamespace
LEFT JOIN pg_class t ON t.oid = l.reltoastrelid
WHERE f.relkind = 'p'
