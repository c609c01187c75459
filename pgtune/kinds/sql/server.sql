-- One row about the server and the role that applies (plan --privileges-of ROLE, else the connected
-- one): version, its privileges, config load time. Reading (pg_file_settings, hidden settings,
-- server files) stays the connected role's: it is the one reading.
SELECT current_setting('server_version') AS version,
       current_setting('server_version_num')::int AS version_num,
       r.rolname AS current_user,
       current_user AS reader,
       r.rolsuper AS superuser,
       r.rolcreaterole AS createrole,
       has_function_privilege('pg_show_all_file_settings()', 'EXECUTE')
           AND has_table_privilege('pg_catalog.pg_file_settings', 'SELECT') AS can_read_file_settings,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS reader_superuser,
       pg_has_role(current_user, 'pg_read_all_settings', 'MEMBER') AS can_read_all_settings,
       has_function_privilege(r.rolname, 'pg_reload_conf()', 'EXECUTE') AS can_reload,
       ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
            OR pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'))
           AND has_table_privilege('pg_catalog.pg_config', 'SELECT')
           AND has_function_privilege('pg_catalog.pg_config()', 'EXECUTE')
           AND has_function_privilege('pg_catalog.pg_stat_file(text, boolean)', 'EXECUTE') AS can_look_at_files,
       pg_conf_load_time() AS conf_load_time
FROM pg_roles r
WHERE r.rolname = coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user)
