"""Who may read and write the private keys on this machine: the folder ``$MANDATE_HOME/keys`` and each key in
it must belong to the current user and be open to nobody else (0700, 0600).

Whoever can write to the folder can put a key of their own under a person's name, and whoever can read a
key can sign as its person. A folder or key left open to others (group or other bits, e.g. a folder made
by hand or copied from elsewhere) is tightened on use; one that belongs to another user, or whose mode
cannot be changed, is refused in one line.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from mandate.errors import KeysError

__all__ = ["owned_and_closed", "close_keys_folder"]

_log = logging.getLogger("mandate.keys")


def owned_and_closed(path: Path, mode: int, what: str) -> None:
    """``path`` belongs to the current user and is open to nobody else: tightened to ``mode`` if it was,
    or ``KeysError`` saying why not (another user's, or a mode that cannot be changed)."""
    found = path.stat()
    if found.st_uid != os.geteuid():
        raise KeysError(
            f"{path}: the {what} belongs to another user (uid {found.st_uid}), who could replace the keys in it; "
            f"it must be yours with mode {mode:04o}: move it aside and make new keys with `mandate keys new`"
        )
    current = stat.S_IMODE(found.st_mode)
    if not current & 0o077:
        return
    try:
        os.chmod(path, mode)
    except OSError as err:
        raise KeysError(
            f"{path}: the {what} is open to other users (mode {current:04o}) and cannot be tightened to "
            f"{mode:04o} ({err.strerror}); run `chmod {mode:o} {path}` as its owner"
        ) from None
    if what == "private key":  # an open folder is closed quietly; an open key may have been read
        _log.warning(
            "private key %s was open to other users (mode %04o), now %04o; if anyone else could read it, make a "
            "new key with `mandate keys new` and have the risk owner revoke this one",
            path,
            current,
            mode,
        )


def close_keys_folder(folder: Path) -> None:
    """The private keys folder (0700) and every key file in it (0600), each tightened or refused."""
    owned_and_closed(folder, 0o700, "private keys folder")
    for key in sorted(folder.glob("*.pem")):
        owned_and_closed(key, 0o600, "private key")
