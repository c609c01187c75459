-- Letta's PostgreSQL schema (letta-ai/letta 0.16.8, Alembic head 1c28e167b74f) for the tables
-- pgtune's Letta profiles, the seed script and `pgtune check` touch: organizations, agents,
-- agents_tags, conversations, runs, steps, messages, conversation_messages — column for column (names,
-- order, types, NOT NULL, defaults), index for index and constraint for constraint (primary keys,
-- uniques, foreign keys with their ON DELETE actions), with Letta's own names, as a migrated database
-- prints them (tests/fixtures/letta_catalog.json; tests/test_letta_real.py holds this file to it).
-- Written for this repository (no Letta code is copied). Not here: Letta's other 41 tables, and the
-- `providers` table's columns (only its id, which steps' foreign key needs).
--
-- The database setup, against Letta's own (its init script runs in a database it has just created):
-- * schema `letta`, and the database's search_path set to `letta` alone — as Letta;
-- * pgvector installed WITH SCHEMA letta when the server has it — as Letta;
-- * `public` is kept, where Letta drops it. This file runs in a database that may already hold
--   other things, and `DROP SCHEMA public CASCADE` would take them with it. Nothing of Letta's is
--   created in `public` and `public` is not on the search_path, so every name resolves as in Letta's
--   database; drop it yourself (`DROP SCHEMA public`) in a database made for Letta alone.
CREATE SCHEMA IF NOT EXISTS letta;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA letta;   -- as Letta installs it (passages' embeddings)
    END IF;
    -- Letta's own sessions find its tables through the database's search_path: `letta`, as Letta sets it.
    EXECUTE format('ALTER DATABASE %I SET search_path = letta', current_database());
END $$;

-- Step status, an enum Letta's models declare (the values are its StepStatus names).
CREATE TYPE letta.stepstatus AS ENUM ('PENDING', 'SUCCESS', 'FAILED', 'CANCELLED');
CREATE SEQUENCE letta.message_seq_id;
CREATE TABLE letta.providers (id varchar NOT NULL CONSTRAINT providers_pkey PRIMARY KEY);  -- only what steps need

CREATE TABLE letta.organizations (
    id varchar NOT NULL,
    name varchar NOT NULL,
    created_at timestamptz,
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    privileged_tools boolean NOT NULL,
    CONSTRAINT organizations_pkey PRIMARY KEY (id)
);

CREATE TABLE letta.agents (
    id varchar NOT NULL,
    name varchar,
    created_at timestamptz DEFAULT now(),
    description varchar,
    message_ids json,
    system varchar,
    agent_type varchar,
    llm_config json,
    embedding_config json,
    metadata_ json,
    tool_rules json,
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    organization_id varchar NOT NULL,
    project_id varchar,
    template_id varchar,
    base_template_id varchar,
    message_buffer_autoclear boolean NOT NULL,
    enable_sleeptime boolean,
    response_format json,
    last_run_completion timestamptz,
    last_run_duration_ms integer,
    timezone varchar,
    max_files_open integer,
    per_file_view_window_char_limit integer,
    hidden boolean,
    entity_id varchar,
    deployment_id varchar,
    _vector_db_namespace varchar,
    last_stop_reason varchar,
    compaction_settings json,
    CONSTRAINT agents_pkey PRIMARY KEY (id)
);
CREATE INDEX ix_agents_created_at ON letta.agents USING btree (created_at, id);
CREATE INDEX ix_agents_organization_id_created_by_id ON letta.agents USING btree (organization_id, _created_by_id);
CREATE INDEX ix_agents_organization_id_deployment_id ON letta.agents USING btree (organization_id, deployment_id);
CREATE INDEX ix_agents_project_id ON letta.agents USING btree (project_id);

CREATE TABLE letta.agents_tags (
    agent_id varchar NOT NULL,
    tag varchar NOT NULL,
    CONSTRAINT unique_agent_tag UNIQUE (agent_id, tag)
);
CREATE INDEX ix_agents_tags_agent_id_tag ON letta.agents_tags USING btree (agent_id, tag);
CREATE INDEX ix_agents_tags_tag_agent_id ON letta.agents_tags USING btree (tag, agent_id);

CREATE TABLE letta.conversations (
    id varchar NOT NULL,
    agent_id varchar NOT NULL,
    summary varchar,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    organization_id varchar NOT NULL,
    model varchar,
    model_settings json,
    last_message_at timestamptz,
    CONSTRAINT conversations_pkey PRIMARY KEY (id)
);
CREATE INDEX ix_conversations_agent_id ON letta.conversations USING btree (agent_id);
CREATE INDEX ix_conversations_org_agent ON letta.conversations USING btree (organization_id, agent_id);
CREATE INDEX ix_conversations_org_agent_last_message_at ON letta.conversations USING btree (organization_id, agent_id, last_message_at);

CREATE TABLE letta.runs (
    id varchar NOT NULL,
    status varchar NOT NULL,
    completed_at timestamp,
    stop_reason varchar,
    background boolean,
    metadata_ json,
    request_config json,
    agent_id varchar NOT NULL,
    callback_url varchar,
    callback_sent_at timestamp,
    callback_status_code integer,
    callback_error varchar,
    ttft_ns bigint,
    total_duration_ns bigint,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    organization_id varchar NOT NULL,
    project_id varchar,
    base_template_id varchar,
    template_id varchar,
    deployment_id varchar,
    conversation_id varchar,
    CONSTRAINT runs_pkey PRIMARY KEY (id)
);
CREATE INDEX ix_runs_agent_id ON letta.runs USING btree (agent_id);
CREATE INDEX ix_runs_conversation_id ON letta.runs USING btree (conversation_id);
CREATE INDEX ix_runs_created_at ON letta.runs USING btree (created_at, id);
CREATE INDEX ix_runs_organization_id ON letta.runs USING btree (organization_id);

CREATE TABLE letta.steps (
    completion_tokens integer NOT NULL DEFAULT 0,
    prompt_tokens integer NOT NULL DEFAULT 0,
    total_tokens integer NOT NULL DEFAULT 0,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    id varchar NOT NULL,
    origin varchar,
    organization_id varchar,
    provider_id varchar,
    provider_name varchar,
    model varchar,
    context_window_limit integer,
    completion_tokens_details json,
    tags json,
    tid varchar,
    model_endpoint varchar,
    trace_id varchar,
    agent_id varchar,
    provider_category varchar,
    feedback varchar,
    project_id varchar,
    stop_reason varchar,
    error_type varchar,
    error_data json,
    status letta.stepstatus,
    run_id varchar,
    prompt_tokens_details json,
    request_id varchar,
    model_handle varchar,
    cached_input_tokens integer,
    cache_write_tokens integer,
    reasoning_tokens integer,
    CONSTRAINT pk_steps_id PRIMARY KEY (id)
);
CREATE INDEX ix_steps_run_id ON letta.steps USING btree (run_id);

CREATE TABLE letta.messages (
    id varchar NOT NULL,
    agent_id varchar NOT NULL,
    role varchar NOT NULL,
    text varchar,
    model varchar,
    name varchar,
    tool_calls json NOT NULL,
    tool_call_id varchar,
    created_at timestamptz,
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    organization_id varchar NOT NULL,
    step_id varchar,
    otid varchar,
    tool_returns json,
    group_id varchar,
    content json,
    sequence_id bigint NOT NULL DEFAULT nextval('letta.message_seq_id'::regclass),
    sender_id varchar,
    batch_item_id varchar,
    is_err boolean,
    approval_request_id varchar,
    approve boolean,
    denial_reason varchar,
    run_id varchar,
    approvals json,
    conversation_id varchar,
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT uq_messages_sequence_id UNIQUE (sequence_id)
);
CREATE INDEX idx_messages_on_updated_at ON letta.messages USING btree (updated_at);
CREATE INDEX idx_messages_step_id ON letta.messages USING btree (step_id);
CREATE INDEX ix_messages_agent_conversation_sequence ON letta.messages USING btree (agent_id, conversation_id, sequence_id);
CREATE INDEX ix_messages_agent_created_at ON letta.messages USING btree (agent_id, created_at);
CREATE INDEX ix_messages_agent_sequence ON letta.messages USING btree (agent_id, sequence_id);
CREATE INDEX ix_messages_conversation_id ON letta.messages USING btree (conversation_id);
CREATE INDEX ix_messages_created_at ON letta.messages USING btree (created_at, id);
CREATE INDEX ix_messages_org_agent ON letta.messages USING btree (organization_id, agent_id);
CREATE INDEX ix_messages_run_sequence ON letta.messages USING btree (run_id, sequence_id);

CREATE TABLE letta.conversation_messages (
    id varchar NOT NULL,
    conversation_id varchar,
    agent_id varchar NOT NULL,
    message_id varchar NOT NULL,
    "position" integer NOT NULL,
    in_context boolean NOT NULL,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    organization_id varchar NOT NULL,
    CONSTRAINT conversation_messages_pkey PRIMARY KEY (id),
    CONSTRAINT unique_conversation_message UNIQUE (conversation_id, message_id)
);
CREATE INDEX ix_conv_msg_agent_conversation ON letta.conversation_messages USING btree (agent_id, conversation_id);
CREATE INDEX ix_conv_msg_agent_id ON letta.conversation_messages USING btree (agent_id);
CREATE INDEX ix_conv_msg_conversation_position ON letta.conversation_messages USING btree (conversation_id, "position");
CREATE INDEX ix_conv_msg_message_id ON letta.conversation_messages USING btree (message_id);

-- Foreign keys, as Letta names them (fk_steps_organization_id really is on provider_id, and
-- fk_steps_provider_id on organization_id: Letta's migration swapped the names).
ALTER TABLE letta.agents ADD CONSTRAINT agents_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES letta.organizations(id);
ALTER TABLE letta.agents_tags ADD CONSTRAINT agents_tags_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES letta.agents(id);
ALTER TABLE letta.conversations ADD CONSTRAINT conversations_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES letta.agents(id) ON DELETE CASCADE;
ALTER TABLE letta.conversations ADD CONSTRAINT conversations_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES letta.organizations(id);
ALTER TABLE letta.runs ADD CONSTRAINT runs_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES letta.agents(id);
ALTER TABLE letta.runs ADD CONSTRAINT runs_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES letta.conversations(id) ON DELETE SET NULL;
ALTER TABLE letta.runs ADD CONSTRAINT runs_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES letta.organizations(id);
ALTER TABLE letta.steps ADD CONSTRAINT fk_steps_organization_id FOREIGN KEY (provider_id) REFERENCES letta.providers(id) ON DELETE RESTRICT;
ALTER TABLE letta.steps ADD CONSTRAINT fk_steps_provider_id FOREIGN KEY (organization_id) REFERENCES letta.organizations(id) ON DELETE RESTRICT;
ALTER TABLE letta.steps ADD CONSTRAINT fk_steps_run_id FOREIGN KEY (run_id) REFERENCES letta.runs(id) ON DELETE SET NULL;
ALTER TABLE letta.messages ADD CONSTRAINT fk_messages_run_id FOREIGN KEY (run_id) REFERENCES letta.runs(id) ON DELETE SET NULL;
ALTER TABLE letta.messages ADD CONSTRAINT fk_messages_step_id FOREIGN KEY (step_id) REFERENCES letta.steps(id) ON DELETE SET NULL;
ALTER TABLE letta.messages ADD CONSTRAINT messages_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES letta.agents(id) ON DELETE CASCADE;
ALTER TABLE letta.messages ADD CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES letta.conversations(id) ON DELETE SET NULL;
ALTER TABLE letta.messages ADD CONSTRAINT messages_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES letta.organizations(id);
ALTER TABLE letta.conversation_messages ADD CONSTRAINT conversation_messages_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES letta.agents(id) ON DELETE CASCADE;
ALTER TABLE letta.conversation_messages ADD CONSTRAINT conversation_messages_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES letta.conversations(id) ON DELETE CASCADE;
ALTER TABLE letta.conversation_messages ADD CONSTRAINT conversation_messages_message_id_fkey FOREIGN KEY (message_id) REFERENCES letta.messages(id) ON DELETE CASCADE;
ALTER TABLE letta.conversation_messages ADD CONSTRAINT conversation_messages_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES letta.organizations(id);
