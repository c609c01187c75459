-- The time ranges each range-partitioned table must have, computed by the server so that
-- date_trunc, month ends and daylight-saving days follow PostgreSQL in the session's time zone:
-- from the start (or now's period) to now's period + premake intervals. Also the retention cutoff.
WITH clock AS (
    SELECT coalesce(%(as_of)s::timestamptz, now()) AS now
), w AS (
    SELECT * FROM unnest(%(tables)s::oid[], %(truncs)s::text[], %(steps)s::interval[], %(starts)s::text[],
                         %(premakes)s::int[], %(retentions)s::interval[])
        AS w(table_oid, trunc, step, start, premake, retention)
)
SELECT w.table_oid, b AS lower, b + w.step AS upper, clock.now - w.retention AS cutoff, clock.now
FROM w CROSS JOIN clock
CROSS JOIN LATERAL generate_series(
    date_trunc(w.trunc, least(coalesce(w.start::timestamptz, clock.now), clock.now)),
    date_trunc(w.trunc, clock.now) + w.premake * w.step,
    w.step
) AS b
ORDER BY w.table_oid, b
