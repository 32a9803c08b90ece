"""The bad-input catalogue: every user mistake is exit 2 and one line naming the key or file (or a
counted skip in summary.json), never a traceback. Run through the CLI entry function, in process."""

import pytest

from harness.cli import main


@pytest.fixture
def cli(capsys):
    """cli(*args) -> (exit code, stderr lines); progress bars off (``run -q``)."""

    def run(*args: str):
        argv = list(args)
        if argv and argv[0] == "run":
            argv.insert(1, "-q")
        capsys.readouterr()  # only what this command prints
        code = main(argv)
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        return code, err

    return run


def one_line_error(code, err, *must_name):
    """Exit 2, exactly one stderr line, naming every word of ``must_name``."""
    assert code == 2, (code, err)
    assert len(err) == 1, err
    for word in must_name:
        assert word in err[0], (word, err[0])
    assert "Traceback" not in err[0]


@pytest.fixture
def faulty():
    """The toy method ``faulty`` (tests/catalogue/faulty.py) registered for one test."""
    from harness import registry
    from tests.catalogue.faulty import Faulty

    registry.methods.register("faulty", Faulty)
    yield
    registry.methods.unregister("faulty")
