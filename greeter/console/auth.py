"""Who may use the console: the admin password, API tokens, sessions and sign-in throttling.

The password and the tokens live in two private files (``0600``) beside the store, because the
console and the robot share that folder and whoever can read the store can read the guests'
biometric data anyway. With a shared store they live on its server instead (`SharedFiles`),
so one password signs in at every robot's console and a registration system's token works
with all of them (and a token revoked anywhere stops everywhere at once); the password's hash
is also written to this machine's file, whose presence starts the robot's console unit
(deploy/jetbot). The two documents:

* ``console-password.json``: the admin password as a salted ``scrypt`` hash (memory-hard:
  16 MB and ~50 ms a guess), never the password;
* ``console-tokens.json``: API tokens by name, each as the SHA-256 of a random 256-bit token
  (a token is printed once, at creation; being random, it needs no slow hash).

Both files are checked when the console starts (and by ``greeter doctor``): one readable by
others (made ``0644`` by hand, copied with another umask) is made private again, and the log
says which; one that cannot be made private is refused.

Sessions are kept in the console's memory only: restarting it signs everybody out.
"""

import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Protocol, Union

from greeter.atomicfile import make_private, replace_file
from greeter.errors import GreeterError
from greeter.people.store import now_iso

PASSWORD_FILE = "console-password.json"
TOKENS_FILE = "console-tokens.json"

#: scrypt cost: n=2**14, r=8 needs 16 MB per guess.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MIN_PASSWORD_LENGTH = 10

#: A session ends after this long without a request, and in any case after `SESSION_MAX_AGE`.
SESSION_IDLE = 2 * 3600.0
SESSION_MAX_AGE = 12 * 3600.0

#: Wrong passwords a client may try freely; after that it must wait 1, 2, 4 ... 60 s.
FREE_ATTEMPTS = 3
MAX_WAIT = 60.0
#: A client's failures are forgotten after this long without another.
FAILURE_MEMORY = 15 * 60.0
#: Passwords checked at once, whoever sends them: each check takes 16 MB and ~50 ms of a core
#: (scrypt), so 30 sent at once took the console from 82 to 547 MB. Two keep a sign-in during
#: an attack from many addresses within a second; a third at that moment is asked to retry.
CHECKS_AT_ONCE = 2


class AuthError(GreeterError):
    """The console's password or tokens cannot be set, read or used."""


class Busy(GreeterError):
    """`CHECKS_AT_ONCE` passwords are being checked already."""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * r * n, dklen=32)


class SharedFiles(Protocol):
    """Where a shared store keeps small documents (`greeter.people.server_store.ServerStore`)."""

    def document(self, name: str) -> Optional[str]: ...

    def put_document(self, name: str, text: str) -> None: ...


class Credentials:
    """The password and token files of one store's console; with `shared` (a shared store,
    opened when first needed), its server's documents of the same names."""

    def __init__(self, folder: Union[str, Path],
                 shared: Optional[Callable[[], SharedFiles]] = None):
        self.folder = Path(folder)
        self._shared = shared
        self.password_file = self.folder / PASSWORD_FILE
        self.tokens_file = self.folder / TOKENS_FILE
        self._checking = threading.BoundedSemaphore(CHECKS_AT_ONCE)

    # -- the admin password ---------------------------------------------------------------

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AuthError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} "
                            "characters (a few words are easy to type and hard to guess)")
        salt = secrets.token_bytes(16)
        record = {"scheme": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                  "salt": salt.hex(), "hash": _scrypt(password, salt, SCRYPT_N, SCRYPT_R,
                                                      SCRYPT_P).hex(), "set": now_iso()}
        self._write(self.password_file, record)

    def has_password(self) -> bool:
        if self._shared is not None:
            return self._shared().document(PASSWORD_FILE) is not None
        return self.password_file.is_file()

    def check_password(self, password: str) -> bool:
        """Whether `password` is the admin password; `Busy` when `CHECKS_AT_ONCE` checks are
        under way (never queued: a queue of scrypt checks is what an attacker wants)."""
        if not self._checking.acquire(blocking=False):
            raise Busy("other sign-ins are being checked: try again in a moment")
        try:
            record = self._read(self.password_file)
            if not record:
                return False
            try:
                computed = _scrypt(password, bytes.fromhex(record["salt"]), int(record["n"]),
                                   int(record["r"]), int(record["p"]))
                return hmac.compare_digest(computed, bytes.fromhex(record["hash"]))
            except (KeyError, ValueError, TypeError):
                raise AuthError(f"{self.password_file}: damaged; set the password again with "
                                "`greeter console set-password`") from None
        finally:
            self._checking.release()

    def make_private(self) -> List[str]:
        """Make the password and token files private (``0600``) where they are not: what was
        done, a line per file; `AuthError` for a file that cannot be made private."""
        repaired = []
        for path in (self.password_file, self.tokens_file):
            try:
                mode = make_private(path)
            except OSError as error:
                raise AuthError(f"{path}: readable by others and cannot be made private "
                                f"({error.strerror}); refused until its owner runs "
                                f"`chmod 600 {path}`") from None
            if mode is not None:
                repaired.append(f"{path}: was readable by others ({mode:04o}); made private "
                                f"({stat.S_IMODE(os.stat(path).st_mode):04o})")
        return repaired

    # -- API tokens -------------------------------------------------------------------------

    def create_token(self, name: str) -> str:
        """A new token called `name`, returned once: only its hash is kept."""
        if not name.strip() or len(name) > 64 or any(not ch.isprintable() for ch in name):
            raise AuthError(f"'{name}' is not a usable token name: use up to 64 printable "
                            "characters, e.g. registration-desk")
        tokens = self._tokens()
        if name in tokens:
            raise AuthError(f"a token called '{name}' exists already: revoke it first "
                            f"(`greeter console token revoke {name}`) or choose another name")
        token = secrets.token_urlsafe(32)
        tokens[name] = {"sha256": _token_hash(token), "created": now_iso()}
        self._write(self.tokens_file, tokens)
        return token

    def revoke_token(self, name: str) -> None:
        tokens = self._tokens()
        if name not in tokens:
            known = ", ".join(sorted(tokens)) or "none"
            raise AuthError(f"no token called '{name}' (tokens: {known})")
        del tokens[name]
        self._write(self.tokens_file, tokens)

    def token_names(self) -> List[str]:
        return sorted(self._tokens())

    def token_owner(self, token: str) -> Optional[str]:
        """The name of the token `token`, or None when it is unknown or revoked. The file is
        read on every request, so a token revoked from the command line stops at once."""
        digest = _token_hash(token)
        found = None
        for name, entry in self._tokens().items():
            if hmac.compare_digest(str(entry.get("sha256", "")), digest):
                found = name
        return found

    def _tokens(self) -> Dict[str, Dict[str, str]]:
        return self._read(self.tokens_file) or {}

    # -- files ------------------------------------------------------------------------------

    def _read(self, path: Path) -> Optional[dict]:
        if self._shared is not None:
            text = self._shared().document(path.name)
            if text is None:
                return None
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                raise AuthError(f"{path.name} on the store's server: damaged; set it again "
                                "with `greeter console`")
            return value
        try:
            with open(path, encoding="utf-8") as file:
                mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
                if mode & 0o077:  # `make_private` could not repair it, or it changed since
                    raise AuthError(f"{path}: readable by others ({mode:04o}); refused until "
                                    f"it is private: `chmod 600 {path}`")
                value = json.loads(file.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise AuthError(f"{path}: cannot be read ({error}); remove it and set it again "
                            "with `greeter console`") from None
        if not isinstance(value, dict):
            raise AuthError(f"{path}: damaged; remove it and set it again with "
                            "`greeter console`")
        return value

    def _write(self, path: Path, value: dict) -> None:
        text = json.dumps(value, indent=1, sort_keys=True) + "\n"
        if self._shared is not None:
            self._shared().put_document(path.name, text)
            if path != self.password_file:
                return  # the password's file also starts the console's unit: kept here too
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            replace_file(path, text.encode(), mode=0o600)
        except OSError as error:
            raise AuthError(f"{path}: cannot be written ({error.strerror})") from None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Session:
    id: str
    csrf: str
    created: float
    seen: float
    flash: List[str] = field(default_factory=list)


class Sessions:
    """Signed-in browsers, in memory. `clock` is injectable so tests need not wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._sessions: Dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._forget_expired(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: Optional[str]) -> Optional[Session]:
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > SESSION_IDLE or now - session.created > SESSION_MAX_AGE:
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def end(self, session_id: Optional[str]) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _forget_expired(self, now: float) -> None:
        for key in [key for key, session in self._sessions.items()
                    if now - session.seen > SESSION_IDLE
                    or now - session.created > SESSION_MAX_AGE]:
            del self._sessions[key]


def csrf_matches(session: Session, submitted: Optional[str]) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")


@dataclass
class _Failures:
    count: int
    last: float


class SignInThrottle:
    """Slows down guessing: after `FREE_ATTEMPTS` wrong passwords from one client, each further
    attempt must wait twice as long as the previous one (up to `MAX_WAIT`) after the last
    failure. A right password clears the client's record."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_clients: int = 10000):
        self._clock = clock
        self._max_clients = max_clients
        self._failures: Dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def attempt(self, client: str) -> float:
        """Seconds `client` must still wait before trying a password; 0 when it may try now,
        and then the attempt is counted as a failure at once, before the password is checked,
        so that passwords sent together all count (`succeeded` takes it back)."""
        now = self._clock()
        with self._lock:
            record = self._failures.get(client)
            if record is not None and now - record.last <= FAILURE_MEMORY \
                    and record.count >= FREE_ATTEMPTS:
                delay = min(2.0 ** (record.count - FREE_ATTEMPTS), MAX_WAIT)
                wait = record.last + delay - now
                if wait > 0:
                    return wait
            if len(self._failures) >= self._max_clients:  # bounded whoever sends passwords
                recent = sorted(((value.last, key) for key, value in self._failures.items()
                                 if now - value.last <= FAILURE_MEMORY), reverse=True)
                self._failures = {key: self._failures[key]
                                  for _, key in recent[:self._max_clients // 2]}
                record = self._failures.get(client)
            if record is None or now - record.last > FAILURE_MEMORY:
                record = self._failures[client] = _Failures(0, now)
            record.count += 1
            record.last = now
            return 0.0

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
