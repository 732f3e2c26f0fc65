"""Where a program is started.

One plan, made by the caller before anything forks -- the command line and
where PATH finds it, the environment, the directory, the umask, the account
and its groups -- then one way to carry it out, whoever asks (``ctl
start``, the keeper, ``spawn``, ``foreground``):

- ``start(plan, outputs)``: the program in a session of its own, its
  output on the given descriptors, stdin from /dev/null.  posix_spawn (a
  vfork and an exec: no copy of the caller's memory) when the program runs
  as the caller's own user; else a fork of our own whose child takes the
  steps of ``become`` and execs.  Either way a program that cannot be run
  is a LaunchError here, said alike, never a silent death.
- ``exec_here(plan)``: become the program in this very process.

The steps between fork and exec are small functions in the order of PEP
3143 (change directory, set the umask, drop privileges).  A child that
becomes another user runs no Python that could import anything after the
change (the interpreter's library may not be readable to that user): the
PATH search and the group list are worked out before, then only os calls.
Nothing here knows of buildout, PID files or exit codes.
"""

import errno
import fcntl
import os
import sys

from . import account as accounts
from . import logfiles
from .program import LaunchError


class Plan:
    """What a start will do; see ``plan``."""
    __slots__ = ('argv', 'candidates', 'env', 'cwd', 'umask', 'account', 'groups',
                 'watchdog_pid', 'sockets', 'socket_names', 'limits', 'nice',
                 'oom_score_adjust')

    def __init__(self, argv, env, cwd, umask, account, watchdog_pid=False):
        self.argv, self.env, self.cwd, self.umask = argv, env, cwd, umask
        self.account = account
        self.groups = (os.getgrouplist(account.pw_name, account.pw_gid)
                       if account is not None else None)
        self.candidates = search_path(argv[0], env)
        self.watchdog_pid = watchdog_pid    # WATCHDOG_PID: the program's own PID
        self.sockets = ()                   # descriptors to pass from fd 3 (sockets.py)
        self.socket_names = ()
        self.limits = self.nice = self.oom_score_adjust = None     # limits.py


def plan(settings, argv=None, extra_env=None, spawned=False, watchdog_pid=False,
         base_env=None):
    """The Plan of the service's program (or, with ``argv``, of an extra
    copy: see spawn.py), ``extra_env`` added to its environment.
    ``base_env``: the environment of the command that asked for the start
    (the keeper's is not the program's to inherit).  Raises LaunchError (no
    program, no such user, a bad environment file)."""
    argv = list(argv or settings['program'] or ())
    if not argv:
        raise LaunchError('not-configured', 'no program to run is configured'
                          ' (set the program option)')
    account = accounts.account_of(settings['user'])
    env = accounts.environment(settings, account, spawned, base_env)
    env.update(extra_env or {})
    steps = Plan(argv, env, settings['directory'], settings['umask'], account, watchdog_pid)
    if settings.get('limits') or settings.get('nice') is not None \
            or settings.get('oom-score-adjust') is not None:
        from . import limits
        steps.limits, steps.nice, steps.oom_score_adjust = limits.steps(settings)
    return steps


class Child:
    """A program we started: its PID and, once reaped, its exit code (as
    Popen's returncode: negative for a signal)."""
    __slots__ = ('pid', 'returncode')

    def __init__(self, pid):
        self.pid, self.returncode = pid, None

    def poll(self):
        """The exit code if it has ended (reaping it), else None.  The end
        is read first and reaped after it is recorded: an exception from a
        signal's handler (Ctrl-C, TERM to ctl, the check's alarm) at any
        point leaves the child unreaped or recorded, never gone unrecorded
        and waited for for ever."""
        if self.returncode is None:
            try:
                ended = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return None
            if ended is not None:
                self.returncode = ended.si_status if ended.si_code == os.CLD_EXITED \
                    else -ended.si_status
                os.waitpid(self.pid, 0)
        return self.returncode

    def wait(self, timeout=None):
        """Wait up to ``timeout`` seconds (None: for ever) for its end; the
        exit code, or None if it still runs.  SIGCHLD is awaited blocked
        (sigtimedwait), so the wait holds no descriptor and wakes at once."""
        import signal
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            while self.poll() is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                signal.sigtimedwait({signal.SIGCHLD}, 3600 if left is None else left)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return self.returncode

    def end_within(self, timeout):
        """Its exit code if it ends within ``timeout`` seconds; None if it
        had to be killed.  Killed (and reaped) too when the wait is cut
        short (Ctrl-C, TERM to ctl), so it never outlives the caller's
        cleanup."""
        try:
            return self.wait(timeout)
        finally:
            if self.returncode is None:
                try:
                    os.kill(self.pid, 9)        # not reaped: its pid is still its own
                except ProcessLookupError:
                    pass                        # reaped for us (SIGCHLD ignored)
                else:
                    self.wait()


def launch(settings, argv=None, extra_env=None):
    """Start the service's program (or, with ``argv``, an extra copy) with
    its output appended to its log files; a Child.  Raises LaunchError."""
    spawned = argv is not None
    steps = plan(settings, argv, extra_env, spawned)
    out_path, err_path = logfiles.paths(settings)
    out = logfiles.open_for_append(out_path, steps.account)
    try:
        err = logfiles.open_for_append(err_path, steps.account) if err_path != out_path \
            else None
        try:
            return start(steps, (out, err))
        finally:
            if err is not None:
                os.close(err)
    finally:
        os.close(out)


def start(plan, outputs):
    """Start the program in a new session with ``outputs`` (stdout, stderr
    or None: the same) and stdin from /dev/null; a Child.  The caller keeps
    its descriptors; it is the program's parent."""
    if plan.account is None and not plan.watchdog_pid and not plan.sockets \
            and not plan.limits and plan.nice is None and plan.oom_score_adjust is None:
        return _spawn(plan, outputs)
    return _fork_exec(plan, outputs)


def _spawn(plan, outputs):
    """posix_spawn, in the program's directory and umask."""
    out, err = outputs
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, out, 1),
               (os.POSIX_SPAWN_DUP2, err if err is not None else out, 2)]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable(keep=(out, err))]
    return Child(_in_directory(plan.cwd, plan.umask, lambda: _spawn_first(plan, actions)))


def spawn_apart(argv, env, stdout, cwd='/'):
    """Start ``argv`` (its first word a path) in a session of its own, in
    ``cwd``, stdin and stderr on /dev/null, ``stdout`` its output, and no
    other descriptor passed on: a Child, for init to reap if it outlives
    us.  As subprocess would, without the 15 ms of importing it (a
    supervised ``start`` starts the keeper so).  Raises OSError."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, stdout, 1),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable(keep=(stdout,))]
    return Child(_in_directory(cwd, None, lambda: os.posix_spawn(
        argv[0], argv, env, file_actions=actions, setsid=True, setsigmask=(),
        setsigdef=_signals_to_reset())))


def run_quietly(argv, timeout):
    """Run ``argv`` (its first word found on PATH) here, with /dev/null for
    its input and output: its exit code, or None if it took longer than
    ``timeout`` seconds and was killed.  Not subprocess: a signal's
    exception (Ctrl-C, TERM to ctl) can leave its wait lock taken, and the
    cleanup then waits on it for ever.  Raises OSError."""
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable(keep=())]
    return Child(os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions,
                                 setsigmask=(), setsigdef=_signals_to_reset())).end_within(timeout)


def _in_directory(cwd, umask, spawn):
    """``spawn()`` with this process in ``cwd`` and ``umask`` for the
    moment: posix_spawn has no chdir of its own (every caller is
    single-threaded)."""
    here = os.open('.', os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    mask = None
    try:
        change_directory(cwd)
        if umask is not None:
            mask = os.umask(umask)
        return spawn()
    finally:
        if mask is not None:
            os.umask(mask)
        os.fchdir(here)
        os.close(here)


def _spawn_first(plan, actions):
    """posix_spawn over the paths search_path found, as exec_first execs."""
    first = last = None
    for path in plan.candidates:
        try:
            return os.posix_spawn(path, plan.argv, plan.env, file_actions=actions,
                                  setsid=True, setsigmask=(),
                                  setsigdef=_signals_to_reset())
        except (FileNotFoundError, NotADirectoryError) as e:
            last = e
        except OSError as e:
            first = first or e
    raise cannot_run(plan.argv, (first or last).errno if first or last else errno.ENOENT)


def _fork_exec(plan, outputs):
    """A fork of our own: the child takes become()'s steps, then execs; how
    it went comes back through a close-on-exec pipe (empty: it execs)."""
    import signal
    reset = _signals_to_reset()
    out, err = outputs
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:                                        # the child, until exec
        try:
            signal.set_wakeup_fd(-1)
            for sig in reset:
                signal.signal(sig, signal.SIG_DFL)
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out, 1)
            os.dup2(err if err is not None else out, 2)
            report_w = pass_sockets(plan, report_w)
            os.closerange(3 + len(plan.sockets), report_w)
            os.closerange(report_w + 1, 1 << 20)
            become(plan)
            if plan.watchdog_pid:
                plan.env['WATCHDOG_PID'] = '%d' % os.getpid()
            if plan.sockets:
                plan.env['LISTEN_PID'] = '%d' % os.getpid()
            try:
                exec_first(plan.candidates, plan.argv, plan.env)
            except OSError as e:
                raise cannot_run(plan.argv, e.errno)
        except LaunchError as e:
            os.write(report_w, ('%s %s' % (e.kind, e)).encode())
        finally:
            os._exit(127)
    os.close(report_w)
    try:
        answer = os.read(report_r, 4096).decode(errors='replace')
    finally:
        os.close(report_r)
    if not answer:
        return Child(pid)
    os.waitpid(pid, 0)
    kind, _, message = answer.partition(' ')
    raise LaunchError(kind, message)


def pass_sockets(plan, report_w):
    """In the child: the held sockets onto descriptors 3, 4 ..., inherited,
    with LISTEN_FDS and LISTEN_FDNAMES; LISTEN_PID follows once the PID is
    sure.  Their blocking mode is the socket's, shared by every program
    that holds it (as under systemd), so it is not touched here: the old
    program of a restart that overlaps would have it changed under it.
    Every descriptor is first moved above the range, so none is
    overwritten before it is moved.  Returns where the report pipe is now."""
    count = len(plan.sockets)
    if not count:
        return report_w
    above = 3 + count
    report_w = fcntl.fcntl(report_w, fcntl.F_DUPFD_CLOEXEC, above)
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd in plan.sockets]
    for target, fd in enumerate(moved, 3):
        os.dup2(fd, target)                 # inheritable, as dup2 makes it
        os.close(fd)
    plan.env['LISTEN_FDS'] = '%d' % count
    plan.env['LISTEN_FDNAMES'] = ':'.join(plan.socket_names)
    return report_w


def _signals_to_reset():
    """What the program must not inherit: the signals Python ignores
    (SIGPIPE, SIGXFSZ) and those the caller handles.  One ignored on
    purpose (nohup's SIGHUP) stays ignored, as subprocess leaves it."""
    import signal
    reset = {signal.SIGPIPE, signal.SIGXFSZ}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGCHLD, signal.SIGALRM, signal.SIGQUIT):
        if callable(signal.getsignal(sig)):
            reset.add(sig)
    return tuple(sorted(reset))


def _inheritable(keep):
    """Our descriptors above 2 that an exec would pass on (none of ours
    should: Python opens them close-on-exec; one inherited from our own
    caller could be)."""
    try:
        fds = [int(fd) for fd in os.listdir('/proc/self/fd')]
    except OSError:
        return []
    found = []
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                pass
    return found


# -- between fork and exec: the steps, in the order of PEP 3143 ------------------

def become(plan):
    """What the program's own process does before its exec.  Raises
    LaunchError; imports nothing."""
    change_directory(plan.cwd)
    set_umask(plan.umask)
    set_limits(plan)
    drop_privileges(plan.account, plan.groups)


def change_directory(cwd):
    if not cwd:
        return
    try:
        os.chdir(cwd)
    except (FileNotFoundError, NotADirectoryError):
        raise LaunchError('not-configured', 'the directory %s does not exist' % cwd)
    except PermissionError:
        raise LaunchError('permission', 'cannot enter the directory %s: permission denied'
                          % cwd)
    except OSError as e:
        raise LaunchError('not-configured', 'cannot enter the directory %s: %s'
                          % (cwd, e.strerror))


def set_umask(mask):
    if mask is not None:
        os.umask(mask)


def set_limits(plan):
    """``limits``, ``nice``, ``oom-score-adjust``: while still root, who
    alone may raise them."""
    if plan.limits or plan.nice is not None or plan.oom_score_adjust is not None:
        from . import limits            # loaded by plan() already: no file is read
        limits.apply(plan.limits, plan.nice, plan.oom_score_adjust,
                     lambda text: LaunchError('permission', text))


def drop_privileges(account, groups):
    """Become ``account`` (None: stay who we are): groups, group, user."""
    if account is None:
        return
    try:
        os.setgroups(groups)
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    except OSError:
        raise LaunchError('permission', 'cannot become user %r' % account.pw_name)


def exec_here(plan):
    """Become the program in this very process (``ctl foreground``).  Only
    returns by raising LaunchError."""
    become(plan)
    sys.stdout.flush()
    try:
        exec_first(plan.candidates, plan.argv, plan.env)
    except OSError as e:
        raise cannot_run(plan.argv, e.errno)


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


def cannot_run(argv, number):
    """The LaunchError of a program the kernel would not execute (``number``
    is the errno of the exec), said alike however it was started."""
    if number == errno.ENOENT:
        return LaunchError('not-installed', 'program not found: %s' % argv[0])
    if number in (errno.EACCES, errno.EPERM):
        return LaunchError('not-installed', 'program not executable: %s' % argv[0])
    return LaunchError('not-installed', 'cannot run %s: %s' % (argv[0], os.strerror(number)))


# -- a process of our own, detached -------------------------------------------------

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
