"""Read the dbt profile the project uses, so a database is configured once.

Lookup order for profiles.yml (as dbt does, plus the project directory):
--profiles-dir, $DBT_PROFILES_DIR, the project directory, ~/.dbt. When none
exists, profiles.example.yml (credentials only from environment variables) is
copied to the project directory, which is what a new user would do by hand.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml

from .errors import ConfigError
from .odbc import connection_string_secrets, describe_connection_string

PROFILE_NAME = "canvas_pipeline"
_SECRET_KEYS = ("password", "pass", "token", "secret", "pwd")


@dataclass
class Target:
    """One rendered output of the profile."""

    name: str
    type: str
    config: dict = field(repr=False)
    profiles_dir: Path = Path(".")
    # An ODBC connection string (--conn) that replaces the profile's
    # connection settings for a sqlserver target.
    conn: str | None = field(default=None, repr=False)

    @property
    def secrets(self) -> list[str]:
        """Values that must never be printed or stored."""
        return [
            str(v)
            for k, v in self.config.items()
            if any(s in k.lower() for s in _SECRET_KEYS) and v not in (None, "")
        ] + connection_string_secrets(self.conn)

    def describe(self) -> str:
        """'postgres target at 127.0.0.1:5432' and the like, without secrets."""
        c = self.config
        if self.conn:
            return f"{self.name} target at {describe_connection_string(self.conn)} (--conn)"
        if self.type == "duckdb":
            return f"{self.name} target ({c.get('path')})"
        host = c.get("host") or c.get("server")
        port = c.get("port")
        return f"{self.name} target at {host}:{port}" if port else f"{self.name} target at {host}"


def find_project_dir(start: Path | None = None) -> Path:
    """The dbt project: the nearest dbt_project.yml above start, else the repo of this package."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "dbt_project.yml").is_file():
            return d
    pkg_root = Path(__file__).resolve().parent.parent
    if (pkg_root / "dbt_project.yml").is_file():
        return pkg_root
    raise ConfigError(
        "no dbt_project.yml found in this directory or above",
        "Run the command from the project directory or pass --project-dir",
    )


def resolve_profiles_dir(profiles_dir: str | Path | None, project_dir: Path) -> Path:
    candidates = []
    if profiles_dir:
        p = Path(profiles_dir)
        if not (p / "profiles.yml").is_file():
            raise ConfigError(
                f"no profiles.yml in --profiles-dir {p}",
                "Copy profiles.example.yml there or point --profiles-dir at the right folder",
            )
        return p.resolve()
    if os.environ.get("DBT_PROFILES_DIR"):
        candidates.append(Path(os.environ["DBT_PROFILES_DIR"]))
    candidates += [project_dir, Path.home() / ".dbt"]
    for c in candidates:
        if (c / "profiles.yml").is_file():
            return c.resolve()
    example = project_dir / "profiles.example.yml"
    if example.is_file():
        shutil.copyfile(example, project_dir / "profiles.yml")
        return project_dir
    raise ConfigError(
        "no profiles.yml found",
        "Copy profiles.example.yml to profiles.yml or pass --profiles-dir",
    )


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise ConfigError(f"environment variable {name} is required by the profile but not set")


def _render(value, env: jinja2.Environment):
    if isinstance(value, str) and "{{" in value:
        return env.from_string(value).render()
    if isinstance(value, dict):
        return {k: _render(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, env) for v in value]
    return value


def _coerce(value):
    """dbt's as_number/as_bool turn rendered strings back into typed values."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        if low.lstrip("-").isdigit():
            return int(low)
    if isinstance(value, dict):
        return {k: _coerce(v) for k, v in value.items()}
    return value


def project_path(path: str, project_dir: Path) -> str:
    """A DuckDB path as the loader and dbt both open it: relative to the project
    directory, not to wherever the command runs (':memory:' stays as it is)."""
    if path == ":memory:" or path.startswith("md:"):
        return path
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else Path(project_dir).resolve() / p)


def load_target(
    target: str | None = None,
    profiles_dir: str | Path | None = None,
    project_dir: Path | None = None,
) -> Target:
    """Render the profile's target with env_var() the way dbt does."""
    project_dir = project_dir or find_project_dir()
    pdir = resolve_profiles_dir(profiles_dir, project_dir)
    try:
        raw = yaml.safe_load((pdir / "profiles.yml").read_text()) or {}
    except yaml.YAMLError as exc:
        # Only the position: the parser's message quotes lines, which may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{pdir / 'profiles.yml'} is not valid YAML{where}",
            "Fix the file (compare with profiles.example.yml)",
        ) from None
    if PROFILE_NAME not in raw:
        raise ConfigError(f"profile {PROFILE_NAME!r} not found in {pdir / 'profiles.yml'}")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = _env_var
    env.filters["as_number"] = lambda v: v
    env.filters["as_bool"] = lambda v: v
    env.filters["as_text"] = lambda v: v
    profile = raw[PROFILE_NAME]
    name = target or _render(profile.get("target", "duckdb"), env)
    outputs = profile.get("outputs") or {}
    if name not in outputs:
        known = ", ".join(sorted(outputs)) or "none"
        raise ConfigError(f"unknown target {name!r}", f"Known targets: {known}")
    config = _coerce(_render(outputs[name], env))
    if config.get("type") == "duckdb":
        config["path"] = project_path(config.get("path") or "canvas.duckdb", project_dir)
    return Target(name=name, type=config.get("type", ""), config=config, profiles_dir=pdir)
