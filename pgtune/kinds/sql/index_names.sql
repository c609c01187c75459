-- Relations that hold a name the profile declares for an index, wherever they belong.
SELECT n.nspname AS schema, c.relname AS name, c.relkind, i.indrelid AS table_oid,
       format('%%I.%%I', tn.nspname, t.relname) AS table_name
FROM unnest(%(schemas)b::text[], %(names)b::text[]) AS w(nspname, relname)
JOIN pg_namespace n ON n.nspname = w.nspname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.relname
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
