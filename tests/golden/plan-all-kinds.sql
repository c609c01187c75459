-- pgtune apply --dry-run: profile golden, PostgreSQL <version>
-- ~ setting jit
ALTER SYSTEM SET "jit" = 'off';
-- ~ setting random_page_cost
ALTER SYSTEM SET "random_page_cost" = '1.1';
-- ~ setting shared_buffers
ALTER SYSTEM SET "shared_buffers" = '256MB';
-- - setting statement_timeout
ALTER SYSTEM RESET "statement_timeout";
-- ~ setting work_mem
ALTER SYSTEM SET "work_mem" = '64MB';
-- ~ setting database:postgres/maintenance_work_mem
ALTER DATABASE "postgres" SET "maintenance_work_mem" = '128MB';
-- ~ setting database:postgres/work_mem
ALTER DATABASE "postgres" SET "work_mem" = '32MB';
-- ~ setting role:pgtune_test_golden/statement_timeout
ALTER ROLE "pgtune_test_golden" SET "statement_timeout" = '30s';
-- ~ storage letta.messages
BEGIN;
ALTER TABLE "letta"."messages" SET (autovacuum_vacuum_scale_factor = '0.05');
ALTER TABLE "letta"."messages" RESET (fillfactor);
COMMIT;
-- ~ storage letta.messages_by_month_default
ALTER TABLE "letta"."messages_by_month_default" SET (autovacuum_vacuum_scale_factor = '0.02');
-- ~ storage letta.messages_by_month_p2026_01
ALTER TABLE "letta"."messages_by_month_p2026_01" SET (autovacuum_vacuum_scale_factor = '0.02');
-- ~ storage letta.messages_by_month_p2026_10
ALTER TABLE "letta"."messages_by_month_p2026_10" SET (autovacuum_vacuum_scale_factor = '0.02');
-- ~ storage letta.messages_by_month_p2026_11
ALTER TABLE "letta"."messages_by_month_p2026_11" SET (autovacuum_vacuum_scale_factor = '0.02');
-- -/+ index letta.ix_messages_run_sequence
CREATE INDEX CONCURRENTLY "ix_messages_run_sequence_pgtune_new" ON "letta"."messages" USING "btree" (run_id, sequence_id);
DROP INDEX CONCURRENTLY "letta"."ix_messages_run_sequence";
ALTER INDEX "letta"."ix_messages_run_sequence_pgtune_new" RENAME TO "ix_messages_run_sequence";
-- + index letta.ix_messages_agent_errors
CREATE INDEX CONCURRENTLY "ix_messages_agent_errors" ON "letta"."messages" USING "btree" (agent_id, created_at) INCLUDE ("run_id") WHERE is_err = TRUE;
-- + index letta.ix_messages_by_month_agent
CREATE INDEX "ix_messages_by_month_agent" ON ONLY "letta"."messages_by_month" USING "btree" (agent_id, created_at);
CREATE INDEX CONCURRENTLY "messages_by_month_default_ix_messages_by_month_agent_c8342b" ON "letta"."messages_by_month_default" USING "btree" (agent_id, created_at);
ALTER INDEX "letta"."ix_messages_by_month_agent" ATTACH PARTITION "letta"."messages_by_month_default_ix_messages_by_month_agent_c8342b";
CREATE INDEX CONCURRENTLY "messages_by_month_p2026_01_ix_messages_by_month_agent_c8342b" ON "letta"."messages_by_month_p2026_01" USING "btree" (agent_id, created_at);
ALTER INDEX "letta"."ix_messages_by_month_agent" ATTACH PARTITION "letta"."messages_by_month_p2026_01_ix_messages_by_month_agent_c8342b";
CREATE INDEX CONCURRENTLY "messages_by_month_p2026_10_ix_messages_by_month_agent_c8342b" ON "letta"."messages_by_month_p2026_10" USING "btree" (agent_id, created_at);
ALTER INDEX "letta"."ix_messages_by_month_agent" ATTACH PARTITION "letta"."messages_by_month_p2026_10_ix_messages_by_month_agent_c8342b";
CREATE INDEX CONCURRENTLY "messages_by_month_p2026_11_ix_messages_by_month_agent_c8342b" ON "letta"."messages_by_month_p2026_11" USING "btree" (agent_id, created_at);
ALTER INDEX "letta"."ix_messages_by_month_agent" ATTACH PARTITION "letta"."messages_by_month_p2026_11_ix_messages_by_month_agent_c8342b";
-- - index letta.ix_messages_obsolete
DROP INDEX CONCURRENTLY "letta"."ix_messages_obsolete";
-- + partition letta.messages_by_month_p2026_02
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_02" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_02" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-02-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-03-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_02" FOR VALUES FROM ('2026-02-01 00:00:00+00:00'::timestamptz) TO ('2026-03-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_02" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_03
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_03" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_03" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-03-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-04-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_03" FOR VALUES FROM ('2026-03-01 00:00:00+00:00'::timestamptz) TO ('2026-04-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_03" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_04
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_04" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_04" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-04-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-05-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_04" FOR VALUES FROM ('2026-04-01 00:00:00+00:00'::timestamptz) TO ('2026-05-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_04" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_05
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_05" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_05" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-05-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-06-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_05" FOR VALUES FROM ('2026-05-01 00:00:00+00:00'::timestamptz) TO ('2026-06-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_05" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_06
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_06" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_06" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-06-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-07-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_06" FOR VALUES FROM ('2026-06-01 00:00:00+00:00'::timestamptz) TO ('2026-07-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_06" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_07
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_07" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_07" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-07-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-08-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_07" FOR VALUES FROM ('2026-07-01 00:00:00+00:00'::timestamptz) TO ('2026-08-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_07" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_08
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_08" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_08" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-08-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-09-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_08" FOR VALUES FROM ('2026-08-01 00:00:00+00:00'::timestamptz) TO ('2026-09-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_08" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_09
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_09" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_09" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-09-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-10-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_09" FOR VALUES FROM ('2026-09-01 00:00:00+00:00'::timestamptz) TO ('2026-10-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_09" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2026_12
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2026_12" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2026_12" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-12-01 00:00:00+00:00'::timestamptz AND "created_at" < '2027-01-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2026_12" FOR VALUES FROM ('2026-12-01 00:00:00+00:00'::timestamptz) TO ('2027-01-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2026_12" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2027_01
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2027_01" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2027_01" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2027-01-01 00:00:00+00:00'::timestamptz AND "created_at" < '2027-02-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2027_01" FOR VALUES FROM ('2027-01-01 00:00:00+00:00'::timestamptz) TO ('2027-02-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2027_01" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.messages_by_month_p2027_02
BEGIN;
CREATE TABLE "letta"."messages_by_month_p2027_02" (LIKE "letta"."messages_by_month" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) WITH (autovacuum_vacuum_scale_factor = '0.02');
ALTER TABLE "letta"."messages_by_month_p2027_02" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2027-02-01 00:00:00+00:00'::timestamptz AND "created_at" < '2027-03-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month" ATTACH PARTITION "letta"."messages_by_month_p2027_02" FOR VALUES FROM ('2027-02-01 00:00:00+00:00'::timestamptz) TO ('2027-03-01 00:00:00+00:00'::timestamptz);
ALTER TABLE "letta"."messages_by_month_p2027_02" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.tenants_data_org_b
BEGIN;
CREATE TABLE "letta"."tenants_data_org_b" (LIKE "letta"."tenants_data" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED);
ALTER TABLE "letta"."tenants_data_org_b" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("organization_id" IS NOT NULL AND "organization_id" IN ('org-b', 'org-c'));
ALTER TABLE "letta"."tenants_data" ATTACH PARTITION "letta"."tenants_data_org_b" FOR VALUES IN ('org-b', 'org-c');
ALTER TABLE "letta"."tenants_data_org_b" DROP CONSTRAINT "pgtune_partition_bound";
COMMIT;
-- + partition letta.tenants_data_default
BEGIN;
CREATE TABLE "letta"."tenants_data_default" (LIKE "letta"."tenants_data" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED);
ALTER TABLE "letta"."tenants_data" ATTACH PARTITION "letta"."tenants_data_default" DEFAULT;
COMMIT;
-- - partition letta.messages_by_month_p2026_01
BEGIN;
ALTER TABLE "letta"."messages_by_month" DETACH PARTITION "letta"."messages_by_month_p2026_01";
ALTER TABLE "letta"."messages_by_month_p2026_01" ADD CONSTRAINT "pgtune_partition_bound" CHECK ("created_at" IS NOT NULL AND "created_at" >= '2026-01-01 00:00:00+00:00'::timestamptz AND "created_at" < '2026-02-01 00:00:00+00:00'::timestamptz) NOT VALID;
COMMIT;
-- ~ partition letta.messages_by_month
ANALYZE "letta"."messages_by_month";
-- ~ partition letta.tenants_data
ANALYZE "letta"."tenants_data";
-- ~ pool pgbouncer/pool_mode
SET pool_mode = 'transaction';  -- PgBouncer admin console
-- pgbouncer.ini (<pgbouncer.ini>) [pgbouncer]: pool_mode = transaction
-- ~ pool pgbouncer/default_pool_size
SET default_pool_size = '25';  -- PgBouncer admin console
-- pgbouncer.ini (<pgbouncer.ini>) [pgbouncer]: default_pool_size = 25
-- ~ pool pgbouncer/server_lifetime
SET server_lifetime = '1800';  -- PgBouncer admin console
-- pgbouncer.ini (<pgbouncer.ini>) [pgbouncer]: server_lifetime = 1800
SELECT pg_reload_conf();
RELOAD;  -- PgBouncer admin console
