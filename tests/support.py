"""Helpers for tests that drive ``python -m buildout_script.ctl`` as a real
subprocess and clean up every process they cause.

Every command a test runs gets ``BUILDOUT_SCRIPT_CTL_TEST=<the test's tmp dir>``
in its environment; the programs it starts inherit it.  At tear-down anything
carrying that mark (or whose cwd or command line is inside the test's
directories, or whose PID is in one of its PID files and still matches the
identity beside it) is killed by identity -- psutil checks the start time
before it signals.

The pytest process is made a child subreaper (Linux) while a module that
wants it runs, so daemons orphaned by ``ctl`` become our children and their
zombies can be reaped here instead of piling up under an init that does not
reap (as in some containers).  A zombie counts as gone everywhere below, as
it does for ``ctl``.
"""

import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
MARK = 'BUILDOUT_SCRIPT_CTL_TEST'
PR_SET_CHILD_SUBREAPER = 36


# -- waiting, without timing assertions ------------------------------------------

def wait_for(predicate, timeout=15.0, interval=0.02):
    """The first truthy value of ``predicate()`` within ``timeout`` seconds
    (generous: a deadline against hangs, never an assertion about speed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# -- facts about processes ------------------------------------------------------------

def proc(pid):
    """A psutil.Process (which remembers its start time), or None."""
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def alive(p):
    """True while the psutil.Process ``p`` is the same process and no zombie."""
    if p is None:
        return False
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def gone(p):
    return not alive(p)


def start_ticks(pid):
    """Field 22 of /proc/PID/stat: the start time in clock ticks since boot."""
    with open('/proc/%d/stat' % pid, 'rb') as f:
        data = f.read()
    return int(data[data.rindex(b')') + 2:].split()[19])


def running_with(text):
    """Live (non-zombie) processes whose command line contains ``text``."""
    found = []
    for p in psutil.process_iter(['cmdline', 'status']):
        if p.pid == os.getpid() or p.info['status'] == psutil.STATUS_ZOMBIE:
            continue
        if any(text in arg for arg in (p.info['cmdline'] or ())):
            found.append(p)
    return found


def open_fds(pid):
    """{fd number: target} of a live process."""
    base = '/proc/%d/fd' % pid
    fds = {}
    for name in os.listdir(base):
        try:
            fds[int(name)] = os.readlink(os.path.join(base, name))
        except OSError:
            pass
    return fds


# -- running ctl ----------------------------------------------------------------------------

class Result:
    def __init__(self, argv, code, out, err):
        self.argv, self.code, self.out, self.err = argv, code, out, err

    @property
    def output(self):
        return self.out + self.err

    def __repr__(self):
        return '<ctl %s: exit %s\nstdout: %r\nstderr: %r>' % (
            ' '.join(self.argv[3:]), self.code, self.out, self.err)


class Ctl:
    """One service under test: its options, dirs, and ``run(ACTION, ...)``.

    Options are given with underscores (``stop_timeout=0.5``) and become
    ``--stop-timeout 0.5``; ``None`` leaves an option out.
    """

    def __init__(self, cleanup, tmp, name='svc', program=None, **options):
        self.cleanup = cleanup
        self.tmp = Path(tmp)
        self.name = name
        self.pid_dir = self.tmp / 'run'
        self.log_dir = self.tmp / 'log'
        self.options = {'name': name, 'program': program, 'pid_dir': self.pid_dir,
                        'log_dir': self.log_dir}
        self.options.update(options)

    # paths
    @property
    def pid_file(self):
        return self.pid_dir / (self.name + '.pid')

    @property
    def identity_file(self):
        return self.pid_dir / (self.name + '.identity')

    @property
    def log(self):
        return self.log_dir / (self.name + '.log')

    def read_pid(self):
        return int(self.pid_file.read_text())

    # commands
    def argv(self, *action, python=sys.executable, **options):
        opts = dict(self.options)
        opts.update(options)
        argv = [python, '-m', 'buildout_script.ctl']
        for option, value in opts.items():
            if value is not None:
                argv += ['--' + option.replace('_', '-'), str(value)]
        return argv + [str(a) for a in action]

    def env(self):
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [str(ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
        env[MARK] = str(self.cleanup.tmp)
        return env

    def run(self, *action, timeout=60, prefix=(), python=sys.executable,
            pass_fds=(), cwd=None, **options):
        """Run ctl to its end; a Result.  No output ever holds a traceback."""
        argv = list(prefix) + self.argv(*action, python=python, **options)
        done = subprocess.run(argv, cwd=str(cwd or self.tmp), env=self.env(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, pass_fds=pass_fds)
        result = Result(argv, done.returncode, done.stdout, done.stderr)
        assert 'Traceback' not in result.output, result
        return result

    def popen(self, *action, **options):
        """Start ctl without waiting (stdout and stderr piped)."""
        p = subprocess.Popen(self.argv(*action, **options), cwd=str(self.tmp),
                             env=self.env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.cleanup.popens.append(p)
        return p

    def start_ok(self, **options):
        r = self.run('start', **options)
        assert r.code == 0, r
        pid = self.read_pid()
        return proc(pid)


def program(*argv):
    """A --program value: argv quoted for shlex.split."""
    return shlex.join([str(a) for a in argv])


def script(tmp, name, source):
    """Write a Python program into the test's dir; return the --program
    prefix that runs it (its path, inside tmp, marks its processes)."""
    path = Path(tmp) / name
    path.write_text(source)
    return path


# -- cleaning up ---------------------------------------------------------------------------------

class Cleanup:
    """Tracks what a test starts; ``finish()`` kills whatever is left."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.dirs = [self.tmp]          # processes with cwd/cmdline here are ours
        self.popens = []                # Popen objects started by the test

    def mkdtemp(self):
        """A world-traversable directory outside tmp_path (for other users)."""
        import tempfile
        path = Path(tempfile.mkdtemp(prefix='bsctl-'))
        path.chmod(0o755)
        self.dirs.append(path)
        return path

    def popen(self, argv, **kw):
        kw.setdefault('cwd', str(self.tmp))
        env = dict(os.environ)
        env[MARK] = str(self.tmp)
        kw.setdefault('env', env)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self.popens.append(p)
        return p

    def _ours(self, p):
        try:
            if p.info['status'] == psutil.STATUS_ZOMBIE:
                return False
            texts = [str(d) for d in self.dirs]
            cmdline = p.info['cmdline'] or []
            if any(t in arg for t in texts for arg in cmdline):
                return True
            cwd = p.info['cwd'] or ''
            if any(cwd == t or cwd.startswith(t + os.sep) for t in texts):
                return True
            return (p.info['environ'] or {}).get(MARK) == str(self.tmp)
        except (psutil.Error, OSError):
            return False

    def _from_pid_files(self):
        """Processes named by PID files under our dirs whose identity still
        matches (pid and start time), so a reused PID is never killed."""
        found = []
        for d in self.dirs:
            for pid_file in Path(d).rglob('*.pid'):
                try:
                    if pid_file.is_symlink():
                        continue
                    pid = int(pid_file.read_text().strip())
                    words = pid_file.with_suffix('.identity').read_text().split()
                    if int(words[0]) == pid and int(words[1]) == start_ticks(pid):
                        p = proc(pid)
                        if p is not None:
                            found.append(p)
                except (OSError, ValueError, IndexError):
                    continue
        return found

    def leftovers(self):
        me = os.getpid()
        found = {p.pid: p for p in self._from_pid_files() if p.pid != me}
        for p in psutil.process_iter(['cmdline', 'cwd', 'environ', 'status']):
            if p.pid != me and p.pid not in found and self._ours(p):
                found[p.pid] = p
        return list(found.values())

    def finish(self):
        for p in self.popens:
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
        for p in self.popens:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()
        for _ in range(3):
            victims = self.leftovers()
            if not victims:
                break
            for p in victims:
                try:
                    p.kill()            # psutil checks the identity first
                except psutil.Error:
                    pass
            psutil.wait_procs(victims, timeout=10)
        reap_orphans(self.popens)
        for d in self.dirs[1:]:
            _chmod_tree(d)
            shutil.rmtree(d, ignore_errors=True)
        self.dirs[0:] = [self.tmp]
        _chmod_tree(self.tmp)           # so pytest can remove it


def _chmod_tree(path):
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            try:
                os.chmod(os.path.join(dirpath, d), 0o755)
            except OSError:
                pass


# -- orphans ----------------------------------------------------------------------------------------

def _prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper():
    return sys.platform.startswith('linux') and _prctl(PR_SET_CHILD_SUBREAPER, 1)


def stop_being_subreaper():
    if sys.platform.startswith('linux'):
        _prctl(PR_SET_CHILD_SUBREAPER, 0)


def reap_orphans(popens=()):
    """Reap zombie children that no Popen of ours is waiting for."""
    mine = {p.pid for p in popens if p.returncode is None}
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        if child.pid in mine:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError, OSError):
            pass


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
