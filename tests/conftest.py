"""A real buildout in a temporary directory, and no process left behind.

``sample`` is zc.buildout.testing's sample buildout (``bin/buildout`` made by
buildout's own bootstrap) with this source of buildout_script and its
dependencies linked in as develop eggs, so ``recipe = buildout_script...``
resolves offline.

Every process a test starts inherits ``BUILDOUT_SCRIPT_TEST_TOKEN``; at the end
of the test any process still carrying the token is killed.
"""

import atexit
import functools
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import psutil
import pytest
import zc.buildout.testing

import buildout_script

TOKEN = 'BUILDOUT_SCRIPT_TEST_TOKEN'
DEVELOP = ('zc.recipe.egg', 'psutil', 'gunicorn')


class _DoctestLike:
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
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(TOKEN) == token:
                marked.append(proc)
        except (psutil.Error, OSError):
            continue
    for proc in marked:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(marked, timeout=5)
    return [p.pid for p in marked]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


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


@pytest.fixture
def sample():
    test = _DoctestLike()
    set_up_buildout(test)
    try:
        yield Sample(test)
    finally:
        zc.buildout.testing.buildoutTearDown(test)


@pytest.fixture
def fake_crontab(tmp_path):
    """A crontab command that keeps the table in a file; (command, table path, log)."""
    table = tmp_path / 'table'
    log = tmp_path / 'calls'
    command = tmp_path / 'crontab'
    command.write_text(FAKE_CRONTAB % {'python': sys.executable, 'table': str(table),
                                       'log': str(log)})
    command.chmod(0o755)
    return str(command), table, log


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


def wait_for(predicate, timeout=10, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def pid_alive(pid):
    """True when pid is a live process that is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
