"""People's keys: the keys file the risk owner controls (public keys) and the private keys on this machine.

The keys file (``MANDATE_KEYS``, default ``$MANDATE_HOME/keys.toml``) maps each person to one or more
Ed25519 public keys, each with a key id and an optional expiry; a key is withdrawn by ``revoked = true``
or by deleting its entry. The file is read again whenever it changes, so a key added or revoked takes
effect without restarting a worker. Its hash goes into each run's loaded mandate, so a replay knows
which keys were in force.

Private keys live under ``$MANDATE_HOME/keys/`` (mode 0600), one PEM file per key, never in the
repository and never in the keys file; the folder is the current user's, 0700, or refused
(``mandate.key_modes``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mandate.errors import KeysError, first_problem
from mandate.key_modes import close_keys_folder, owned_and_closed

__all__ = [
    "person_key",
    "KeyEntry",
    "KeySet",
    "KeysFile",
    "KeysFileNotWritable",
    "LocalKey",
    "load_keys",
    "new_key",
    "local_keys",
    "check_private_keys",
    "keys_path",
    "publish",
    "ensure_demo_keys",
]

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def person_key(name: str) -> str:
    """A person's name as compared: equal but for ASCII letter case and outer spaces. Only ASCII letters
    fold: ``str.casefold`` would let a lookalike such as a long s pass for a name the charter lists."""
    return name.strip().translate(_ASCII_FOLD)


KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")]


class KeyEntry(BaseModel):
    """One public key of one person, as the keys file lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    key_id: KeyId
    public_key: Annotated[str, StringConstraints(pattern=r"^ed25519:[A-Za-z0-9_-]{43}$")]
    expires_at: datetime | None = None
    revoked: bool = False

    @property
    def person_key(self) -> str:
        return KeySet.person_key_of(self.person)

    def public_key_object(self) -> Ed25519PublicKey:
        raw = base64.urlsafe_b64decode(self.public_key.removeprefix("ed25519:") + "=")
        return Ed25519PublicKey.from_public_bytes(raw)


class KeySet(BaseModel):
    """The keys in force: what a run carries in its loaded mandate and verifies statements with."""

    model_config = ConfigDict(frozen=True)

    keys: list[KeyEntry] = Field(default_factory=list)
    digest: str = ""
    #: A keys file ``mandate dev`` / ``mandate demo`` made for the demo people on this machine.
    demo: bool = False

    @staticmethod
    def person_key_of(name: str) -> str:
        return person_key(name)

    def find(self, key_id: str) -> KeyEntry | None:
        return next((entry for entry in self.keys if entry.key_id == key_id), None)

    def of(self, person: str) -> list[KeyEntry]:
        wanted = self.person_key_of(person)
        return [k for k in self.keys if k.person_key == wanted]


class KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    demo: bool = False
    key: list[KeyEntry] = Field(default_factory=list)


def keys_path() -> Path:
    explicit = os.environ.get("MANDATE_KEYS")
    return Path(explicit) if explicit else Path(os.environ.get("MANDATE_HOME", ".mandate")) / "keys.toml"


_cache: dict[Path, tuple[tuple[int, int], KeySet]] = {}


def load_keys(path: Path | None = None) -> KeySet:
    """The keys file, re-read when its size or modification time changed; an absent file holds no keys."""
    path = path or keys_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return KeySet()
    except OSError as err:
        raise KeysError(f"{path}: cannot read the keys file: {err.strerror}") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    data = path.read_bytes()
    try:
        parsed = KeysFile.model_validate(tomllib.loads(data.decode()))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise KeysError(f"{path}: not valid TOML: {err}") from None
    except ValidationError as err:
        raise KeysError(f"{path}: {first_problem(err)}") from None
    seen: set[str] = set()
    for entry in parsed.key:
        if entry.key_id in seen:
            raise KeysError(f"{path}: key id {entry.key_id!r} is listed twice")
        seen.add(entry.key_id)
    keys = KeySet(keys=parsed.key, digest="sha256:" + hashlib.sha256(data).hexdigest(), demo=parsed.demo)
    _cache[path] = (stamp, keys)
    return keys


# ----------------------------------------------------------------------------------- private keys


class KeysFileNotWritable(KeysError):
    """The keys file cannot be written here (the risk owner's, mounted read-only): its owner adds the entry."""


@dataclass(frozen=True)
class LocalKey:
    """A private key on this machine."""

    person: str
    key_id: str
    private_key: Ed25519PrivateKey
    path: Path


def _private_dir() -> Path:
    return Path(os.environ.get("MANDATE_HOME", ".mandate")) / "keys"


def _file_name(person: str, key_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._@+-" else "_" for c in person)
    return f"{safe}--{key_id}.pem"


def new_key(person: str, *, key_id: str | None = None, expires_at: datetime | None = None) -> tuple[LocalKey, KeyEntry]:
    """Make a key pair: the private part under ``$MANDATE_HOME/keys`` (0600), the public entry to publish."""
    person = person.strip()
    if not person or any(not c.isprintable() for c in person):
        raise KeysError("a key needs the name of a person (printable, not empty)")
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    stem = re.sub(r"[^A-Za-z0-9._+-]", "", person.split("@")[0])[:40] or "key"
    key_id = key_id or f"{stem}-{datetime.now(UTC):%Y%m%d%H%M%S}-{raw.hex()[:6]}"
    try:
        entry = KeyEntry(
            person=person,
            key_id=key_id,
            public_key="ed25519:" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
            expires_at=expires_at,
        )
    except ValidationError as err:
        raise KeysError(f"cannot make a key for {person!r}: {first_problem(err)}") from None
    folder = _private_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    close_keys_folder(folder)  # one made before may be open to others
    path = folder / _file_name(person, key_id)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return LocalKey(person=person, key_id=key_id, private_key=private, path=path), entry


def check_private_keys() -> None:
    """This machine's private keys folder, if there is one, and its keys: tightened, or ``KeysError``."""
    if _private_dir().is_dir():
        close_keys_folder(_private_dir())


def local_keys(person: str) -> list[LocalKey]:
    """The private keys this machine holds for ``person``, newest file first."""
    wanted = _file_name(person.strip(), "x").rpartition("--")[0].translate(_ASCII_FOLD)
    return [
        LocalKey(person=person.strip(), key_id=key_id, private_key=private, path=path)
        for owner, key_id, private, path in _held_keys()
        if owner == wanted
    ]


_held: dict[Path, tuple[tuple[str, ...], list[tuple[str, str, Ed25519PrivateKey, Path]]]] = {}


def _held_keys() -> list[tuple[str, str, Ed25519PrivateKey, Path]]:
    """Every private key under ``$MANDATE_HOME/keys`` (owner folded, key id, key, file), newest first.

    Parsed again only when the folder's key files change (one is only ever added or removed, never rewritten:
    ``new_key`` creates it exclusively), so a long-lived process signing many statements parses each once.
    """
    folder = _private_dir()
    try:
        names = tuple(sorted(n for n in os.listdir(folder) if n.endswith(".pem")))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as err:
        raise KeysError(f"{folder}: cannot read the private keys folder: {err.strerror}") from None
    owned_and_closed(folder, 0o700, "private keys folder")
    cached = _held.get(folder)
    if cached is not None and cached[0] == names:
        return cached[1]
    found = []
    for path in sorted((folder / name for name in names), key=lambda p: p.stat().st_mtime_ns, reverse=True):
        owned_and_closed(path, 0o600, "private key")
        owner, _, key_id = path.name.removesuffix(".pem").rpartition("--")
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(private, Ed25519PrivateKey):
            found.append((owner.translate(_ASCII_FOLD), key_id, private, path))
    _held[folder] = (names, found)
    return found


DEMO_HEADER = """# Demo keys, made by `mandate dev` / `mandate demo` for the people its charters name, on this machine
# only. Production points MANDATE_KEYS at the risk owner's keys file instead; never use these there.
demo = true
"""


def publish(entry: KeyEntry, path: Path | None = None) -> Path:
    """Add a public entry to the keys file (made if absent); its private part stays where it was made."""
    path = path or keys_path()
    current = load_keys(path)
    if current.find(entry.key_id) is not None:
        raise KeysError(f"{path}: key id {entry.key_id!r} is already listed")
    lines = ["", "[[key]]", f"person = {_toml(entry.person)}", f"key_id = {_toml(entry.key_id)}"]
    lines.append(f"public_key = {_toml(entry.public_key)}")
    if entry.expires_at is not None:
        lines.append(f"expires_at = {entry.expires_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    except OSError as err:  # the risk owner's file, mounted read-only where the workers run: as it should be
        raise KeysFileNotWritable(f"{path}: cannot add the entry to the keys file ({err.strerror})") from None
    return path


def ensure_demo_keys(people: list[str]) -> list[KeyEntry]:
    """On a demo keys file (or none yet): a key for each person who has none on this machine.

    Returns the entries made. A keys file that is not a demo file is never touched.
    """
    path = keys_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEMO_HEADER, encoding="utf-8")
    if not load_keys(path).demo:
        return []
    made = []
    for person in dict.fromkeys(p.strip() for p in people if p.strip()):
        listed = {k.key_id for k in load_keys(path).of(person)}
        if any(k.key_id in listed for k in local_keys(person)):
            continue
        _, entry = new_key(person)
        publish(entry, path)
        made.append(entry)
    return made


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
