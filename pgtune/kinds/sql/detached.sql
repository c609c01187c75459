-- Standalone tables holding names pgtune would give new partitions: a table pgtune detached
-- earlier carries its mark (a CHECK constraint named pgtune_partition_bound) and can be attached
-- again when the profile wants its range back. `same_columns`: the same column names and types,
-- in order, as the parent (what ATTACH PARTITION requires).
SELECT w.i, c.oid, c.relkind, c.relispartition,
       EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid) AS inherits,
       EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c'
               AND k.conname = 'pgtune_partition_bound') AS marked,
       pg_has_role(coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user), c.relowner, 'USAGE') AS owned,
       (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
       IS NOT DISTINCT FROM
       (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = w.parent AND a.attnum > 0 AND NOT a.attisdropped)
       AS same_columns
FROM unnest(%(schemas)b::text[], %(names)b::text[], %(parents)b::oid[]) WITH ORDINALITY AS w(nspname, relname, parent, i)
JOIN pg_namespace n ON n.nspname = w.nspname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.relname
