from signgen import __version__


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"signgen {__version__}"


def test_unknown_command_is_a_usage_error(cli):
    code, _, err = cli("no-such-command")
    assert code == 2 and "No such command" in err


def test_help_lists_groups(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "pose" in out
