"""Running a program as a daemon, waiting for it, and stopping it again.

The program is started with ``subprocess.Popen`` in a new session: the
standard library already does the delicate part of detaching (exec
confirmed through a close-on-exec pipe, so a missing program is an error
here and not a silent death; inherited descriptors closed with close_range
or /proc/self/fd, never a loop to RLIMIT_NOFILE; umask, working directory,
user and groups set between fork and exec).  The control command stays the
parent until ``start`` returns, so a program that dies while starting is
reaped here with its exit status; after that it belongs to init.

Nothing here knows of buildout, PID files or exit codes.
"""

import errno
import fcntl
import os
import pwd
import stat
import sys
import time

from . import probe
from . import process
from . import trusted


class LaunchError(Exception):
    """The program could not be started; ``kind`` says why."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind        # 'not-installed', 'not-configured', 'permission'


def log_paths(settings):
    """Where the program's stdout and stderr go (the same file by default)."""
    out = settings['stdout'] or os.path.join(settings['log-dir'], settings['name'] + '.log')
    return out, settings['stderr'] or out


def open_log(path, account=None):
    """Open a log for appending (never truncating); it belongs to the
    service's user so the program can reopen it after a rotation.

    The log dir is opened safely (``open_log_dir``); the log is opened
    relative to it (``open_log_in``)."""
    dir_fd = open_log_dir(path, account)
    try:
        return open_log_in(dir_fd, path, account)
    finally:
        os.close(dir_fd)


def open_log_dir(path, account=None):
    """A descriptor of the directory of the log ``path``, created if needed,
    opened safely (trusted.open_directory) and refused (LaunchError) unless
    nobody but us, root or the service's user can write it."""
    directory = os.path.dirname(path)
    owners = {os.geteuid()} | ({account.pw_uid} if account is not None else set())
    try:
        dir_fd = trusted.open_directory(directory, create=True)
    except trusted.Untrusted as e:
        raise LaunchError('not-configured', 'cannot open the log %s: %s' % (path, e))
    except OSError as e:
        raise LaunchError('permission' if isinstance(e, PermissionError) else 'not-configured',
                          'cannot open the log %s: %s' % (path, e.strerror))
    why = trusted.refuse_directory(directory, os.fstat(dir_fd), owners, 'log dir')
    if why:
        os.close(dir_fd)
        raise LaunchError('not-configured', 'refusing the log %s: %s' % (path, why))
    return dir_fd


def open_log_in(dir_fd, path, account=None):
    """Open the log ``path`` for appending, relative to ``dir_fd`` (its
    directory, from open_log_dir): never through a symlink, never blocking
    on a FIFO, and refused unless it is a regular file with one link (a hard
    link could be anyone's file).  It is chowned by descriptor."""
    try:
        fd = os.open(os.path.basename(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT
                     | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, 0o644,
                     dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LaunchError('not-configured', 'the log %s is a symlink; refusing to'
                              ' follow it (remove it)' % path)
        if e.errno == errno.ENXIO:
            raise LaunchError('not-configured', 'the log %s is not a regular file;'
                              ' refusing it (remove it)' % path)
        raise LaunchError('permission' if isinstance(e, PermissionError)
                          else 'not-configured',
                          'cannot open the log %s: %s' % (path, e.strerror))
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = 'is not a regular file'
    elif st.st_nlink != 1:
        problem = 'has %d hard links' % st.st_nlink
    if problem:
        os.close(fd)
        raise LaunchError('not-configured', 'the log %s %s; refusing it (remove it)'
                          % (path, problem))
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    if account is not None and (st.st_uid, st.st_gid) != (account.pw_uid, account.pw_gid):
        os.fchown(fd, account.pw_uid, account.pw_gid)
    return fd


def close_inherited(keep=()):
    """Close every descriptor above 2 but ``keep``, by listing the open ones
    rather than trying each up to RLIMIT_NOFILE."""
    try:
        fds = [int(fd) for fd in os.listdir('/proc/self/fd')]
    except OSError:
        fds = range(3, min(os.sysconf('SC_OPEN_MAX'), 65536))
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def cannot_run(argv, number):
    """The LaunchError of a program the kernel would not execute (``number``
    is the errno of the exec), said alike however it was started."""
    if number == errno.ENOENT:
        return LaunchError('not-installed', 'program not found: %s' % argv[0])
    if number in (errno.EACCES, errno.EPERM):
        return LaunchError('not-installed', 'program not executable: %s' % argv[0])
    return LaunchError('not-installed', 'cannot run %s: %s' % (argv[0], os.strerror(number)))


def detach():
    """Fork a grandchild in a session of its own, for init to reap, that
    tells the caller how it went through a pipe.

    Returns ``(None, report)`` in the grandchild: ``report`` is the pipe's
    descriptor to write the answer to, then close.  Returns ``(answer, None)``
    in the caller once the grandchild has closed the pipe (or died: then the
    answer is empty).
    """
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child:
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            answer = pipe.read()
        os.waitpid(child, 0)
        return answer, None
    os.close(read_end)
    os.setsid()
    if os.fork():                       # the session leader goes at once
        os._exit(0)
    return None, write_end


def account_of(user):
    """The passwd entry to run as, or None to stay who we are."""
    if not user:
        return None
    try:
        entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
    except KeyError:
        raise LaunchError('not-configured', 'user %r does not exist on this machine' % user)
    if entry.pw_uid == os.geteuid():
        return None
    if os.geteuid() != 0:
        raise LaunchError('permission', 'only root can run the service as user %r;'
                          ' run this command as root or as %s' % (user, user))
    return entry


MARK_VARIABLE = 'BUILDOUT_SCRIPT_SERVICE'


def mark(settings):
    """``NAME=VALUE`` in the environment of every program we start, so that
    what it leaves behind can be told from a stranger's (process.family)."""
    return '%s=%s' % (MARK_VARIABLE, os.path.join(settings['pid-dir'], settings['name']))


def service_uid(settings):
    """The user the service's processes run as."""
    user = settings['user']
    if user:
        try:
            return (pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)).pw_uid
        except KeyError:
            pass
    return os.geteuid()


KEPT = ('PATH', 'LANG')


def environment(settings, account, spawned=False):
    """Ours for a program of our own user; for another user, as su -l and
    systemd do, a clean one: PATH, LANG, HOME, USER, LOGNAME, SHELL.  Then
    the part's ``environment`` and the mark (a spawned copy's says so, so
    that sweeping up the service's leftovers spares it)."""
    if account is None:
        env = dict(os.environ)
    else:
        env = {key: os.environ[key] for key in KEPT if key in os.environ}
        env.setdefault('PATH', '/usr/local/bin:/usr/bin:/bin')
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name,
                   SHELL=account.pw_shell or '/bin/sh')
    env.update(settings['environment'])
    env.update(environment_file(settings, account))
    env[MARK_VARIABLE] = mark(settings).split('=', 1)[1] + (' spawned' if spawned else '')
    return env


def environment_file(settings, account):
    """The variables of ``environment-file``, read afresh at every start."""
    path = settings.get('environment-file')
    if not path:
        return {}
    from . import envfile
    try:
        return envfile.read(path, account)
    except envfile.EnvironmentFileError as e:
        raise LaunchError('not-configured', str(e))


def program(argv):
    if not argv:
        raise LaunchError('not-configured', 'no program to run is configured'
                          ' (set the program option)')
    return argv


def launch(settings, argv=None, extra_env=None):
    """Start the program detached from us; return its Popen.  ``argv``
    given: an extra, spawned copy (see spawn.py).

    ``extra_env`` is added to its environment (NOTIFY_SOCKET).
    Raises LaunchError when it cannot be started at all.
    """
    spawned = argv is not None
    argv = program(argv or settings['program'])
    account = account_of(settings['user'])
    out_path, err_path = log_paths(settings)
    out = open_log(out_path, account)
    try:
        err = open_log(err_path, account) if err_path != out_path else None
    except LaunchError:
        os.close(out)
        raise
    extra = {}
    if account is not None:
        extra = dict(user=account.pw_uid, group=account.pw_gid,
                     extra_groups=os.getgrouplist(account.pw_name, account.pw_gid))
    if settings['umask'] is not None:
        extra['umask'] = settings['umask']
    cwd = settings['directory']
    import subprocess
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out,
            stderr=err if err is not None else subprocess.STDOUT,
            cwd=cwd, env=dict(environment(settings, account, spawned), **(extra_env or {})),
            start_new_session=True, close_fds=True, **extra)
    except FileNotFoundError as e:
        if cwd and e.filename == cwd:
            raise LaunchError('not-configured', 'the directory %s does not exist' % cwd)
        raise cannot_run(argv, e.errno)
    except PermissionError as e:
        if cwd and e.filename == cwd:
            raise LaunchError('permission', 'cannot enter the directory %s: permission'
                              ' denied' % cwd)
        raise cannot_run(argv, e.errno)
    except OSError as e:
        raise cannot_run(argv, e.errno)
    finally:
        os.close(out)
        if err is not None:
            os.close(err)


class Child:
    """A program the keeper forked itself: its PID and, once reaped, its
    exit code (as Popen's returncode: negative for a signal)."""
    __slots__ = ('pid', 'returncode')

    def __init__(self, pid):
        self.pid, self.returncode = pid, None


def spawn_here(settings, outputs, extra_env=None):
    """Start the program with posix_spawn (vfork and exec: no copy of the
    caller's memory, the fastest way from a Python process), in the
    caller's working directory and umask, as the caller's user, in a new
    session.  For the keeper, which has moved to the program's directory
    and umask; ``outputs`` (stdout, stderr or None) stay open.  Returns a
    Child; raises LaunchError if the program cannot be run."""
    import signal
    argv = program(settings['program'])
    env = dict(environment(settings, None), **(extra_env or {}))
    out, err = outputs
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, out, 1),
               (os.POSIX_SPAWN_DUP2, err if err is not None else out, 2)]
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True,
                              setsigdef=(signal.SIGPIPE,), setsigmask=())
    except OSError as e:
        raise cannot_run(argv, e.errno)
    return Child(pid)


def fork_exec(settings, outputs, extra_env=None, watchdog_pid=False):
    """Start the program as ``launch`` does, without ``subprocess``: for
    the resident keeper, which should not carry threading, re and locale
    for this one call.  The exec is confirmed through a close-on-exec pipe,
    as Popen does, so a program that cannot run is a LaunchError here.
    With ``watchdog_pid``, WATCHDOG_PID is the program's own PID, as
    systemd sets it.  Returns a Child."""
    import signal
    argv = program(settings['program'])
    account = account_of(settings['user'])
    env = dict(environment(settings, account), **(extra_env or {}))
    cwd = settings['directory']
    candidates = search_path(argv[0], env)
    out, err = outputs
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:                                        # the child, until exec
        step = 'exec'
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                        signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out, 1)
            os.dup2(err if err is not None else out, 2)
            os.closerange(3, report_w)
            os.closerange(report_w + 1, 1 << 20)
            step = 'chdir'
            if cwd:
                os.chdir(cwd)
            if settings['umask'] is not None:
                os.umask(settings['umask'])
            step = 'user'
            if account is not None:
                os.setgroups(os.getgrouplist(account.pw_name, account.pw_gid))
                os.setgid(account.pw_gid)
                os.setuid(account.pw_uid)
            step = 'exec'
            if watchdog_pid:
                env['WATCHDOG_PID'] = '%d' % os.getpid()
            exec_first(candidates, argv, env)
        except OSError as e:
            os.write(report_w, ('%s %d' % (step, e.errno or 0)).encode())
        finally:
            os._exit(127)
    os.close(report_w)
    for fd in (out, err):
        if fd is not None:
            os.close(fd)
    try:
        answer = os.read(report_r, 256).decode()
    finally:
        os.close(report_r)
    if not answer:
        return Child(pid)
    os.waitpid(pid, 0)
    step, number = answer.split()
    import errno
    number = int(number)
    if step == 'chdir':
        if number == errno.EACCES:
            raise LaunchError('permission', 'cannot enter the directory %s: permission'
                              ' denied' % cwd)
        raise LaunchError('not-configured', 'the directory %s does not exist' % cwd)
    if step == 'user':
        raise LaunchError('permission', 'cannot become user %r' % settings['user'])
    raise cannot_run(argv, number)


def log_pipes(settings):
    """{log path: FIFO path}: the named pipes through which a supervised
    program writes its logs (one when stdout and stderr share a file)."""
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
    import fcntl
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


def pauses(first=0.001, longest=0.05):
    """Poll intervals: milliseconds at first, growing, never a fixed second."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 1.5, longest)


def wait_ready(proc, ready, timeout):
    """Wait until the started program is ready.

    Returns (True, detail) once ready; (False, detail) if it died (detail
    then says how) or was not ready within ``timeout`` seconds.
    """
    started = time.monotonic()
    deadline = started + timeout
    alive_for = probe.alive_seconds(ready)
    detail = 'no answer yet'
    for delay in pauses():
        code = proc.poll()
        if code is not None:
            return False, describe_exit(code)
        now = time.monotonic()
        if ready is None:
            return True, 'started'
        if alive_for is not None:
            if now - started >= alive_for:
                return True, 'alive for %gs' % alive_for
        else:
            ok, detail = probe.run(ready, max(0.05, min(deadline - now, 2.0)))
            if ok:
                return True, detail
            if proc.poll() is not None:
                continue
        now = time.monotonic()
        if now >= deadline:
            return False, 'not ready after %gs (%s: %s)' % (timeout, ready, detail)
        time.sleep(min(delay, deadline - now))


def describe_exit(code):
    if code < 0:
        import signal
        try:
            return 'killed by %s' % signal.Signals(-code).name
        except ValueError:
            return 'killed by signal %d' % -code
    return 'exited with status %d' % code


def terminate(ident, group, signame, timeout, mark=None, kill_wait=5.0, sweep_uid=None):
    """Stop a program and everything it left: ``signame`` (then SIGCONT, so
    a stopped program hears it at once) to its process group and stray
    descendants, wait up to ``timeout``, then KILL and wait.

    Members are tracked by identity from the first look on, so a grandchild
    orphaned by its parent's death is still waited for (and killed).  With
    ``sweep_uid``, every process of that user carrying ``mark`` counts too:
    what the service left in sessions of their own, even with no leader
    (``ident`` None) to start from.  Scans repeat until one finds nothing,
    so a child forked between a scan and the signals is found by the next.
    Returns True when nothing is left.
    """
    tracked = {}
    for sig, wait in ((process.signal_number(signame), timeout),
                      (process.signal_number('SIGKILL'), kill_wait)):
        deadline = time.monotonic() + wait
        signalled = set()
        for delay in pauses():
            tracked.update(process.family(ident, group, mark))
            if sweep_uid is not None and mark:
                tracked.update(process.marked(mark, sweep_uid))
            tracked = {m: g for m, g in tracked.items() if process.is_running(m)}
            if not tracked:
                return True
            _signal_once(ident, group, tracked, sig, signalled)
            now = time.monotonic()
            if now >= deadline:
                break
            time.sleep(min(delay, deadline - now))
    return False


def _signal_once(ident, group, members, sig, signalled):
    """Signal each member not yet signalled: the group with one killpg,
    strays that left it one by one; after any signal but KILL and CONT, a
    SIGCONT the same way."""
    fresh = [m for m in members if m not in signalled]
    if not fresh:
        return
    cont = process.signal_number('SIGCONT')
    kill = process.signal_number('SIGKILL')
    sigs = (sig,) if sig in (cont, kill) else (sig, cont)
    if group and ident is not None and any(members[m] == ident.pid for m in fresh):
        if all([process.send_group(ident, s) for s in sigs]):
            signalled.update(m for m in members if members[m] == ident.pid)
    for member in fresh:
        if member not in signalled:
            for s in sigs:
                process.send(member, s)
            signalled.add(member)


def open_log_to_read(path):
    """A descriptor to read the log ``path`` (root may read what the
    service's user planted): its directory walked safely, the log opened
    relative to it, never through a symlink, never blocking on a FIFO, and
    only a regular file with at most one link (a hard link could be anyone's
    file).  Raises trusted.Untrusted (the one line to say) or OSError."""
    dir_fd = trusted.open_directory(os.path.dirname(path))
    try:
        fd = os.open(os.path.basename(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC | os.O_NOCTTY, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise trusted.Untrusted('the log %s is a symlink; refusing to follow it'
                                    ' (remove it)' % path)
        raise OSError(e.errno, e.strerror, path)
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        raise trusted.Untrusted('the log %s %s; refusing it (remove it)' % (
            path, 'is not a regular file' if not stat.S_ISREG(st.st_mode)
            else 'has %d hard links' % st.st_nlink))
    return fd


def log_tail(path, offset, lines=10):
    """The last lines a program wrote to its log since ``offset``."""
    try:
        with open(open_log_to_read(path), 'rb') as f:
            f.seek(max(offset, os.fstat(f.fileno()).st_size - 65536))
            data = f.read(65536)
    except (OSError, trusted.Untrusted):
        return []
    return [l.decode(errors='replace') for l in data.splitlines()[-lines:]]


def log_size(path):
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0


def exec_foreground(settings):
    """Become the program, attached to this terminal (containers, systemd
    Type=simple, debugging).  Only returns by raising LaunchError."""
    argv = program(settings['program'])
    account = account_of(settings['user'])
    env = environment(settings, account)
    if settings['directory']:
        try:
            os.chdir(settings['directory'])
        except OSError as e:
            raise LaunchError('not-configured', 'cannot enter %s: %s'
                              % (settings['directory'], e.strerror))
    if settings['umask'] is not None:
        os.umask(settings['umask'])
    candidates = search_path(argv[0], env)
    if account is not None:
        os.setgroups(os.getgrouplist(account.pw_name, account.pw_gid))
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    try:
        exec_first(candidates, argv, env)
    except OSError as e:
        raise cannot_run(argv, e.errno)


def search_path(name, env):
    """Where os.execvpe would look for ``name``, worked out before a change
    of user: after it, the library of the Python running us may not be
    readable (one under /root, say), and execvpe imports on its way."""
    if os.sep in name:
        return [name]
    return [os.path.join(directory or os.curdir, name) for directory in os.get_exec_path(env)]


def exec_first(candidates, argv, env):
    """os.execvpe over paths search_path found, importing nothing; raises
    the OSError execvpe would (the first that is not "no such file")."""
    first = last = None
    for path in candidates:
        try:
            os.execve(path, argv, env)
        except (FileNotFoundError, NotADirectoryError) as e:
            last = e
        except OSError as e:
            first = first or e
    raise first or last or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
