"""Atomic file writes, content hashes, the cache folder and the package version: shared by every room.

Every output cg_gov writes goes through :func:`atomic_write_bytes` (write to a
temporary file in the same folder, fsync, rename), so an interrupted run never
leaves a half-written file behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; outputs are ordinary files, readable per the umask
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, fixed separators, trailing newline."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, canonical_json(obj))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes; a file that cannot be read (EIO, a permission) is a one-line error."""
    from cg_gov.errors import CgGovError

    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while True:
                block = fh.read(chunk)
                if not block:
                    break
                h.update(block)
    except OSError as exc:
        raise CgGovError(f"cannot read the file to hash it: {exc.strerror or exc}", file=str(path),
                         hint="check the file and the disk it is on") from None
    return h.hexdigest()


def cache_dir() -> Path:
    """Root of cg_gov's on-disk cache: ``$CG_GOV_CACHE`` when set, else ``~/.cache/cg_gov``."""
    env = os.environ.get("CG_GOV_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cg_gov"


#: The version ``pyproject.toml`` declares: what :func:`package_version` says when cg-gov runs from a
#: source tree that is not installed (``tests/test_layout.py`` keeps the two equal).
SOURCE_VERSION = "0.1.0"


def package_version() -> str:
    """The installed cg-gov version (:data:`SOURCE_VERSION` when run from a source tree that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cg-gov")
    except PackageNotFoundError:
        return SOURCE_VERSION


# ---------------------------------------------------------------------------
# Bounded reads
# ---------------------------------------------------------------------------

#: Size caps of what cg_gov reads, by kind: (environment variable, default bytes).
READ_LIMITS: dict[str, tuple[str, int]] = {
    "spec": ("CG_GOV_MAX_SPEC_BYTES", 4 << 20),
    "log": ("CG_GOV_MAX_LOG_BYTES", 256 << 20),
    "findings": ("CG_GOV_MAX_FINDINGS_BYTES", 64 << 20),
    "activations": ("CG_GOV_MAX_ACTIVATIONS_BYTES", 1 << 30),
    "labels": ("CG_GOV_MAX_LABELS_BYTES", 16 << 20),
}


def read_limit(kind: str) -> int:
    """The byte cap for ``kind`` (a key of :data:`READ_LIMITS`): its environment variable, else the default."""
    from cg_gov.errors import CgGovError

    env, default = READ_LIMITS[kind]
    raw = os.environ.get(env)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise CgGovError(f"${env} must be a whole number of bytes, got {raw[:40]!r}", key=env) from None
    if value <= 0:
        raise CgGovError(f"${env} must be positive, got {value}", key=env)
    return value


def describe_kind(mode: int) -> str | None:
    """What a non-regular file is, in words ("a folder", "a named pipe (FIFO)"...); None for a regular file."""
    import stat

    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


#: Pseudo-filesystems whose files are not data: a "regular file" there may claim size 0 and grow
#: without end (``/proc/self/pagemap``), fail every read (``/proc/self/mem``: EIO) or be a device.
SPECIAL_ROOTS = ("/proc", "/sys", "/dev")


def special_path(path: str | os.PathLike) -> str | None:
    """The pseudo-filesystem ``path`` lies in (``/proc``, ``/sys``, ``/dev``, after links are
    followed), or None for an ordinary path."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    for root in SPECIAL_ROOTS:
        if real == root or real.startswith(root + "/"):
            return root
    return None


def check_regular_file(path: str | os.PathLike, what: str = "file", kind: str | None = None,
                       error: type | None = None, hint: str | None = None) -> int:
    """Raise a located error unless ``path`` is a regular file (within ``kind``'s size cap); return its size.

    Checked with ``stat`` before anything is opened, so a FIFO never blocks and a device is never read.
    """
    import errno

    from cg_gov.errors import CgGovError

    error = error or CgGovError
    file = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found", file=file, hint=hint) from None
    except NotADirectoryError:
        raise error(f"{what} not found (a folder on its path is a file)", file=file, hint=hint) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise error(f"{what}: the path is too long", file=file[:200] + "...") from None
        raise error(f"cannot read {what}: {exc.strerror}", file=file) from None
    described = describe_kind(st.st_mode)
    if described is not None:
        raise error(f"{what} is {described}, not a regular file", file=file,
                    hint=hint or "give the path of a file")
    special = special_path(path)
    if special is not None:
        raise error(f"{what} is a special file (under {special}), not a regular file", file=file,
                    hint="copy the data into an ordinary file")
    if kind is not None:
        limit = read_limit(kind)
        if st.st_size > limit:
            env = READ_LIMITS[kind][0]
            raise error(f"{what} is {st.st_size:,} bytes, over the limit of {limit:,}", file=file,
                        hint=f"raise ${env} if the file is genuine")
    return st.st_size


def read_bytes_limited(path: str | os.PathLike, what: str = "file", kind: str = "spec",
                       error: type | None = None, hint: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``kind``'s size cap; a located error otherwise.

    The file is checked before it is opened (see :func:`check_regular_file`) and read with a cap,
    so a file that grows, or is swapped for a pipe, between the check and the read is still bounded.
    """
    from cg_gov.errors import CgGovError

    error = error or CgGovError
    check_regular_file(path, what, kind, error, hint)
    limit = read_limit(kind)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", file=str(path)) from None
    with os.fdopen(fd, "rb") as fh:
        described = describe_kind(os.fstat(fh.fileno()).st_mode)
        if described is not None:
            raise error(f"{what} is {described}, not a regular file", file=str(path))
        # capped by the bytes actually read, whatever size the file claims: the size it claims is
        # read in one piece (one allocation), anything beyond in small pieces up to the cap
        try:
            claimed = os.fstat(fh.fileno()).st_size
            data = fh.read(min(limit, max(claimed, 0)) + 1)
            if len(data) > claimed and len(data) <= limit:
                chunks, total = [data], len(data)
                while total <= limit:
                    block = fh.read(min(1 << 20, limit + 1 - total))
                    if not block:
                        break
                    chunks.append(block)
                    total += len(block)
                data = b"".join(chunks)
                del chunks
        except OSError as exc:
            raise error(f"cannot read {what}: {exc.strerror or exc}", file=str(path),
                        hint="check the file and the disk it is on") from None
    if len(data) > limit:
        raise error(f"{what} is over the limit of {limit:,} bytes", file=str(path),
                    hint=f"raise ${READ_LIMITS[kind][0]} if the file is genuine")
    return data


def read_optional(path: str | os.PathLike, limit: int) -> bytes | None:
    """The bytes of an optional side file (a ``summary.json``, a machine record) of at most
    ``limit`` bytes actually read, or None when it is missing, not a regular file, special
    (``/proc``...), longer or unreadable: such files add information and are never worth an error."""
    try:
        if describe_kind(os.stat(path).st_mode) is not None or special_path(path) is not None:
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if describe_kind(os.fstat(fh.fileno()).st_mode) is not None:
                return None
            data = fh.read(limit + 1)
    except (OSError, ValueError):
        return None
    return data if len(data) <= limit else None


# ---------------------------------------------------------------------------
# Output folders written whole
# ---------------------------------------------------------------------------

_STAGING = ".cg-gov-new-"
_ASIDE = ".cg-gov-old-"


def check_out_dir(path: str | os.PathLike, what: str = "report folder", key: str | None = None,
                  file: str | None = None, line: int | None = None) -> None:
    """Raise a located error unless ``path`` can be written as an output folder.

    It must be a folder or not exist yet; its nearest existing ancestor must be a folder
    this process can write to (the folder is written beside itself and renamed into place).
    """
    from cg_gov.errors import CgGovError

    raw = path
    path = Path(os.path.abspath(path))
    where: dict[str, Any] = {"file": file or str(path), "line": line, "key": key}
    system = system_folder(path)
    if system is not None:
        raise CgGovError(f"{what} {path} is {system}", **where,
                         hint="choose a folder of its own for report.out or --out (cg_gov replaces it whole)")
    if os.path.islink(raw) or path.is_symlink():
        raise CgGovError(f"{what} {path} is a symbolic link", **where,
                         hint=f"give the folder it points to ({os.path.realpath(path)}) or another path; "
                              "cg_gov replaces the folder it writes, so it does not write through a link")
    if path.exists() and not path.is_dir():
        described = describe_kind(path.stat().st_mode) or "a file"
        raise CgGovError(f"{what} {path} is {described}, not a folder", **where,
                         hint="choose a folder path for report.out or --out")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise CgGovError(f"{what} {path} lies under {probe}, which is a file, not a folder", **where,
                         hint="choose a folder path for report.out or --out")
    parent = path.parent if path.exists() else probe
    if path.is_dir() and path.stat().st_uid != os.geteuid():
        parent = path  # another user's folder is written in place (see write_folder)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CgGovError(f"{what} {path} cannot be written: {parent} is not writable", **where,
                         hint="choose a folder you can write to for report.out or --out")


#: Folders never used as an output folder (the report folder is replaced whole), with what lies
#: under them.
_SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/boot", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                 "/usr")
#: Folders refused themselves (what lies under them may be the user's).
_SYSTEM_FOLDERS = ("/", "/var", "/tmp", "/home", "/root", "/opt", "/srv", "/run", "/mnt", "/media")


def system_folder(path: str | os.PathLike) -> str | None:
    """Why ``path`` (absolute) cannot be an output folder ("the filesystem root", "a system folder
    (/etc)", "your home folder"), or None."""
    real = os.path.realpath(path)
    for candidate in {os.path.abspath(path), real}:
        if candidate == "/":
            return "the filesystem root"
        for tree in _SYSTEM_TREES:
            if candidate == tree or candidate.startswith(tree + "/"):
                return f"a system folder ({tree})"
        if candidate in _SYSTEM_FOLDERS:
            return f"a system folder ({candidate})"
        try:
            if candidate == os.path.realpath(Path.home()):
                return "your home folder"
        except (RuntimeError, KeyError, OSError):
            pass
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(entry: Path, prefix: str) -> bool:
    """A staging/aside folder left by a process that no longer runs."""
    rest = entry.name.split(prefix, 1)[1] if prefix in entry.name else ""
    try:
        pid = int(rest.split("-", 1)[0])
    except ValueError:
        return True
    return pid != os.getpid() and not _pid_alive(pid)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False when unsupported."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    import errno

    if err in (errno.ENOSYS, errno.EINVAL, errno.EXDEV, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _carry_over(old: Path, new: Path, owned: set[str], move_dirs: bool) -> None:
    """Bring the entries of ``old`` that cg_gov does not own into ``new`` (files linked, folders moved)."""
    import shutil

    for entry in sorted(old.iterdir()):
        if entry.name in owned or (new / entry.name).exists() or (new / entry.name).is_symlink():
            continue
        if entry.name.endswith(".tmp") and any(entry.name.startswith(f".{name}.") for name in owned):
            continue  # a half-written output of an older cg_gov (one file at a time)
        if entry.is_symlink():
            os.symlink(os.readlink(entry), new / entry.name)
        elif entry.is_dir():
            if move_dirs:
                os.rename(entry, new / entry.name)
        else:
            try:
                os.link(entry, new / entry.name)
            except OSError:
                shutil.copy2(entry, new / entry.name)


def clean_stale_outputs(target: str | os.PathLike, owned: set[str] | frozenset[str] = frozenset()) -> None:
    """Finish or undo what an interrupted :func:`write_folder` left beside ``target``.

    A staging folder that was complete (``.ready``) replaces a missing target; an aside folder
    (the old set) comes back when the target is missing; entries the user put in the folder
    (anything cg_gov does not own) are moved back into the target; the rest is deleted.
    """
    import shutil

    target = Path(os.path.abspath(target))
    parent = target.parent
    if not parent.is_dir():
        return
    prefix_new, prefix_old = f".{target.name}{_STAGING}", f".{target.name}{_ASIDE}"
    for entry in parent.iterdir():  # links an older cg_gov left when --out was a link
        if entry.is_symlink() and entry.name.startswith((prefix_new, prefix_old)):
            try:
                entry.unlink()
            except OSError:
                pass
    leftovers = [e for e in parent.iterdir()
                 if e.is_dir() and not e.is_symlink()
                 and ((e.name.startswith(prefix_new) and _stale(e, _STAGING))
                      or (e.name.startswith(prefix_old) and _stale(e, _ASIDE)))]
    if not leftovers:
        return
    if not target.exists():
        ready = [e for e in leftovers if e.name.startswith(prefix_new) and e.name.endswith(".ready")]
        aside = [e for e in leftovers if e.name.startswith(prefix_old)]
        for candidate in ready + aside:
            os.rename(candidate, target)
            leftovers.remove(candidate)
            break
    for entry in leftovers:
        if target.is_dir():
            try:
                _carry_over(entry, target, set(owned), move_dirs=True)
            except OSError:
                pass
        shutil.rmtree(entry, ignore_errors=True)


def _write_in_place(target: Path, files: dict[str, bytes], owned: set[str]) -> Path:
    """The fallback of :func:`write_folder` for the folder the process stands in: every file is
    written beside its place first, then the renames and removals run with SIGINT and SIGTERM held
    back, so only a SIGKILL in those few milliseconds can leave a mix."""
    import signal
    import threading

    from cg_gov.errors import CgGovError

    temps: dict[str, Path] = {}
    try:
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=target)
            temps[name] = Path(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        blocked = threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask")
        if blocked:
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            for name in sorted(owned - set(files)):
                try:
                    (target / name).unlink()
                except FileNotFoundError:
                    pass
            for name, written in temps.items():
                os.replace(written, target / name)
            _fsync_dir(target)
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    except OSError as exc:
        raise CgGovError(f"cannot write the folder: {exc.strerror or exc}", file=str(target),
                         hint="check that the folder is writable and the disk is not full") from None
    finally:
        for written in temps.values():
            try:
                written.unlink()
            except FileNotFoundError:
                pass
    return target


def _same_owner_and_mode(stage: Path, st: os.stat_result) -> bool:
    """Give ``stage`` the group and mode (setgid and sticky bits included) of the folder it will
    replace; False when that cannot be done (a group this user is not in)."""
    try:
        if stage.stat().st_gid != st.st_gid:
            os.chown(stage, -1, st.st_gid)
        os.chmod(stage, st.st_mode & 0o7777)
        now = stage.stat()
    except OSError:
        return False
    return now.st_gid == st.st_gid and (now.st_mode & 0o7777) == (st.st_mode & 0o7777)


def write_folder(target: str | os.PathLike, files: dict[str, bytes], owned: set[str] | frozenset[str]) -> Path:
    """Make ``target`` hold exactly the cg_gov outputs ``files`` (name -> bytes), as one change.

    The files are written into a sibling staging folder, which then takes the target's place
    (an atomic exchange where the system has one): an interruption at any point leaves either
    the old set or the new set, never a mix. Files named in ``owned`` (the outputs a command may
    write) that the new set lacks do not survive; anything else in the folder is kept.
    Leftovers of an interrupted earlier run are cleaned first. The folder the process stands in
    (``cg-gov report .``) is not swapped but written file by file (:func:`_write_in_place`).
    """
    import shutil
    import signal
    import threading

    from cg_gov.errors import CgGovError

    target = Path(os.path.abspath(target))
    check_out_dir(target)
    owned = set(owned) | set(files)
    clean_stale_outputs(target, owned)
    cwd = Path(os.path.abspath(os.getcwd()))
    if target.is_dir() and (cwd == target or target in cwd.parents):
        # swapping the folder a shell stands in would leave that shell in a deleted folder
        return _write_in_place(target, files, owned)
    if target.is_dir() and target.stat().st_uid != os.geteuid():
        # a folder of another user (a shared 2770 folder, say): a swapped-in copy would be ours
        return _write_in_place(target, files, owned)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}{_STAGING}{os.getpid()}-", dir=target.parent))
    ready = stage.with_name(stage.name + ".ready")
    aside = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        mode = (target.stat().st_mode & 0o7777) if target.is_dir() else (0o777 & ~umask)
        for name, data in files.items():
            with open(stage / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(stage / name, 0o666 & ~umask)
        if target.is_dir():
            _carry_over(target, stage, owned, move_dirs=False)
        if target.is_dir() and not _same_owner_and_mode(stage, target.stat()):
            shutil.rmtree(stage, ignore_errors=True)
            return _write_in_place(target, files, owned)
        os.chmod(stage, mode)
        _fsync_dir(stage)
        os.rename(stage, ready)
        stage = ready
        # The swap itself is a few renames: signals wait until it is done.
        blocked = threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask")
        if blocked:
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            if target.is_dir():
                for entry in sorted(target.iterdir()):  # the user's sub-folders come along
                    if entry.name not in owned and entry.is_dir() and not entry.is_symlink() \
                            and not (ready / entry.name).exists():
                        os.rename(entry, ready / entry.name)
                aside = target.with_name(f".{target.name}{_ASIDE}{os.getpid()}-{secrets.token_hex(4)}")
                if _rename_exchange(ready, target):
                    os.rename(ready, aside)  # the old set, to delete
                else:
                    os.rename(target, aside)
                    os.rename(ready, target)
            else:
                os.rename(ready, target)
            _fsync_dir(target.parent)
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    except BaseException as exc:
        if stage.exists():
            if target.is_dir():  # give back the user's sub-folders moved for the swap
                try:
                    _carry_over(stage, target, owned, move_dirs=True)
                except OSError:
                    pass
            shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            raise CgGovError(f"cannot write the folder: {exc.strerror or exc}", file=str(target),
                             hint="check that the folder and its parent are writable and the disk is not full"
                             ) from None
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return target


def read_json_limited(path: str | os.PathLike, what: str = "file", kind: str = "findings",
                      hint: str | None = None) -> tuple[Any, str]:
    """A JSON file read with :func:`read_bytes_limited`: ``(data, text)``; a located one-line error
    for a non-regular or oversized file, bytes that are not UTF-8, invalid JSON or JSON nested too deeply."""
    from cg_gov.errors import CgGovError

    raw = read_bytes_limited(path, what, kind=kind, hint=hint)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CgGovError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})", file=str(path),
                         line=line, hint=hint) from None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        raise CgGovError(f"not valid JSON: {exc.msg}", file=str(path), line=exc.lineno, hint=hint) from None
    except RecursionError:
        raise CgGovError("the JSON is nested too deeply", file=str(path), hint=hint) from None
