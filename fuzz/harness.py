"""What every fuzz target is, and how a run is judged.

A target turns one fuzzer input into a call of the project's own code and says how it ended:
`ACCEPTED` or `REFUSED` (a refusal is the documented error: an HTTP 4xx, a ConfigError, an
InvalidToken, ...). Anything else that escapes is a crash. A target raises `WrongAccept` when the code
accepted what it must not (a forged token verified, a request forwarded in a form it must never
have), which is a finding as serious as a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

ACCEPTED, REFUSED = "accepted", "refused"


class WrongAccept(AssertionError):
    """The code under test accepted an input that it must refuse."""


@dataclass(frozen=True)
class Target:
    name: str
    doc: str
    seeds: Sequence[bytes]
    one: Callable[[bytes], str]  # ACCEPTED or REFUSED; raises WrongAccept or crashes
