-- What the configuration files say now (re-read on every query); the last row per name wins.
SELECT name, setting, sourcefile, seqno, applied, error
FROM pg_file_settings
WHERE name IS NOT NULL
ORDER BY seqno
