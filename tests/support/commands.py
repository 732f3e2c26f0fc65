"""Running our commands as real processes: ``Ctl`` for one service in a
test's tmp dir, the environment they get, and the ``--program`` values
they run."""

import functools
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from buildout_script import process

from .processes import gone, proc, wait_for

ROOT = Path(__file__).resolve().parent.parent.parent
MARK = 'BUILDOUT_SCRIPT_CTL_TEST'
PSUTIL = not process.PROC           # the backend the commands under test use


def nobody():
    """The passwd entry of user nobody, if it exists and is not root."""
    import pwd
    try:
        entry = pwd.getpwnam('nobody')
    except KeyError:
        return None
    return entry if entry.pw_uid != 0 else None


@functools.lru_cache(maxsize=None)
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


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')
needs_root_and_nobody = pytest.mark.skipif(os.geteuid() != 0 or nobody() is None,
                                           reason='needs root and a non-root user "nobody"')
needs_python_for_nobody = pytest.mark.skipif(
    python_for_nobody() is None,
    reason='needs root, a user nobody, runuser and a Python >= 3.10 that nobody can run')


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


def one_line(text):
    """The only line of ``text`` (an AssertionError if there are more)."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


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

    def told(self):
        """What its log and its keeper's notes say, for an assertion's message."""
        return '\n'.join('%s:\n%s' % (path.name, path.read_text() if path.exists() else '-')
                         for path in (self.log, self.pid_dir / '.keeper.log'))

    def keeper_pid(self):
        """The pid of its keeper, from the keeper's record (supervised)."""
        return int((self.pid_dir / (self.name + '.keeper')).read_text().split()[1])

    def status_json(self):
        """``status --json``, read."""
        import json
        return json.loads(self.run('status', '--json').out)

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
