"""The command line: the only place that prints and picks exit codes.

Data (plans, SQL, JSON) goes to stdout; errors and progress to stderr. Every `PgtuneError` is
caught once, at the edge (pgtune.cli.app), and printed as its lines (`path:line:col: message` for
profile problems). One module per command family, each: parse → call one function → render → exit.
"""

from __future__ import annotations

from pgtune.cli import advise, check, plan, profiles
from pgtune.cli.app import app, global_flags_first, guard_command_line, main, one_line, version

app.command()(profiles.validate)
plan.register(app)
app.command()(check.check)
app.command()(advise.advise)
app.command()(check.alerts)
app.command()(advise.recommend)
app.command()(profiles.inspect)
app.command()(profiles.render)
app.command()(profiles.schema)
app.command()(plan.show)
app.command()(version)

__all__ = ["app", "global_flags_first", "guard_command_line", "main", "one_line"]
