-- Every GUC's metadata and running value, in one round trip.
SELECT name, setting, unit, vartype, context, source, min_val, max_val,
       coalesce(enumvals, '{}') AS enumvals, boot_val, pending_restart
FROM pg_settings
