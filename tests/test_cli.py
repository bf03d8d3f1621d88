"""Every `nemi` subcommand answers --help, and errors exit 2 with a message instead of a traceback."""

from __future__ import annotations

import argparse

import pytest

from nemi.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _commands(sub, (*prefix, name))


COMMANDS = sorted(set(_commands(build_parser())))


def test_every_stage_has_a_command():
    top = {c[0] for c in COMMANDS}
    assert {"synth", "decode", "changes", "labels", "features", "i3d", "evaluate", "detect", "inspect",
            "plot"} <= top


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_exits_zero(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: nemi" in capsys.readouterr().out


def test_input_error_exits_2_without_traceback(tmp_path, capsys):
    assert main(["labels", "hog", "--dataset", "x", "--curves", str(tmp_path / "none.h5"),
                 "--out", str(tmp_path / "o.json"), "--tau", "-1"]) == 2
    err = capsys.readouterr().err
    assert "tau must be >= 0" in err and "Traceback" not in err
