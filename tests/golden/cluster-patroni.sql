Cluster of 2 nodes for profile "golden-patroni": primary <leader>; standby <replica>, streams from <leader>

== primary <leader> ==
No changes. The server matches profile "golden-patroni" (PostgreSQL 15.18).

== standby <replica> ==
No changes. The server matches profile "golden-patroni" (PostgreSQL 15.18).

== Patroni: the cluster's configuration (every member), through PATCH /config ==
Profile "golden-patroni" on PostgreSQL 15.18

    ~ setting patroni/max_connections: <current> -> <raised>  [restart required]
        -- Patroni REST API: PATCH /config {"postgresql": {"parameters": {"max_connections": "<raised>"}}}
    ~ setting patroni/work_mem: (not set) -> 48MB
        note: not in Patroni's configuration; the members run 4MB
        -- Patroni REST API: PATCH /config {"postgresql": {"parameters": {"work_mem": "48MB"}}}

Plan: 0 to create, 2 to update, 0 to delete, 0 to replace.
Restart required: yes

Cluster checks:
  ok HOT_STANDBY_MINIMUMS: every standby runs the hot-standby minimums at least as high

Restart order: <replica> (standby), then <leader> (primary).
  Why: max_connections increases: the standbys first (a standby may never run less than its primary).
  Restart one node at a time; before the next, wait until it is back and every standby streams and has replayed the primary's current WAL position (a standby restarted before it replayed the primary's parameter change fails to start).

-- through Patroni
-- pgtune apply --dry-run: profile golden-patroni, PostgreSQL 15.18
-- ~ setting patroni/max_connections
-- Patroni REST API: PATCH /config {"postgresql": {"parameters": {"max_connections": "<raised>"}}}
-- ~ setting patroni/work_mem
-- Patroni REST API: PATCH /config {"postgresql": {"parameters": {"work_mem": "48MB"}}}
