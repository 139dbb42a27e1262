"""The `config` of file-log: Kong's fields and defaults (and `custom_fields`, see plugins.log_fields)."""

from __future__ import annotations

from pydantic import Field

from oidcgate.plugins.log_fields import LogFieldsConfig

# Kong's rule: no white space at either end, and none of * & % ` anywhere.
PATH_PATTERN = r"^[^\s*&%`][^*&%`]*[^\s*&%`]$"


class FileLogConfig(LogFieldsConfig):
    path: str = Field(pattern=PATH_PATTERN, description=(
        "The file path of the output log file. The plugin creates the log file if it doesn't exist yet "
        "(mode 0640), relative paths from the data plane's working directory."))
    reopen: bool = Field(default=False, description=(
        "Close and reopen the file for every write (a batch of the entries that finished meanwhile), so "
        "that a rotated file is followed."))
