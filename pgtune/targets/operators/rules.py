"""What each Kubernetes operator does with the parameters of its manifest: where they live, which
keys it fixes or blocks, the defaults it puts in place of PostgreSQL's, the libraries it preloads by
itself, and who restarts what. Facts, read from each operator's source at the version named (never
guessed): pgtune refuses at plan what the operator would refuse or silently override.

- CloudNativePG v1.30.0 (a95a534): `pkg/postgres/configuration.go` (FixedConfigurationParameters,
  CnpgConfigurationSettings.GlobalDefaultSettings, ManagedExtensions), `internal/webhook/v1/
  cluster_webhook.go` (validateConfiguration), `docs/src/rolling_update.md`.
- Crunchy PGO v6.0.3 (0fbac30): `pkg/apis/.../v1beta1/postgres_types.go` (the CEL rules and
  MaxProperties of spec.config.parameters), `internal/postgres/parameters.go` (its defaults).
- Zalando postgres-operator v2.0.1 (a7aaad0): `pkg/cluster/k8sres.go` (isBootstrapOnlyParameter: keys
  whose change recreates the pods), `pkg/cluster/sync.go` (PATCH /config of the others, restarts,
  keys removed from the manifest never reset — #3061).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Operator:
    key: str  # cnpg | pgo | zalando
    name: str  # for people
    version: str  # the operator release these rules come from
    kinds: tuple[tuple[str, str], ...]  # (apiVersion prefix, kind) of its cluster resource
    parameters: tuple[str, ...]  # path of the parameters map in the manifest
    refused: dict[str, str]  # key -> why the operator refuses or overrides it
    refused_prefixes: tuple[tuple[str, str], ...] = ()  # (prefix, why)
    defaults: dict[str, str] = field(default_factory=dict)  # values the operator sets where PostgreSQL's differ
    managed_libraries: tuple[str, ...] = ()  # a key under one of these namespaces preloads that library
    recreate_pods: frozenset[str] = frozenset()  # keys whose change recreates the pods (Zalando)
    max_parameters: int | None = None
    restarts: str = ""  # who restarts, in which order, for people
    removal: str = ""  # what removing a key from the manifest does


_CNPG_BLOCKED = [
    "allow_system_table_mods",
    "bonjour",
    "bonjour_name",
    "config_file",
    "data_directory",
    "data_sync_retry",
    "event_source",
    "external_pid_file",
    "hba_file",
    "hot_standby",
    "ident_file",
    "jit_provider",
    "listen_addresses",
    "logging_collector",
    "unix_socket_directories",
    "unix_socket_group",
    "unix_socket_permissions",
    "archive_cleanup_command",
    "log_destination",
    "log_directory",
    "log_file_mode",
    "log_filename",
    "log_rotation_age",
    "log_rotation_size",
    "log_truncate_on_rotation",
    "promote_trigger_file",
    "recovery_end_command",
    "recovery_min_apply_delay",
    "restart_after_crash",
    "stats_temp_directory",
    "syslog_facility",
    "syslog_ident",
    "syslog_sequence_numbers",
    "syslog_split_messages",
]
_CNPG_FIXED = [
    "archive_mode",
    "cluster_name",
    "port",
    "primary_conninfo",
    "primary_slot_name",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_inclusive",
    "recovery_target_lsn",
    "recovery_target_name",
    "recovery_target_time",
    "recovery_target_timeline",
    "recovery_target_xid",
    "restore_command",
    "temp_tablespaces",
    "archive_command",
    "pg_failover_slots.primary_dsn",
    "pg_failover_slots.standby_slot_names",
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_crl_file",
    "ssl_dh_params_file",
    "ssl_key_file",
    "ssl_passphrase_command",
    "ssl_passphrase_command_supports_reload",
    "ssl_prefer_server_ciphers",
    "synchronous_standby_names",
    "synchronized_standby_slots",
    "allow_alter_system",
]

CNPG = Operator(
    "cnpg",
    "CloudNativePG",
    "1.30.0",
    (("postgresql.cnpg.io/", "Cluster"),),
    ("spec", "postgresql", "parameters"),
    {
        **{k: "blocked by CloudNativePG (the operator owns it; its webhook refuses it)" for k in _CNPG_BLOCKED},
        **{k: "fixed by CloudNativePG (set by the operator; its webhook refuses another value)" for k in _CNPG_FIXED},
        "shared_preload_libraries": "fixed by CloudNativePG: list extra libraries in .spec.postgresql."
        "shared_preload_libraries (it adds pg_stat_statements, auto_explain, pgaudit by itself when their "
        "settings are set)",
    },
    defaults={
        "archive_timeout": "5min",
        "dynamic_shared_memory_type": "posix",
        "full_page_writes": "on",
        "max_parallel_workers": "32",
        "max_worker_processes": "32",
        "max_replication_slots": "32",
        "shared_memory_type": "mmap",
        "ssl_max_protocol_version": "TLSv1.3",
        "ssl_min_protocol_version": "TLSv1.3",
        "wal_keep_size": "512MB",
        "wal_level": "logical",
        "wal_log_hints": "on",
        "wal_sender_timeout": "5s",
        "wal_receiver_timeout": "5s",
        "min_wal_size": "80MB",
        "max_wal_size": "1GB",
    },
    managed_libraries=("pg_stat_statements", "auto_explain", "pgaudit", "pg_failover_slots"),
    restarts="CloudNativePG restarts the instances itself: replicas first, one at a time, the primary last "
    "(primaryUpdateStrategy: unsupervised; supervised waits for `kubectl cnpg promote/restart`), in place or by "
    "switchover (primaryUpdateMethod); a lowered max_connections-like setting restarts the primary first",
    removal="CloudNativePG drops the line from custom.conf: the server returns to the operator's default, or "
    "PostgreSQL's, at the next reload or restart",
)

PGO = Operator(
    "pgo",
    "Crunchy PGO",
    "6.0.3",
    (("postgres-operator.crunchydata.com/", "PostgresCluster"),),
    ("spec", "config", "parameters"),
    {
        "config_file": "cannot change PGDATA path (PGO's CRD refuses it)",
        "data_directory": "cannot change PGDATA path (PGO's CRD refuses it)",
        "external_pid_file": "cannot change external_pid_file (PGO's CRD refuses it)",
        "hba_file": "cannot change authentication path (PGO's CRD refuses it)",
        "ident_file": "cannot change authentication path (PGO's CRD refuses it)",
        "listen_addresses": "network connectivity is always enabled (PGO's CRD refuses it)",
        "port": "change the port with .spec.port (PGO's CRD refuses it here)",
        "ssl": "TLS is always enabled (PGO's CRD refuses it)",
        "wal_log_hints": "wal_log_hints are always enabled (PGO's CRD refuses it)",
        "archive_mode": "archiving belongs to pgBackRest (PGO's CRD refuses it)",
        "archive_command": "archiving belongs to pgBackRest (PGO's CRD refuses it)",
        "restore_command": "archiving belongs to pgBackRest (PGO's CRD refuses it)",
        "recovery_target": "recovery belongs to PGO's restore (its CRD refuses it)",
        "hot_standby": "hot_standby is always enabled (PGO's CRD refuses it)",
        "synchronous_standby_names": "synchronous replication is Patroni's (PGO's CRD refuses it)",
        "primary_conninfo": "replication is Patroni's (PGO's CRD refuses it)",
        "primary_slot_name": "replication is Patroni's (PGO's CRD refuses it)",
        "recovery_min_apply_delay": "delayed replication is not supported (PGO's CRD refuses it)",
        "cluster_name": "cluster_name is derived from the PostgresCluster name (PGO's CRD refuses it)",
        "logging_collector": "disabling logging_collector is unsafe (PGO's CRD refuses it)",
        "log_file_mode": "log_file_mode cannot be changed (PGO's CRD refuses it)",
    },
    refused_prefixes=(
        ("ssl_", "TLS is always enabled (PGO's CRD refuses ssl_* but ssl_groups and ssl_ecdh_curve)"),
        ("unix_socket_", "domain socket paths cannot be changed (PGO's CRD refuses it)"),
        ("recovery_target_", "recovery belongs to PGO's restore (its CRD refuses it)"),
    ),
    defaults={"jit": "off", "password_encryption": "scram-sha-256", "wal_level": "logical"},
    max_parameters=50,
    restarts="PGO restarts through Patroni itself (`patronictl restart --pending`), the primary first, in place",
    removal="PGO rewrites Patroni's configuration without the key: the server returns to PGO's default, or "
    "PostgreSQL's",
)

ZALANDO_RECREATE = frozenset(
    [
        "archive_command",
        "shared_buffers",
        "logging_collector",
        "log_destination",
        "log_directory",
        "log_filename",
        "log_file_mode",
        "log_rotation_age",
        "log_truncate_on_rotation",
        "ssl",
        "ssl_ca_file",
        "ssl_crl_file",
        "ssl_cert_file",
        "ssl_key_file",
        "shared_preload_libraries",
        "bg_mon.listen_address",
        "bg_mon.history_buckets",
        "pg_stat_statements.track_utility",
        "extwlist.extensions",
        "extwlist.custom_path",
    ]
)

ZALANDO = Operator(
    "zalando",
    "Zalando postgres-operator",
    "2.0.1",
    (("acid.zalan.do/", "postgresql"),),
    ("spec", "postgresql", "parameters"),
    dict.fromkeys(
        ("listen_addresses", "port", "cluster_name", "hot_standby", "data_directory", "config_file", "hba_file"),
        "set by Patroni (Spilo) from its own configuration: a value here is ignored",
    )
    | {"ident_file": "set by Patroni (Spilo) from its own configuration: a value here is ignored"},
    recreate_pods=ZALANDO_RECREATE,
    restarts="the Zalando operator PATCHes Patroni's configuration and restarts pending members itself, replicas "
    "first (the primary first when only max_connections-like settings were lowered); Spilo-local keys recreate "
    "the pods",
    removal="the Zalando operator never resets a key removed from the manifest (#3061): Patroni keeps running the "
    "old value until it is reset there",
)

OPERATORS = {o.key: o for o in (CNPG, PGO, ZALANDO)}


def refusal(operator: Operator, name: str) -> str | None:
    """Why the operator refuses (or ignores) this key in its parameters; None: it takes it."""
    key = name.lower()
    if key in operator.refused:
        return operator.refused[key]
    if operator is PGO and key in ("ssl_groups", "ssl_ecdh_curve"):
        return None
    return next((why for prefix, why in operator.refused_prefixes if key.startswith(prefix)), None)


def library_of(operator: Operator, name: str) -> str | None:
    """The library the operator preloads by itself when this key is set (CloudNativePG's managed extensions)."""
    namespace = name.lower().split(".", 1)[0] if "." in name else None
    return namespace if namespace in operator.managed_libraries else None


def versions() -> list[str]:
    """What `pgtune version --verbose` says of the operator rules."""
    return [f"{o.name} {o.version}" for o in OPERATORS.values()]
