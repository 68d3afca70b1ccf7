"""``build_app``: a process builds only the command it runs, and the command list drawn from
``COMMANDS`` is the one the whole app draws (same commands, order, help, at any width)."""

from __future__ import annotations

import inspect

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from bulksync.cli import app as cli_app
from bulksync.cli.app import COMMANDS, asked, build_app, load


def listed(app: typer.Typer) -> list[str]:
    group = get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return group.list_commands(typer.Context(group))


def help_text(app: typer.Typer, *args: str, columns: int = 80) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="bulksync", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_entry_resolves_to_its_kind_with_its_own_help(name: str) -> None:
    entry, found = COMMANDS[name], load(name)
    if entry.kind == "sub-app":
        assert isinstance(found, typer.Typer)
        text = found.info.help
    else:
        assert callable(found) and not isinstance(found, typer.Typer)
        text = inspect.getdoc(found)
    assert isinstance(text, str)
    first = text.split("\n\n")[0]
    assert " ".join(first.split()) == entry.help  # the command list shows the table's words


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_the_command_list_is_the_whole_apps_without_importing_a_command(columns: int) -> None:
    described = build_app(None)
    assert listed(described) == listed(cli_app.app) == list(COMMANDS)
    assert help_text(described, columns=columns) == help_text(cli_app.app, columns=columns)


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_asked_for_is_built_alone_and_helps_as_in_the_whole_app(name: str) -> None:
    alone = build_app(name)
    assert listed(alone) == [name]
    own = help_text(alone, name)
    assert own.startswith(f"Usage: bulksync {name} ")
    assert own == help_text(cli_app.app, name)


def test_a_name_that_is_no_command_gets_the_command_list() -> None:
    assert listed(build_app("cpy")) == list(COMMANDS)
    result = CliRunner().invoke(build_app("cpy"), ["cpy"], prog_name="bulksync")
    assert result.exit_code == 2 and "No such command 'cpy'" in result.output


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["bulksync"], None),
        (["bulksync", "--help"], None),
        (["bulksync", "--help", "copy"], None),  # the root's --help: the command list
        (["bulksync", "copy", "a.db", "b.db", "-t", "x"], "copy"),
        (["bulksync", "stores", "sync", "users"], "stores"),
        (["bulksync", "cpy"], "cpy"),
    ],
)
def test_the_command_is_the_first_word_after_bulksync(argv: list[str], command: str | None) -> None:
    assert asked(argv) == command


def test_the_module_has_no_other_lazy_attribute() -> None:
    with pytest.raises(AttributeError):
        cli_app.__getattr__("apps")
