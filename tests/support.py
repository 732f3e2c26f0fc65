"""The test harness, in one module: run our commands as real processes, look
at the processes they cause, and leave none of them behind.

Two kinds of tests use it:

- ``Ctl`` runs ``python -m buildout_script.ctl`` (or ``.check``) for one
  service in a test's tmp dir; ``Cleanup`` kills whatever such a test left.
  Every command gets ``BUILDOUT_SCRIPT_CTL_TEST=<the test's tmp dir>`` in
  its environment and the programs it starts inherit it.  At tear-down
  anything carrying that mark (or whose cwd or command line is inside the
  test's directories, or whose PID is in one of its PID files and still
  matches the identity beside it) is killed by identity -- psutil checks
  the start time before it signals.
- ``Sample`` is a real buildout in a temporary directory (zc.buildout.testing's
  sample buildout with this source linked in); every process started from it
  inherits ``BUILDOUT_SCRIPT_TEST_TOKEN`` and is killed at tear-down.

Commands run with ``environment()``: the import path of this test process
(``bin/test`` puts the buildout's eggs on it, psutil among them), so that
``BUILDOUT_SCRIPT_PSUTIL=1 bin/test`` runs every command on the psutil
backend of buildout_script.process.

The pytest process is made a child subreaper (Linux) while a module that
wants it runs, so daemons orphaned by ``ctl`` become our children and their
zombies can be reaped here instead of piling up under an init that does not
reap (as in some containers).  A zombie counts as gone everywhere below, as
it does for ``ctl``.
"""

import atexit
import ctypes
import functools
import importlib.metadata
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest
import zc.buildout.testing

import buildout_script
from buildout_script import process

ROOT = Path(__file__).resolve().parent.parent
MARK = 'BUILDOUT_SCRIPT_CTL_TEST'
TOKEN = 'BUILDOUT_SCRIPT_TEST_TOKEN'
PSUTIL = not process.PROC           # the backend the commands under test use
PR_SET_CHILD_SUBREAPER = 36

# For the modules that drive real processes: their helpers read /proc and
# use process groups and a child subreaper.
linux_only = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='drives /proc and process groups (Linux)')


def python_for_nobody():
    """A Python >= 3.10 that user nobody can run (sys.executable may sit under
    /root), when we are root and a non-root nobody exists; else None."""
    import pwd
    try:
        if os.geteuid() != 0 or pwd.getpwnam('nobody').pw_uid == 0:
            return None
    except KeyError:
        return None
    if not shutil.which('runuser'):
        return None
    for python in (sys.executable, '/usr/bin/python3'):
        try:
            done = subprocess.run(['runuser', '-u', 'nobody', '--', python, '-c',
                                   'import sys; sys.exit(sys.version_info < (3, 10))'],
                                  cwd='/', capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return python
    return None


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


# -- the environment of the commands we run ------------------------------------------

@functools.lru_cache(maxsize=None)
def python_path():
    """This source tree, then every entry of the test process's sys.path that
    the interpreter does not find by itself (the buildout's eggs), then the
    PYTHONPATH we were given: a command started with it imports what the
    tests can, psutil included, and buildout_script from this tree."""
    own = (sys.prefix, sys.base_prefix, str(ROOT / 'tests'))
    given = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    path = [str(ROOT)]
    for entry in [p for p in sys.path if p and os.path.exists(p)] + given:
        entry = os.path.abspath(entry)
        inside = any(entry == d or entry.startswith(d + os.sep) for d in own)
        if entry not in path and (entry in given or not inside):
            path.append(entry)
    return os.pathsep.join(path)


def environment(mark=None, **variables):
    """os.environ with ``python_path()`` as PYTHONPATH, the Cleanup ``mark``
    (a test's tmp dir) if given, and ``variables``."""
    env = dict(os.environ, PYTHONPATH=python_path())
    if mark is not None:
        env[MARK] = str(mark)
    env.update(variables)
    return env


# -- facts about processes ------------------------------------------------------------

def proc(pid):
    """A psutil.Process (which remembers its start time), or None."""
    if pid is None:                 # psutil.Process(None) is this process
        return None
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


def kill(pid):
    """SIGKILL ``pid`` if it is still there."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def identity_line(pid, later=False):
    """The NAME.identity line (PID START BOOT group) that our commands would
    write for the live process ``pid``, in the form of the backend in use;
    with ``later``, its start time moved on: a forgery that names no process."""
    pid, start, boot = process.identity(pid)
    if later:
        start = ('%.2f' % (float(start) + 0.01)) if '.' in start else str(int(start) + 1)
    return '%d %s %s group\n' % (pid, start, boot)


def start_ticks(pid):
    """Field 22 of /proc/PID/stat: the start time in clock ticks since boot
    (the /proc backend's form only; identity_line() serves both)."""
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


def started_here(directory):
    """Live programs (not our own commands) whose working directory is
    ``directory``."""
    found = []
    for p in psutil.process_iter(['cwd', 'status', 'cmdline']):
        if (p.info['cwd'] == str(directory) and p.info['status'] != psutil.STATUS_ZOMBIE
                and not any(arg.startswith('buildout_script.')
                            for arg in p.info['cmdline'] or [])):
            found.append(p)
    return found


def open_fds(pid):
    """{fd number: target} of a live process (read from /proc: Linux)."""
    base = '/proc/%d/fd' % pid
    fds = {}
    for name in os.listdir(base):
        try:
            fds[int(name)] = os.readlink(os.path.join(base, name))
        except OSError:
            pass
    return fds


def one_line(text):
    """The only line of ``text`` (an AssertionError if there are more)."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- running ctl ----------------------------------------------------------------------------

class Result:
    def __init__(self, argv, code, out, err):
        self.argv, self.code, self.out, self.err = argv, code, out, err

    @property
    def output(self):
        return self.out + self.err

    def __repr__(self):
        return '<%s: exit %s\nstdout: %r\nstderr: %r>' % (
            ' '.join(self.argv[2:]), self.code, self.out, self.err)


class Ctl:
    """One service under test: its options, dirs, and ``run(ACTION, ...)``.

    Options are given with underscores (``stop_timeout=0.5``) and become
    ``--stop-timeout 0.5``; ``None`` leaves an option out.  ``module='check'``
    runs the watchdog instead of ctl (``check()`` is short for it).
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
    def argv(self, *action, python=sys.executable, module='ctl', **options):
        opts = dict(self.options)
        opts.update(options)
        argv = [python, '-m', 'buildout_script.' + module]
        for option, value in opts.items():
            if value is not None:
                argv += ['--' + option.replace('_', '-'), str(value)]
        return argv + [str(a) for a in action]

    def env(self):
        return environment(self.cleanup.tmp)

    def run(self, *action, timeout=60, prefix=(), python=sys.executable, module='ctl',
            pass_fds=(), cwd=None, **options):
        """Run ctl to its end; a Result.  No output ever holds a traceback."""
        argv = list(prefix) + self.argv(*action, python=python, module=module, **options)
        done = subprocess.run(argv, cwd=str(cwd or self.tmp), env=self.env(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, pass_fds=pass_fds)
        result = Result(argv, done.returncode, done.stdout, done.stderr)
        assert 'Traceback' not in result.output, result
        return result

    def check(self, *args, **options):
        """Run the watchdog (``python -m buildout_script.check``) to its end."""
        return self.run(*args, module='check', **options)

    def popen(self, *action, module='ctl', prefix=(), **options):
        """Start ctl without waiting (stdout and stderr piped)."""
        p = subprocess.Popen(list(prefix) + self.argv(*action, module=module, **options),
                             cwd=str(self.tmp), env=self.env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.cleanup.popens.append(p)
        return p

    def start_ok(self, **options):
        r = self.run('start', **options)
        assert r.code == 0, r
        pid = self.read_pid()
        return proc(pid)

    def crash(self):
        """kill -9 the running program, as a crash would; wait until it is gone."""
        p = proc(self.read_pid())
        assert p is not None, 'nothing to crash'
        p.kill()
        assert wait_for(lambda: gone(p)), 'pid %d survived SIGKILL' % p.pid


def program(*argv):
    """A --program value: argv quoted for shlex.split."""
    return shlex.join([str(a) for a in argv])


def script(tmp, name, source):
    """Write a Python program into the test's dir; return its path (inside
    tmp, so it marks the processes that run it)."""
    path = Path(tmp) / name
    path.write_text(source)
    return path


def python_program(tmp, name, source, *args):
    """A --program that runs ``source`` (saved in tmp as ``name``) with ``args``."""
    return program(sys.executable, script(tmp, name, source), *args)


# -- programs for services under test ---------------------------------------------------
# Each is the source of a small Python program: give it to python_program().

# Records every catchable signal it gets (one name a line) in OUT; exits on
# those listed in argv[2].  OUT.ready appears once the handlers are in place.
RECORDER = '''
import os, signal, sys, time
out = sys.argv[1]
exit_on = set(filter(None, (sys.argv[2] if len(sys.argv) > 2 else '').split(',')))
def got(num, frame):
    name = signal.Signals(num).name
    with open(out, 'a') as f:
        f.write(name + '\\n')
    if name in exit_on:
        os._exit(0)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGQUIT):
    signal.signal(s, got)
open(out + '.ready', 'w').close()
while True:
    time.sleep(1)
'''

# Ignores TERM; forks a child that forks a grandchild (which leaves the
# process group with setsid when argv[2] says so); each writes "ROLE PID".
TREE = '''
import os, signal, sys, time
out, mode = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def report(role):
    with open(out, 'a') as f:
        f.write('%s %d\\n' % (role, os.getpid()))
if os.fork() == 0:
    if os.fork() == 0:
        if mode == 'setsid':
            os.setsid()
        report('grandchild')
    else:
        report('child')
else:
    report('leader')
while True:
    time.sleep(1)
'''

# A leader with one worker in its process group; both write "ROLE PID".
WORKERS = '''
import os, sys, time
out = sys.argv[1]
role = 'worker' if os.fork() == 0 else 'leader'
with open(out, 'a') as f:
    f.write('%s %d\\n' % (role, os.getpid()))
while True:
    time.sleep(1)
'''

# Listens on 127.0.0.1:PORT after DELAY seconds.
LISTENER = '''
import socket, sys, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
time.sleep(delay)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
'''

# Creates FILE after DELAY seconds, then waits.
CREATOR = '''
import sys, time
time.sleep(float(sys.argv[2]))
open(sys.argv[1], 'w').close()
while True:
    time.sleep(1)
'''

# One line to stdout, then one to stderr, then FLAG; then waits.
PRINTER = '''
import sys, time
print('out-line', flush=True)
print('err-line', file=sys.stderr, flush=True)
open(sys.argv[1], 'w').close()
while True:
    time.sleep(1)
'''

# Writes what it was started with (cwd, umask, env, argv) to OUT as JSON.
DUMPER = '''
import json, os, sys, time
mask = os.umask(0)
os.umask(mask)
facts = {'cwd': os.getcwd(), 'umask': mask, 'argv': sys.argv[2:],
         'greeting': os.environ.get('GREETING')}
with open(sys.argv[1] + '.tmp', 'w') as f:
    json.dump(facts, f)
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
while True:
    time.sleep(1)
'''


def recorder(tmp, out, exit_on='SIGTERM,SIGINT'):
    """Options of a service whose program records the signals it gets in
    ``out`` (a RECORDER); ready once its handlers are in place."""
    return dict(program=python_program(tmp, 'recorder.py', RECORDER, out, exit_on),
                ready='exec:' + program('test', '-e', '%s.ready' % out))


def roles(path, count, allow_gone=False):
    """{role: psutil.Process} once ``count`` "ROLE PID" lines are in ``path``
    (a role whose process has already gone is None if ``allow_gone``)."""
    def read():
        try:
            lines = Path(path).read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= count else None
    lines = wait_for(read)
    assert lines, 'the program did not report its processes in %s' % path
    found = {}
    for line in lines:
        role, pid = line.split()
        found[role] = proc(int(pid))
        assert allow_gone or found[role] is not None, line
    return found


# -- cleaning up ---------------------------------------------------------------------------------

class Cleanup:
    """Tracks what a test starts; ``finish()`` kills whatever is left."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.dirs = [self.tmp]          # processes with cwd/cmdline here are ours
        self.popens = []                # Popen objects started by the test

    def mkdtemp(self):
        """A world-traversable directory outside tmp_path (for other users)."""
        path = Path(tempfile.mkdtemp(prefix='bsctl-'))
        path.chmod(0o755)
        self.dirs.append(path)
        return path

    def popen(self, argv, **kw):
        kw.setdefault('cwd', str(self.tmp))
        kw.setdefault('env', environment(self.tmp))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self.popens.append(p)
        return p

    def run(self, argv, timeout=60, **kw):
        """Run ``argv`` to its end, marked as ours; a CompletedProcess with text."""
        kw.setdefault('cwd', str(self.tmp))
        kw.setdefault('env', environment(self.tmp))
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, **kw)

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
        matches (pid, start time and boot), so a reused PID is never killed."""
        found = []
        for d in self.dirs:
            for pid_file in Path(d).rglob('*.pid'):
                try:
                    if pid_file.is_symlink():
                        continue
                    pid = int(pid_file.read_text().strip())
                    words = pid_file.with_suffix('.identity').read_text().split()
                    if words[:3] == str(process.identity(pid)).split():
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


# -- a real buildout: Sample -------------------------------------------------------------------

DEVELOP = ('zc.recipe.egg', 'psutil', 'gunicorn')


class DoctestLike:
    """What zc.buildout.testing's set-up functions expect of a doctest."""

    def __init__(self):
        self.globs = {}


@functools.lru_cache(maxsize=None)
def source_distribution():
    """A directory holding this source's package and its installed metadata.

    zc.buildout.testing.install_develop links to where the metadata is, but a
    PEP 660 editable install keeps the code elsewhere (behind a .pth file that
    a buildout's sys.path does not read).  So: the metadata copied and the
    package directory linked, side by side, as a sample buildout can load it.
    """
    dist = importlib.metadata.distribution('buildout_script')
    root = tempfile.mkdtemp(prefix='buildout_script-source-')
    atexit.register(shutil.rmtree, root, True)
    shutil.copytree(str(dist._path), os.path.join(root, os.path.basename(str(dist._path))))
    package = os.path.dirname(os.path.abspath(buildout_script.__file__))
    os.symlink(package, os.path.join(root, 'buildout_script'))
    return root


def set_up_buildout(test):
    """buildoutSetUp plus our develop eggs and a process token; returns the dir."""
    zc.buildout.testing.buildoutSetUp(test)
    develop_eggs = os.path.join(test.globs['sample_buildout'], 'develop-eggs')
    with open(os.path.join(develop_eggs, 'buildout_script.egg-link'), 'w') as f:
        f.write(source_distribution())
    for project in DEVELOP:
        zc.buildout.testing.install_develop(project, test)
    token = uuid.uuid4().hex
    old = os.environ.get(TOKEN)
    os.environ[TOKEN] = token

    def restore_token():
        if old is None:
            os.environ.pop(TOKEN, None)
        else:
            os.environ[TOKEN] = old

    # First thing at tear-down, before the directories go.
    test.globs['__tear_downs'][0:0] = [lambda: kill_marked(token), restore_token]
    test.globs['token'] = token
    return test.globs['sample_buildout']


def kill_marked(token):
    """Kill every process whose environment carries ``token``; return their pids."""
    marked = []
    for p in psutil.process_iter():
        if p.pid == os.getpid():
            continue
        try:
            if p.environ().get(TOKEN) == token:
                marked.append(p)
        except (psutil.Error, OSError):
            continue
    for p in marked:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(marked, timeout=5)
    return [p.pid for p in marked]


class Sample:
    """A buildout directory with helpers named after what they do."""

    def __init__(self, test):
        self.test = test
        self.dir = test.globs['sample_buildout']
        self.token = test.globs['token']

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def write(self, name, text):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def configure(self, parts_text, parts=None):
        """Write buildout.cfg with the given part sections (text)."""
        if parts is None:
            parts = [line[1:-1] for line in parts_text.split('\n')
                     if line.startswith('[') and line.endswith(']')]
        self.write('buildout.cfg', '[buildout]\nparts = %s\n\n%s' % (
            ' '.join(parts), parts_text))

    def buildout(self, *args):
        """Run bin/buildout; (exit code, output)."""
        return self.run([self.path('bin', 'buildout')] + list(args))

    def run(self, argv, timeout=60, **kw):
        result = subprocess.run(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=timeout, **kw)
        return result.returncode, result.stdout

    def ls(self, directory='bin'):
        return sorted(os.listdir(self.path(directory)))


def sample_buildout():
    """A Sample, and the function that tears it down."""
    test = DoctestLike()
    set_up_buildout(test)
    return Sample(test), lambda: zc.buildout.testing.buildoutTearDown(test)


# -- a crontab command that keeps its table in a file ----------------------------------

def fake_crontab(directory):
    """A crontab command in ``directory`` that keeps the table in a file and
    logs its arguments, one call a line; (command path, table, log) as Paths."""
    directory = Path(directory)
    table = directory / 'table'
    log = directory / 'calls'
    command = directory / 'crontab'
    command.write_text(FAKE_CRONTAB % {'python': sys.executable, 'table': str(table),
                                       'log': str(log)})
    command.chmod(0o755)
    return command, table, log


FAKE_CRONTAB = '''#!%(python)s
"""A stand-in for crontab(1): -l prints the table, - replaces it from stdin."""
import os, sys
TABLE = %(table)r
with open(%(log)r, 'a') as log:
    log.write(' '.join(sys.argv[1:]) + '\\n')
if sys.argv[1:] == ['-l']:
    if not os.path.exists(TABLE):
        sys.stderr.write('no crontab for tester\\n')
        sys.exit(1)
    with open(TABLE) as f:
        sys.stdout.write(f.read())
elif sys.argv[1:] == ['-']:
    text = sys.stdin.read()
    with open(TABLE, 'w') as f:
        f.write(text)
else:
    sys.stderr.write('usage: crontab -l | crontab -\\n')
    sys.exit(2)
'''
