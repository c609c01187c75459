-- PostgreSQL 15+: may the current role ALTER SYSTEM / SET these parameters?
SELECT name,
       has_parameter_privilege(name, 'ALTER SYSTEM') AS may_alter_system,
       has_parameter_privilege(name, 'SET') AS may_set
FROM unnest(%(names)s::text[]) AS name
