"""CI runs the README's full test command, and the README's inner loop is that
command without the tests marked slow."""
import os

from tests.helpers import REPO


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(REPO, "README.md")) as f:
        section = f.read().split("## Run the tests", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in section.splitlines()
                if line.startswith("python -m pytest")]
    assert commands == ["python -m pytest -q -n 2",
                        'python -m pytest -q -n 2 -m "not slow"']
    with open(os.path.join(REPO, ".ci", "run")) as f:
        ci_commands = [line.strip() for line in f if line.startswith("python -m pytest")]
    assert ci_commands == [commands[0]]
