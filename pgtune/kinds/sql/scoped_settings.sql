-- Per-database and per-role defaults (not role-in-database pairs), plus which of the named
-- databases and roles exist and whether the current role may alter them.
SELECT 'database' AS scope, d.datname AS target, pg_has_role(coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user), d.datdba, 'USAGE') AS may_alter,
       coalesce(s.setconfig, '{}') AS setconfig, pg_get_userbyid(d.datdba) AS owner
FROM pg_database d
LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
UNION ALL
SELECT 'role', r.rolname,
       (SELECT rolsuper OR (rolcreaterole AND NOT r.rolsuper) FROM pg_roles WHERE rolname = coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user)),
       coalesce(s.setconfig, '{}'), NULL
FROM pg_roles r
LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0
WHERE r.rolname !~ '^pg_'
