"""The `syncd` entry point: global options, lazy config/store, exit codes, errors without tracebacks.

Exit codes: 0 ok, 1 failure (including a sync where some account failed), 2 usage.
"""

from __future__ import annotations

import gc
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.store import Store
    from syncd.team.store import Team

log = logging.getLogger("syncd")


class App:
    """What every command needs, loaded on first use."""

    def __init__(self, config_path: str | None, verbose: int) -> None:
        self.config_path_arg = config_path
        self.verbose = verbose
        self._config: Config | None = None
        self._file_config: Config | None = None
        self._store: Store | None = None
        self._team: Team | None = None
        self.member: str | None = None  # --member: a team member's config and store (syncd.team)

    @property
    def config_path(self) -> Path:
        from syncd.config import resolve_config_path

        return resolve_config_path(self.config_path_arg)

    @property
    def file_config(self) -> Config:
        """The config file as it is (for a team: the database, and the team's defaults)."""
        if self._file_config is None:
            from syncd.config import load_config

            self._file_config = load_config(self.config_path)
        return self._file_config

    @property
    def config(self) -> Config:
        if self._config is None:
            if self.member is not None:
                with self.team.engine.connect() as conn:
                    self._config = self.team.member_config(conn, self.member)
            else:
                self._config = self.file_config
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            if self.member is not None:
                self.config  # noqa: B018 - an unknown member is refused before its schema is made
                self._store = self.team.store(self.member)
            else:
                from syncd.store import open_store

                self._store = open_store(self.config.db_url)
        return self._store

    @property
    def team(self) -> Team:
        """The team database named by the config file's database_url (PostgreSQL)."""
        if self._team is None:
            from syncd.team.store import Team

            self._team = Team(self.file_config)
        return self._team

    def now(self) -> datetime:
        from syncd.timeutil import utcnow

        return utcnow()

    def close(self) -> None:
        if self._team is not None:
            self._team.close()  # and the members' stores it opened
        elif self._store is not None:
            self._store.close()


class _TerminalSafe(logging.Filter):
    """Log lines reach a terminal too: their text cleaned like every other string printed,
    and, without -v, no traceback (the message says what happened; -v shows where)."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def filter(self, record: logging.LogRecord) -> bool:
        from syncd.terminal import clean

        record.msg, record.args = clean(record.getMessage()), ()
        if not self.tracebacks:
            record.exc_info = record.exc_text = record.stack_info = None
        return True


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("syncd: %(levelname)s: %(message)s"))
    handler.addFilter(_TerminalSafe(tracebacks=verbose > 0))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbose < 2:  # library chatter (googleapiclient, msal, urllib3) only when debugging
        for noisy in ("googleapiclient", "msal", "urllib3", "caldav", "imapclient", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


# The read views: short commands that make little garbage (see main()).
READ_VIEWS = ("status", "contacts", "contact", "followups", "brief", "targets")

SECTIONS = (
    ("Start", ("init", "demo", "accounts", "sync")),
    ("Daily", READ_VIEWS),
    ("Curate", ("prune", "ignore", "merge", "unmerge", "note", "cadence")),
    ("Daemon", ("run", "service")),
    ("Team", ("members", "team")),
)

EXAMPLES = """\b
Start here:
  syncd demo                  see it work on a year of sample mail
  syncd init                  your name, addresses, first account, first sync
  syncd contacts --tier warm  who you keep warm
  syncd contact ADDR --why    one person, and what their score is made of

\b
Shell completion (bash; zsh and fish: see the README):
  eval "$(_SYNCD_COMPLETE=bash_source syncd)"
"""


class FullHelpGroup(click.Group):
    """Lists its commands with their whole first sentence (click would cut it to fit)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, c.get_short_help_str(limit=200)) for n, c in sorted(self.commands.items()) if not c.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class SectionedGroup(FullHelpGroup):
    """`syncd --help` lists the commands in the order a person meets them. A command's module
    is imported when the command is asked for (see :mod:`syncd.cli.commands`)."""

    group_class = FullHelpGroup

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            from syncd.cli.commands import load

            load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        from syncd.cli.commands import load

        load()
        return super().list_commands(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from syncd.cli.commands import load

        load()
        listed: set[str] = set()
        for title, names in SECTIONS:
            rows = [(n, self.commands[n].get_short_help_str(limit=200)) for n in names if n in self.commands]
            listed.update(names)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = [(n, c.get_short_help_str(limit=200)) for n, c in sorted(self.commands.items()) if n not in listed]
        if rest:
            with formatter.section("Other"):
                formatter.write_dl(rest)


@click.group(cls=SectionedGroup, epilog=EXAMPLES,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", metavar="FILE", envvar=None,
              help="Config file (default: $SYNCD_CONFIG, else ~/.config/syncd/config.toml).")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debugging).")
@click.version_option(package_name="syncd", message="syncd %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """syncd keeps the relationships that matter warm.

    It reads the mail you send and the meetings you attend, scores how warm each relationship
    is, and writes follow-up drafts into your own mailbox. It never sends anything.
    """
    setup_logging(verbose)
    if ctx.invoked_subcommand not in READ_VIEWS:
        gc.enable()  # a long command (sync, the daemon) makes garbage in cycles: collect it
    ctx.obj = App(config_path, verbose)
    ctx.call_on_close(ctx.obj.close)


def pass_app(f: Any) -> Any:
    return click.pass_obj(f)


def _set_member(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(App).member = value


def member_option(f: Any) -> Any:
    """--member M: the command reads that team member's data (syncd.team), not the config's own."""
    return click.option("--member", metavar="M", expose_value=False, callback=_set_member,
                        help="A team member's data (team database; see docs/team.md).")(f)


def main(argv: list[str] | None = None) -> None:
    # Start-up builds only objects that live as long as the process (modules, tables, config):
    # a collection finds nothing in them, yet each walks them all. With the collector off a read
    # view starts ~20 ms sooner; a long command turns it back on (cli()).
    collecting = gc.isenabled()
    gc.disable()
    from syncd.cli.output import say

    code = 0
    try:
        result = cli.main(args=argv, prog_name="syncd", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else str(err))
        code = 2
    except click.UsageError as err:
        err.show()
        code = 2
    except click.ClickException as err:
        _error(err.format_message())  # one voice for every error
        code = err.exit_code
    except click.exceptions.Exit as err:
        code = err.exit_code
    except click.Abort:
        say("syncd: aborted", err=True)
        code = 1
    except KeyboardInterrupt:
        say("syncd: interrupted; everything committed so far is kept", err=True)
        code = 130
    except BrokenPipeError:  # `syncd contacts | head`: the reader has seen enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as err:  # noqa: BLE001 - users get a sentence, not a traceback
        code = 1
        message = _known_error(err)
        if message is None:
            log.info("unexpected error", exc_info=True)  # the traceback, with -v
            message = f"unexpected error: {type(err).__name__}: {err} (run with -v for the details)"
        _error(message)
    finally:
        # Frozen, what exists now is left out of every later collection: the interpreter's last
        # ones at exit would walk it all to free memory the OS takes back anyway (~40 ms).
        gc.freeze()
        if collecting:
            gc.enable()
    sys.exit(code)


def _error(message: str) -> None:
    """'syncd: ...' on stderr; a config error lists one problem a line, indented."""
    from syncd.cli.output import say

    for n, line in enumerate(message.splitlines() or [""]):
        say(("syncd: " if n == 0 else "  ") + line.strip(), err=True)


def _known_error(err: Exception) -> str | None:
    from sqlalchemy.exc import DBAPIError

    from syncd.config import ConfigError
    from syncd.secrets import SecretError
    from syncd.store import StoreError, database_problem
    from syncd.templates import TemplateError

    if isinstance(err, (ConfigError, StoreError, TemplateError, SecretError)):
        return str(err)
    if isinstance(err, DBAPIError):  # never the SQL: what is wrong, and what to do
        return f"the database: {database_problem(err)}"
    return None
