"""The README's commands are the ones CI runs, and its CLI reference is current."""

from __future__ import annotations

import re
import subprocess
import sys

from click.testing import CliRunner

from conftest import PROJECT_DIR
from loader.cli import cli


def _quick_start_commands() -> list[str]:
    text = (PROJECT_DIR / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_readme_quick_start_has_the_two_scripts():
    assert _quick_start_commands() == ["scripts/demo.sh", "scripts/test.sh"]


def test_readme_test_command_is_what_ci_runs():
    ci = (PROJECT_DIR / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test\.sh\b", ci, re.M)


def test_readme_demo_command_runs_loader_run_demo():
    demo = (PROJECT_DIR / "scripts" / "demo.sh").read_text()
    assert "loader run --demo" in demo


def test_readme_cli_reference_is_fresh():
    proc = subprocess.run([sys.executable, "scripts/cli_reference.py", "--check"],
                          cwd=PROJECT_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_readme_every_command_has_an_example():
    for name in cli.commands:
        help_text = CliRunner().invoke(cli, [name, "--help"]).output
        assert "Example:" in help_text, name


def test_readme_points_only_to_files_in_the_repository():
    """Every relative link and every path-like mention of a .md file resolves
    inside the repository (it once named ../shared/DESIGN.md, which is not)."""
    text = (PROJECT_DIR / "README.md").read_text()
    links = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)
    mentioned = re.findall(r"`([\w./-]+\.md)`", text)
    assert links, "the README links at least its docs/"
    for target in links + mentioned:
        path = (PROJECT_DIR / target).resolve()
        assert PROJECT_DIR in path.parents and path.exists(), target
