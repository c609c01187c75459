Cluster of 2 nodes for profile "golden-pair": primary <primary>; standby <standby>, streams from <primary>

== primary <primary> ==
Profile "golden-pair" on PostgreSQL 15.18

    ~ setting max_connections: 60 -> 80  [restart required]
        ALTER SYSTEM SET "max_connections" = '80';  -- outside any transaction, lock: none
    ~ setting random_page_cost: 4 -> 1.2
        ALTER SYSTEM SET "random_page_cost" = '1.2';  -- outside any transaction, lock: none
    ~ setting work_mem: 4MB -> 48MB
        ALTER SYSTEM SET "work_mem" = '48MB';  -- outside any transaction, lock: none

Then, once: SELECT pg_reload_conf();

Plan: 0 to create, 3 to update, 0 to delete, 0 to replace.
Restart required: yes

== standby <standby> ==
Profile "golden-pair" on PostgreSQL 15.18

    ~ setting max_connections: 60 -> 80  [restart required]
        ALTER SYSTEM SET "max_connections" = '80';  -- outside any transaction, lock: none
    ~ setting random_page_cost: 4 -> 1.2
        ALTER SYSTEM SET "random_page_cost" = '1.2';  -- outside any transaction, lock: none
    ~ setting work_mem: 4MB -> 48MB
        ALTER SYSTEM SET "work_mem" = '48MB';  -- outside any transaction, lock: none

Then, once: SELECT pg_reload_conf();

Plan: 0 to create, 3 to update, 0 to delete, 0 to replace.
Restart required: yes

Cluster checks:
  ok HOT_STANDBY_MINIMUMS: every standby runs the hot-standby minimums at least as high

Restart order: <standby> (standby), then <primary> (primary).
  Why: max_connections increases: the standbys first (a standby may never run less than its primary).
  Restart one node at a time; before the next, wait until it is back and every standby streams and has replayed the primary's current WAL position (a standby restarted before it replayed the primary's parameter change fails to start).

-- on primary <primary>
-- pgtune apply --dry-run: profile golden-pair, PostgreSQL 15.18
-- ~ setting max_connections
ALTER SYSTEM SET "max_connections" = '80';
-- ~ setting random_page_cost
ALTER SYSTEM SET "random_page_cost" = '1.2';
-- ~ setting work_mem
ALTER SYSTEM SET "work_mem" = '48MB';
SELECT pg_reload_conf();

-- on standby <standby>
-- pgtune apply --dry-run: profile golden-pair, PostgreSQL 15.18
-- ~ setting max_connections
ALTER SYSTEM SET "max_connections" = '80';
-- ~ setting random_page_cost
ALTER SYSTEM SET "random_page_cost" = '1.2';
-- ~ setting work_mem
ALTER SYSTEM SET "work_mem" = '48MB';
SELECT pg_reload_conf();
