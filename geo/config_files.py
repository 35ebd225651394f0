"""Reading roadscan's TOML configuration files with one kind of error for every file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from roadscan.core.errors import ConfigError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The parsed file; a missing or malformed file is a ConfigError naming it and `what` it should be."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found", path=path) from None
    except IsADirectoryError:
        raise ConfigError(f"is a folder; give the {what} file (.toml) itself", path=path) from None
    except OSError as exc:  # unreadable: permissions, a device, a broken disk
        raise ConfigError(f"cannot read the {what} file ({exc.strerror or exc})", path=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a valid TOML file ({exc})", path=path) from None
