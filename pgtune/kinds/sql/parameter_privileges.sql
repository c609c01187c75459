-- PostgreSQL 15+: may the role applying (plan --privileges-of, else the current one) ALTER SYSTEM / SET these?
SELECT name,
       has_parameter_privilege(coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user), name, 'ALTER SYSTEM') AS may_alter_system,
       has_parameter_privilege(coalesce(nullif(current_setting('pgtune.privileges_of', true), ''), current_user), name, 'SET') AS may_set
FROM unnest(%(names)s::text[]) AS name
