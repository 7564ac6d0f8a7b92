"""Atomic file publishing: every file midnet writes appears whole under its name, or not at all.

A file is written to a temporary beside its target, named ``.NAME.midnet.PID.HOST.RANDOM.tmp``, and
renamed into place in one step (:func:`atomic_write`); a no-replace write never replaces a name that
another process published meanwhile (:class:`OutputExists`). A killed writer's temporary is
recognised by its PID and host and removed by the next run on that host
(:func:`remove_stale_temporaries`). Restored micrographs (midnet.images.io.write_image), weights,
checkpoints, cached ONNX files, reports and the server's files all go through here. Imports only
midnet.errors.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import tempfile
from pathlib import Path

from ..errors import MidnetError


class OutputExists(MidnetError):
    """A no-replace write found its output already there: written meanwhile, e.g. by another process."""


# Temporaries are named .NAME.midnet.PID.HOST.RANDOM.tmp: a later run can tell a dead process's from a live one's.
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "localhost"
_TEMPORARY = re.compile(r"\..*\.midnet\.(\d+)\.([A-Za-z0-9-]+)\.[a-z0-9_]+\.tmp", re.DOTALL)
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")  # numpy's tofile when the disk fills
_NO_HARD_LINKS = {getattr(errno, n) for n in ("EPERM", "EOPNOTSUPP", "ENOTSUP", "ENOSYS", "EMLINK", "EXDEV")
                  if hasattr(errno, n)}


def check_writable(output: str | os.PathLike) -> None:
    """A :class:`MidnetError` unless ``output``'s folder exists or can be made, and can be written.

    Called before long work whose result goes there, so that a wrong ``-o`` costs seconds, not the work.
    """
    output = Path(output)
    folder = output.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise MidnetError(f"cannot write {output}: {folder} is not a folder; choose another -o")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MidnetError(f"cannot write {output}: {folder} is not writable; choose another -o or change its permissions")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, replace: bool = True):
    """Yield a temporary path beside ``path``; on success it becomes ``path`` in one step.

    ``replace=True`` renames it over an existing ``path``; ``replace=False`` never replaces one, even one
    another process wrote meanwhile, and raises :class:`OutputExists` instead. An error leaves ``path`` as
    it was and no temporary behind (a process killed outright leaves its temporary, whose name holds its PID
    and host: see :func:`remove_stale_temporaries`). OS errors become a :class:`MidnetError` naming ``path``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
        os.close(fd)
        yield tmp
        set_default_mode(tmp)
        if replace:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    except OSError as exc:
        raise write_error(exc, path, tmp) from exc
    finally:
        if tmp is not None and os.path.lexists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _temporary_prefix(path: Path) -> str:
    name = path.name
    while len(os.fsencode(name)) > 120:  # leave room for the rest within a file system's 255 bytes
        name = name[:-1]
    return f".{name}.midnet.{os.getpid()}.{HOST}."


def _publish_new(tmp: str, path: Path) -> None:
    """Give ``tmp``'s file the name ``path`` unless that name exists, atomically, even between processes."""
    exists = f"{path} appeared while it was being written (another run?); it was kept"
    try:
        os.link(tmp, path)  # fails on an existing name; atomic_write removes tmp afterwards
        return
    except FileExistsError:
        raise OutputExists(exists) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
    try:  # a file system without hard links: claim the name atomically, then rename over the claim
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:
        raise OutputExists(exists) from None
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)  # our empty claim, nobody else's file
        raise


def write_error(exc: BaseException, path: str | os.PathLike, tmp: str | None = None) -> MidnetError:
    """``exc``, raised while writing ``path`` through the temporary ``tmp``, as a message naming ``path``."""
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or (isinstance(exc, OSError) and _SHORT_WRITE.search(str(exc))):
        return MidnetError(f"no space left on device writing {path}; free some space or write elsewhere")
    if code is not None and code == getattr(errno, "EDQUOT", None):
        return MidnetError(f"disk quota exceeded writing {path}; free some space or write elsewhere")
    if isinstance(exc, MidnetError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        other = exc.filename if exc.filename is not None and str(exc.filename) not in (str(tmp), str(path)) else None
        text = f"cannot write {path}: {exc.strerror}" + (f" ({other})" if other is not None else "")
    else:
        text = f"cannot write {path}: {type(exc).__name__}: {exc}"
    if tmp:
        text = text.replace(str(tmp), str(path))
    return MidnetError(text if str(path) in text else f"{path}: {text}")


def temporary_owner(name: str) -> tuple[int, str] | None:
    """(PID, host) of the midnet process that made the temporary file called ``name``; None for other names."""
    m = _TEMPORARY.fullmatch(name)
    return (int(m.group(1)), m.group(2)) if m else None


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove from ``folder`` (not below it) the temporaries of midnet processes of this host that are gone.

    A live process's temporary stays, and so does any from another host sharing the folder.
    """
    if os.name != "posix":  # os.kill(pid, 0) tests nothing elsewhere (on Windows it ends the process)
        return []
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            owner = temporary_owner(entry.name)
            if owner and owner[1] == HOST and not _alive(owner[0]) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: alive, another user's
        return True
    return True


def set_default_mode(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions a plain new file gets (mkstemp makes it owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
