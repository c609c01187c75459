"""Monitoring from the profile: OpenMetrics from `pgtune check`, Prometheus rules from `checks:`,
held to Prometheus's own tools (promtool: check rules, check metrics, test rules) and to a real
Prometheus scraping a real postgres_exporter in front of a test server, with provoked conditions."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from ruamel.yaml import YAML

from pgtune.checks import alerts
from pgtune.checks.health import Result
from pgtune.checks.health import run as run_checks
from pgtune.integrations.sandbox import free_port
from pgtune.profile.loader import load_profile
from pgtune.render.metrics import metric_name, render_openmetrics, units_of
from tests.conftest import REPO, CliResult, Server

LETTA = REPO / "profiles" / "letta.yaml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed (Debian's prometheus package): run scripts/bootstrap --test", pytrace=False
        )
    return found


def _rules(path: Path) -> dict:
    return YAML(typ="safe").load(alerts.render(load_profile(path), str(path)))


def test_metric_names_carry_base_units() -> None:
    assert metric_name("cache_hit_ratio", "ratio") == "pgtune_cache_hit_ratio"
    assert metric_name("table_bloat", "ratio") == "pgtune_table_bloat_ratio"
    assert metric_name("long_transactions", "duration") == "pgtune_long_transactions_seconds"
    assert metric_name("unused_indexes", "count") == "pgtune_unused_indexes"


def test_openmetrics_of_results() -> None:
    results = [
        Result("cache_hit_ratio", "warn", 0.9, {"warn": 0.95, "critical": 0.9}),
        Result("table_bloat", "ok", 0.1, {"warn": 0.3}, objects=[{"table": 'public."odd"', "ratio": 0.12}]),
        Result("deadlocks", "skipped", None, {"warn": 1.0}),
    ]
    text = render_openmetrics(results, "app", units_of(), "letta")
    assert 'pgtune_check_status{database="app",profile="letta",check="cache_hit_ratio"} 1' in text
    assert (
        'pgtune_check_threshold{database="app",profile="letta",check="cache_hit_ratio",severity="critical"} 0.9' in text
    )
    assert 'pgtune_table_bloat_ratio{database="app",profile="letta",table="public.\\"odd\\""} 0.12' in text
    assert 'pgtune_check_skipped{database="app",profile="letta",check="deadlocks"} 1' in text
    assert "pgtune_deadlocks{" not in text  # a skipped check exports no value
    assert text.endswith("# EOF\n")


def test_a_threshold_changed_in_the_profile_changes_the_rule(write_profile: Callable[..., Path]) -> None:
    base = write_profile(f"name: base\nextends: [{LETTA}]\n")
    changed = write_profile(
        f"name: base\nextends: [{LETTA}]\nchecks: {{rollback_ratio: {{warn: 0.02}}}}\n", name="b.yaml"
    )

    def rollback(path: Path) -> list[str]:
        return [r["expr"] for r in _rules(path)["groups"][0]["rules"] if r["labels"]["check"] == "rollback_ratio"]

    [before], [after] = rollback(base), rollback(changed)
    assert before.endswith(">= 0.05") and after.endswith(">= 0.02")
    assert before.replace("0.05", "0.02") == after
    disabled = write_profile(f"name: base\nextends: [{LETTA}]\nchecks: {{disabled: [deadlocks]}}\n", name="c.yaml")
    assert "deadlocks" not in {r["labels"]["check"] for r in _rules(disabled)["groups"][0]["rules"]}


@pytest.mark.server  # needs Prometheus's promtool: not the no-dependency unit lane
def test_generated_rules_pass_promtool(tmp_path: Path) -> None:
    for profile in (LETTA, REPO / "profiles" / "web.yaml"):
        path = tmp_path / f"{profile.stem}.rules.yml"
        path.write_text(alerts.render(load_profile(profile), str(profile)), encoding="utf-8")
        result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


# --- promtool test rules: each alert fires above its threshold and stays quiet below ---------------

DB = 'instance="db",datname="app"'
EXPORTER_LEVELS: dict[str, dict[str, list[tuple[str, str]]]] = {
    # check -> level (quiet / warning / critical) -> input series, in 1m steps
    "cache_hit_ratio": {
        level: [
            (f"pg_stat_database_blks_hit{{{DB}}}", f"0+{hit}x150"),
            (f"pg_stat_database_blks_read{{{DB}}}", f"0+{read}x150"),
        ]
        for level, (hit, read) in {"quiet": (999, 1), "warning": (92, 8), "critical": (50, 50)}.items()
    },
    "rollback_ratio": {
        level: [
            (f"pg_stat_database_xact_commit{{{DB}}}", f"0+{c}x150"),
            (f"pg_stat_database_xact_rollback{{{DB}}}", f"0+{r}x150"),
        ]
        for level, (c, r) in {"quiet": (999, 1), "warning": (80, 20)}.items()
    },
    "deadlocks": {
        "quiet": [(f"pg_stat_database_deadlocks{{{DB}}}", "3x150")],
        "warning": [(f"pg_stat_database_deadlocks{{{DB}}}", "0+1x150")],
    },
    "connections_used": {
        level: [
            (f'pg_stat_activity_count{{{DB},state="active"}}', f"{n}x150"),
            ('pg_settings_max_connections{instance="db"}', "103x150"),
            ('pg_settings_superuser_reserved_connections{instance="db"}', "3x150"),
        ]
        for level, n in {"quiet": 10, "warning": 85, "critical": 99}.items()
    },
    "long_transactions": {
        level: [(f'pg_stat_activity_max_tx_duration{{{DB},state="active"}}', f"{v}x150")]
        for level, v in {"quiet": 1, "warning": 100, "critical": 9999}.items()
    },
}
EXPORTER_LABELS = {"connections_used": {"instance": "db"}}


def _pgtune_levels(rules: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """For an alert over pgtune's own metric: values inside every threshold, past the warning only,
    and past the critical one."""
    metric = rules[0]["expr"].rsplit(" ", 2)[0]
    op = rules[0]["expr"].rsplit(" ", 2)[1]
    limit = {r["labels"]["severity"]: float(r["expr"].rsplit(" ", 1)[1]) for r in rules}
    w, c = limit.get("warning"), limit.get("critical")
    first = w if w is not None else c
    assert first is not None
    if op == "<":
        values = {"quiet": 1.0}
        if w is not None:
            values["warning"] = (w + c) / 2 if c is not None else w / 2
        if c is not None:
            values["critical"] = c / 2
    else:
        values = {"quiet": first / 2 if first > 0 else -1}
        if w is not None:
            values["warning"] = (w + c) / 2 if c is not None else w * 2 + 1
        if c is not None:
            values["critical"] = c * 2 + 1
    return {level: [(f'{metric}{{database="app",profile="letta"}}', f"{v}x150")] for level, v in values.items()}


@pytest.mark.server  # needs Prometheus's promtool: not the no-dependency unit lane
def test_every_alert_fires_above_its_threshold_and_not_below(tmp_path: Path) -> None:
    rules = alerts.rules(load_profile(LETTA), str(LETTA))
    rules_path = tmp_path / "letta.rules.yml"
    # Annotations (templates) are checked by `promtool check rules`; here only when alerts fire.
    bare = {
        "groups": [
            {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
            for g in rules["groups"]
        ]
    }
    rules_path.write_text(json.dumps(bare), encoding="utf-8")  # JSON is YAML
    by_alert: dict[str, list[dict]] = {}
    for rule in rules["groups"][0]["rules"]:
        by_alert.setdefault(rule["alert"], []).append(rule)
    tests = []
    for name, group in by_alert.items():
        check = group[0]["labels"]["check"]
        levels = EXPORTER_LEVELS[check] if check in alerts.EXPORTER else _pgtune_levels(group)
        for level, series in levels.items():
            severities = {"quiet": [], "warning": ["warning"], "critical": ["warning", "critical"]}[level]
            own = (
                EXPORTER_LABELS.get(check, {"instance": "db", "datname": "app"})
                if check in alerts.EXPORTER
                else {"database": "app"}
            )
            expected = [{"exp_labels": {**own, **r["labels"]}} for r in group if r["labels"]["severity"] in severities]
            tests.append(
                {
                    "interval": "1m",
                    "input_series": [{"series": m, "values": v} for m, v in series],
                    "alert_rule_test": [{"eval_time": "120m", "alertname": name, "exp_alerts": expected}],
                }
            )
    assert len(by_alert) >= 18 and len(tests) >= 45
    unit = tmp_path / "letta.tests.yml"
    unit.write_text(json.dumps({"rule_files": [str(rules_path)], "evaluation_interval": "1m", "tests": tests}))
    result = subprocess.run([promtool(), "test", "rules", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


# --- the real stack: Prometheus scraping postgres_exporter and pgtune, conditions provoked ---------


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        pytest.fail(f"{name} is not installed (Debian package): run scripts/bootstrap --test", pytrace=False)
    return found


class _Metrics(threading.Thread):
    """pgtune's metrics over HTTP, computed afresh on every scrape (as a scraper of
    `pgtune check --format openmetrics` output would see them)."""

    def __init__(self, dsn: str, profile: Path) -> None:
        super().__init__(daemon=True)
        loaded = load_profile(profile)
        dsn_ = dsn

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with psycopg.connect(dsn_, autocommit=True) as conn:
                    body = render_openmetrics(run_checks(conn, loaded), conn.info.dbname, units_of(), "e2e").encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def run(self) -> None:
        self.server.serve_forever(poll_interval=0.02)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read().decode())


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


E2E_PROFILE = """\
name: e2e
checks:
  idle_in_transaction: {warn: 1s}
  lock_waits: {warn: 1s}
  deadlocks: {warn: 1}
  long_transactions: {warn: 1h}
"""


def test_provoked_conditions_fire_on_a_real_prometheus(pg16: Server, tmp_path: Path) -> None:
    pg16.reset()
    profile = tmp_path / "e2e.yaml"
    profile.write_text(E2E_PROFILE, encoding="utf-8")
    rules = tmp_path / "e2e.rules.yml"
    rules.write_text(alerts.render(load_profile(profile), str(profile), for_override="0s"), encoding="utf-8")
    metrics = _Metrics(pg16.dsn, profile)
    metrics.start()
    exporter_port, prometheus_port = free_port(), free_port()
    env = {
        "DATA_SOURCE_NAME": f"postgresql://postgres@127.0.0.1:{pg16.cluster.port}/postgres?sslmode=disable",
        "PATH": os.environ.get("PATH", ""),
    }
    exporter = subprocess.Popen(
        [_binary("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{exporter_port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        textwrap.dedent(
            f"""\
            global: {{scrape_interval: 1s, evaluation_interval: 1s}}
            rule_files: [{rules}]
            scrape_configs:
              - job_name: postgres
                static_configs: [{{targets: ['127.0.0.1:{exporter_port}'], labels: {{instance: db}}}}]
              - job_name: pgtune
                static_configs: [{{targets: ['127.0.0.1:{metrics.port}']}}]
            """
        ),
        encoding="utf-8",
    )
    prometheus = subprocess.Popen(
        [
            _binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{prometheus_port}/api/v1"
    holders: list[psycopg.Connection] = []
    try:
        _wait(
            lambda: (
                all(t["health"] == "up" for t in _get(f"{api}/targets")["data"]["activeTargets"])
                and len(_get(f"{api}/targets")["data"]["activeTargets"]) == 2
            ),
            60,
            "both targets up",
        )

        def firing() -> set[str]:
            return {a["labels"]["alertname"] for a in _get(f"{api}/alerts")["data"]["alerts"] if a["state"] == "firing"}

        assert not firing() & {"PostgresIdleInTransactionHigh", "PostgresLockWaitsHigh", "PostgresDeadlocks"}
        pg16.sql(
            "CREATE TABLE e2e_a (id int PRIMARY KEY); CREATE TABLE e2e_b (id int PRIMARY KEY);"
            "INSERT INTO e2e_a VALUES (1); INSERT INTO e2e_b VALUES (1)"
        )
        # idle in transaction, and a writer waiting behind it: a lock wait
        idle = psycopg.connect(pg16.dsn)
        holders.append(idle)
        idle.execute("UPDATE e2e_a SET id = 1 WHERE id = 1")  # opens a transaction, then sits idle in it
        waiter = psycopg.connect(pg16.dsn, autocommit=True)
        holders.append(waiter)
        blocked = threading.Thread(target=lambda: _quietly(waiter, "UPDATE e2e_a SET id = 1 WHERE id = 1"), daemon=True)
        blocked.start()
        # a real deadlock between two sessions
        _deadlock(pg16)
        _wait(
            lambda: {"PostgresIdleInTransactionHigh", "PostgresLockWaitsHigh", "PostgresDeadlocks"} <= firing(),
            60,
            "the provoked alerts to fire",
        )
        labels = {a["labels"]["alertname"]: a["labels"] for a in _get(f"{api}/alerts")["data"]["alerts"]}
        assert labels["PostgresDeadlocks"]["profile"] == "e2e" and labels["PostgresDeadlocks"]["datname"] == "postgres"
        assert labels["PostgresLockWaitsHigh"]["severity"] == "warning"
    finally:
        for conn in holders:
            conn.close()
        for proc in (prometheus, exporter):
            proc.terminate()
            proc.wait(timeout=30)
        metrics.server.shutdown()
        pg16.sql("DROP TABLE IF EXISTS e2e_a, e2e_b")


def _quietly(conn: psycopg.Connection, statement: str) -> None:
    with contextlib.suppress(psycopg.Error):  # ends when the holder goes away
        conn.execute(statement)


def _deadlock(server: Server) -> None:
    one = psycopg.connect(server.dsn)
    two = psycopg.connect(server.dsn)
    try:
        one.execute("UPDATE e2e_b SET id = 1 WHERE id = 1")
        two.execute("INSERT INTO e2e_b VALUES (2)")
        done = threading.Event()

        def first() -> None:
            with contextlib.suppress(psycopg.Error):
                one.execute("INSERT INTO e2e_b VALUES (2)")  # waits for two
            done.set()

        t = threading.Thread(target=first, daemon=True)
        t.start()
        _wait(lambda: server.one("SELECT count(*) FROM pg_locks WHERE NOT granted") > 0, 10, "one to wait for two")
        with contextlib.suppress(psycopg.errors.DeadlockDetected):
            two.execute("UPDATE e2e_b SET id = 1 WHERE id = 1")  # waits for one: a cycle
        done.wait(10)
    finally:
        one.close()
        two.close()


def test_the_shipped_rules_file_is_current() -> None:
    """examples/monitoring/letta.rules.yml is what `pgtune alerts profiles/letta.yaml` writes now."""
    shipped = (REPO / "examples" / "monitoring" / "letta.rules.yml").read_text(encoding="utf-8")
    assert shipped == alerts.render(load_profile(LETTA), "profiles/letta.yaml"), (
        "run: pgtune alerts profiles/letta.yaml --out examples/monitoring/letta.rules.yml"
    )


def test_check_openmetrics_from_a_real_server_passes_promtool(pg: Server, cli: Callable[..., CliResult]) -> None:
    result = cli("check", str(LETTA), "--dsn", pg.dsn, "--format", "openmetrics", "--fail-on", "never")
    assert result.code == 0, result.stderr
    text = result.stdout
    assert 'pgtune_check_status{database="postgres",profile="letta",check="cache_hit_ratio"}' in text
    assert (
        'pgtune_check_threshold{database="postgres",profile="letta",check="lock_waits",severity="warning"} 10.0' in text
    )
    assert text.endswith("# EOF\n")
    lint = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def _series(text: str) -> list[tuple[str, dict[str, str]]]:
    """The samples of an OpenMetrics text: (metric name, labels)."""
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            head = line.rsplit(" ", 1)[0]
            name, _, labels = head.partition("{")
            out.append((name, dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))))
    return out


def _selected(expr: str) -> tuple[str, dict[str, str]]:
    """The series a pgtune rule's expression selects: its metric and label matchers."""
    match = re.match(r"\s*(pgtune_\w+)(?:\{([^}]*)\})?", expr)
    assert match, expr
    return match.group(1), dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))


SERIES_DB = "pgtune_test_alert_series"


@pytest.mark.parametrize("shipped", sorted(p.name for p in (REPO / "profiles").glob("*.yaml")))
def test_every_alert_pgtune_writes_has_its_series_whenever_its_check_has_a_value(
    pg16: Server, cli: Callable[..., CliResult], write_profile: Callable[..., Path], shipped: str
) -> None:
    """The rules are read back from `pgtune alerts` itself; every series a rule over pgtune's own
    metrics selects must be in `check --format openmetrics` whenever that check judged (ok, warn or
    critical) — a rule over a series that is missing exactly when its check warns can never fire."""
    profile = REPO / "profiles" / shipped
    generated = cli("alerts", str(profile))
    assert generated.code == 0, generated.stderr
    rules = [r for g in YAML(typ="safe").load(generated.stdout)["groups"] for r in g["rules"]]
    ours = [r for r in rules if "pgtune check --format openmetrics" in r["annotations"]["description"]]
    assert ours, "no rule over pgtune's own metrics"
    pg16.sql(f'DROP DATABASE IF EXISTS "{SERIES_DB}" WITH (FORCE)')
    pg16.sql(f'CREATE DATABASE "{SERIES_DB}"')
    dsn = pg16.cluster.dsn(SERIES_DB)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:  # a busy table autovacuum never visits
            conn.execute("CREATE TABLE busy (id int PRIMARY KEY) WITH (autovacuum_enabled = false)")
            conn.execute("INSERT INTO busy SELECT generate_series(1, 20000)")
        assert pg16.wait_for(
            "SELECT n_tup_ins >= 20000 FROM pg_stat_user_tables WHERE relname = 'busy'", dbname=SERIES_DB
        )
        # The shipped profile's thresholds, with history not waited for: every check that can judge does.
        judged = write_profile(
            f"name: series\nextends: [{profile}]\nchecks:\n  autovacuum_recency: {{warn: 1s, min_age: 0s}}\n"
            "  unused_indexes: {min_age: 0s}\n  fk_without_index: {min_age: 0s}\n"
        )
        result = cli("check", str(judged), "--dsn", dsn, "--format", "openmetrics", "--fail-on", "never")
        assert result.code == 0, result.stderr
    finally:
        pg16.sql(f'DROP DATABASE IF EXISTS "{SERIES_DB}" WITH (FORCE)')
    samples = _series(result.stdout)
    status = {labels["check"]: labels for name, labels in samples if name == "pgtune_check_status"}
    missing = []
    for rule in ours:
        check = rule["labels"]["check"]
        if check not in status:  # skipped: no value, nothing to alert on
            continue
        name, matchers = _selected(rule["expr"])
        if not any(n == name and matchers.items() <= labels.items() for n, labels in samples):
            missing.append(f"{rule['alert']} ({check}): {name}{matchers or ''}")
    assert missing == [], missing
    assert "autovacuum_recency" in status  # judged, and warning: the case whose series was missing
    assert any(n == "pgtune_autovacuum_recency_seconds" for n, _ in samples)
    judged_checks = {r["labels"]["check"] for r in ours} & set(status)
    assert len(judged_checks) >= len({r["labels"]["check"] for r in ours}) - 4, sorted(judged_checks)
