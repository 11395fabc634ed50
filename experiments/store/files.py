"""Files written so that a kill at any moment leaves them valid, and read only when they are
what they should be.

  write_atomic(path, data)   a temporary file of a unique name beside `path`, synced, then renamed
                             into place: a kill or a full disk leaves the old file or the new one
  append_whole(path, data)   one write() of whole lines, which a killed process cannot leave half
                             done; a write cut short by a full disk is taken back
  kind_of(path)              what a path is, without following a symbolic link

Nothing here follows a symbolic link planted where a file is written: the temporary name is
new (O_EXCL), the rename replaces a link rather than writing through it, and appends refuse
one. Anything that is not a regular file where a file is expected (a FIFO, a device, a link)
is refused before it is opened, since reading it could block or never end.
"""
import os
import stat
import tempfile
from pathlib import Path

from experiments.errors import UsageError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, which has no such links to plant
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO without a reader fails at once instead of blocking the open
UMASK = os.umask(0o022)
os.umask(UMASK)  # read, and put back: the process's umask, for the files written here


def why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def kind_of(path: Path) -> str | None:
    """"file", "folder", or what else the path is ("symbolic link", "FIFO", ...); None if absent."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
                       (stat.S_ISBLK, "device")):
        if test(mode):
            return name
    return "special file"


def require(path: Path, kind: str = "file") -> bool:
    """Whether `path` exists as a `kind` ("file" or "folder"); a UsageError if it is something else."""
    try:
        found = kind_of(path)
    except OSError as e:
        raise UsageError(f"cannot read {path} ({why(e)}); check the path and its permissions") from None
    if found is not None and found != kind:
        raise UsageError(f"{path} is a {found} where a {kind} should be; move it away or choose another folder")
    return found is not None


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file (refusing anything else), at most `limit` of them."""
    require(path, "file")
    try:
        with open(path, "rb") as f:
            data = f.read(limit if limit is not None else -1)
    except OSError as e:
        raise UsageError(f"cannot read {path} ({why(e)}); check that it is a file you may read") from None
    return data


def make_folder(path: Path) -> None:
    """mkdir -p that, when it fails, removes the folders it made (a path the system refuses
    leaves nothing behind)."""
    made = []
    try:
        for folder in [*reversed(path.parents), path]:
            if not folder.is_dir():
                folder.mkdir()
                made.append(folder)
    except OSError:
        for folder in reversed(made):
            folder.rmdir()
        raise


def check_writable(folder: Path) -> None:
    """Raise OSError unless files can be created in `folder` (made, as make_folder does, if missing)."""
    make_folder(folder)
    with tempfile.TemporaryFile(dir=folder):
        pass


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file of a unique name and a rename. A failure is
    a UsageError naming the file; the old file is left as it was and no temporary file stays."""
    path = Path(path)
    require(path, "file")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        if hasattr(os, "fchmod"):  # mkstemp's 0600, made what a file created here would have (0644 by umask 022)
            os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise UsageError(f"cannot write {path} ({why(e)}); it was left as it was: free space or fix "
                         "permissions and run again") from None
    finally:
        if tmp is not None:  # after a failure or Ctrl-C mid-write
            Path(tmp).unlink(missing_ok=True)


def append_whole(path: Path, data: bytes) -> None:
    """Append `data` in one write(), never through a symbolic link; a write cut short is taken
    back, leaving the file as it was. Raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW | NONBLOCK, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        before = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
        except OSError:
            os.ftruncate(fd, before)
            raise
        if written != len(data):
            os.ftruncate(fd, before)
            raise OSError(28, "No space left on device (a short write)")
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left in `folder` by a writer killed mid-write (call it holding the lock)."""
    for tmp in folder.glob(".*.tmp"):
        if kind_of(tmp) == "file":
            tmp.unlink(missing_ok=True)
