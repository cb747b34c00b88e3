"""ODBC connection strings for SQL Server: built from the dbt profile, parsed, masked.

Pure functions, no pyodbc import: the loader builds the same string
dbt-sqlserver builds for the same profile (so one profile means one server,
one login, one TLS setting), and the profile module can find the password in
a `--conn` string to mask it without loading the driver.

The format (ODBC): `KEY=value;KEY={value with ; or }} inside}`. Values we
write are brace-quoted the way dbt-sqlserver does (`UID={sa}`), so a password
with `;` or `}` cannot end the value early.
"""

from __future__ import annotations

from .errors import ConfigError

APP_NAME = "canvas-loader"
DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"

# dbt-sqlserver's profile aliases (SQLServerCredentials._ALIASES): a profile
# written for dbt means the same to the loader.
_ALIASES = {
    "user": "UID",
    "username": "UID",
    "pass": "PWD",
    "password": "PWD",
    "server": "host",
    "trusted_connection": "windows_login",
    "auth": "authentication",
    "TrustServerCertificate": "trust_cert",
    "app_id": "client_id",
    "app_secret": "client_secret",
}
_SECRET_KEYS = {"pwd", "password"}


def _canonical(config: dict) -> dict:
    return {_ALIASES.get(k, k): v for k, v in config.items()}


def _braced(value) -> str:
    """A brace-quoted ODBC value; a literal `}` is doubled (as dbt-sqlserver does)."""
    text = "" if value is None else str(value)
    return "{" + text.replace("}", "}}") + "}"


def _driver(value) -> str:
    text = str(value or DEFAULT_DRIVER)
    return text if text.startswith("{") and text.endswith("}") else "{" + text + "}"


def _server(host: str, port) -> str:
    """`host,port`; a named instance (host\\instance) is addressed without a port."""
    host = host.strip()
    if "\\" in host or not port:
        return host
    return f"{host},{port}"


def _yes_no(value) -> str:
    return "Yes" if value else "No"


def odbc_connection_string(config: dict, app: str = APP_NAME) -> str:
    """The pyodbc connection string for a `type: sqlserver` profile output.

    Same keys and values as dbt-sqlserver's build_pyodbc_connection_string
    (DRIVER, SERVER, Database, UID/PWD or Trusted_Connection, encrypt,
    TrustServerCertificate, APP), minus its pooling/retry/trace tuning, with
    dbt's defaults (port 1433, encrypt on, trust_cert off). Microsoft Entra ID
    modes the driver performs itself are built too (_auth_parts).
    """
    c = _canonical(config)
    missing = [k for k in ("host", "database") if not str(c.get(k) or "").strip()]
    if missing:
        raise ConfigError(
            f"the sqlserver target lacks {' and '.join(missing)}",
            "Set SQLSERVER_HOST and SQLSERVER_DATABASE (profiles.yml), or pass --conn",
        )
    parts = [
        f"DRIVER={_driver(c.get('driver'))}",
        f"SERVER={_server(str(c['host']), c.get('port', 1433))}",
        f"Database={c['database']}",
        *_auth_parts(c),
        f"encrypt={_yes_no(c.get('encrypt', True))}",
        f"TrustServerCertificate={_yes_no(c.get('trust_cert', False))}",
        f"APP={app}",
    ]
    return ";".join(parts)


def _auth_parts(c: dict) -> list[str]:
    """UID/PWD or Trusted_Connection, or a Microsoft Entra ID mode that ODBC Driver
    18 performs itself, exactly as dbt-sqlserver writes them (its comparisons are
    case-sensitive; any ActiveDirectory* mode gets Authentication=). The token
    modes dbt fetches in Python (cli, environment, msi, serviceprincipal, an
    access token) have no connection-string form: for those, pass --conn."""
    auth = str(c.get("authentication") or "sql").strip()
    if auth.lower().startswith("activedirectory") and auth.lower() != "activedirectoryaccesstoken":
        extra = {
            "ActiveDirectoryPassword": ("UID", "PWD"),
            "ActiveDirectoryServicePrincipal": ("client_id", "client_secret"),
            "ActiveDirectoryInteractive": ("UID",),
            "ActiveDirectoryMSI": ("UID",) if c.get("UID") else (),
        }.get(auth, ())
        keys = ("UID", "PWD")
        return [f"Authentication={auth}"] + [f"{keys[i]}={_braced(c.get(field))}"
                                             for i, field in enumerate(extra)]
    if c.get("windows_login"):
        return ["Trusted_Connection=yes"]
    if auth == "sql":
        return [f"UID={_braced(c.get('UID'))}", f"PWD={_braced(c.get('PWD'))}"]
    raise ConfigError(
        f"the loader cannot build a connection for authentication {auth!r}",
        "Use sql or an ActiveDirectory* mode (e.g. ActiveDirectoryServicePrincipal, "
        "ActiveDirectoryDefault, ActiveDirectoryMSI), or pass an ODBC connection "
        "string with --conn",
    )


def parse_connection_string(text: str) -> list[tuple[str, str]]:
    """`A=1;B={x;y}}z}` -> [('A', '1'), ('B', 'x;y}z')]: keys as written, values unquoted."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().lstrip(";").strip()
        i = eq + 1
        if i < n and text[i] == "{":
            value, i = _read_braced(text, i + 1)
            semi = text.find(";", i)
            i = n if semi < 0 else semi + 1
        else:
            semi = text.find(";", i)
            end = n if semi < 0 else semi
            value, i = text[i:end].strip(), end + 1
        if key:
            pairs.append((key, value))
    return pairs


def _read_braced(text: str, i: int) -> tuple[str, int]:
    out = []
    while i < len(text):
        if text[i] == "}":
            if text[i + 1:i + 2] == "}":
                out.append("}")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    return "".join(out), i


def connection_string_secrets(text: str | None) -> list[str]:
    """The password values in a connection string, as written and unquoted (for masking)."""
    if not text:
        return []
    secrets = []
    for key, value in parse_connection_string(text):
        if key.lower() in _SECRET_KEYS and value:
            secrets += [value, _braced(value)]
    return secrets


def describe_connection_string(text: str) -> str:
    """'host,1433, database canvas': where a string points, never its secrets."""
    values = {k.lower(): v for k, v in parse_connection_string(text)}
    server = values.get("server") or values.get("address") or values.get("dsn") or "?"
    database = values.get("database")
    return f"{server}" + (f", database {database}" if database else "")
