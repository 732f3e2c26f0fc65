"""The named pipes through which a supervised program writes its logs.

The keeper reads them and writes the log files (logfiles.Log).  They live
in the pid dir, one for stdout and one for stderr (one when both go to the
same file), as NAME.out.fifo and NAME.err.fifo.
"""

import fcntl
import os
import stat

from .program import LaunchError
from .logfiles import paths as log_paths


def paths(settings):
    """{log path: FIFO path}, one FIFO per log file."""
    return {path: os.path.join(settings['pid-dir'], '%s.%s.fifo' % (settings['name'], which))
            for path, which in zip(dict.fromkeys(log_paths(settings)), ('out', 'err'))}


def open_pipe(path, account=None, reader=True):
    """Open (making it if needed) a FIFO for reading and writing.

    Read-write, so that the holder never sees EOF, and a writer never gets
    EPIPE while nobody reads: the program's side holds it open read-write,
    and its output waits in the pipe while no keeper runs.  The buffer is
    raised to 1 MiB where the kernel allows, so such a wait is long.
    The ``reader`` (the keeper) reads without blocking; the program's side
    blocks when the pipe is full.
    """
    try:
        os.mkfifo(path, 0o600)
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    except FileExistsError:
        pass
    except OSError as e:
        raise LaunchError('not-configured', 'cannot make the pipe %s: %s' % (path, e.strerror))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
                     | (os.O_NONBLOCK if reader else 0))
    except OSError as e:
        raise LaunchError('not-configured', 'cannot open the pipe %s: %s' % (path, e.strerror))
    st = os.fstat(fd)
    if not stat.S_ISFIFO(st.st_mode) or st.st_uid not in (os.geteuid(), 0) and (
            account is None or st.st_uid != account.pw_uid):
        os.close(fd)
        raise LaunchError('not-configured', '%s is not our pipe; remove it' % path)
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (OSError, AttributeError):
        pass
    return fd
