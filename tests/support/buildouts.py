"""A real buildout in a temporary directory (``Sample``: zc.buildout.testing's
sample buildout with this source linked in; every process started from
it inherits ``BUILDOUT_SCRIPT_TEST_TOKEN`` and is killed at tear-down),
and a crontab command that keeps its table in a file."""

import atexit
import functools
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import zc.buildout.testing

import buildout_script

TOKEN = 'BUILDOUT_SCRIPT_TEST_TOKEN'
# The part of conftest's ``web`` fixture: bin/webctl and bin/web-check.
WEB = '[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'


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

    def output(self, *argv, timeout=60):
        """(exit code, stdout, stderr) of a command run here; none of it a
        traceback."""
        done = subprocess.run(list(argv), cwd=self.dir, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        assert 'Traceback' not in done.stdout + done.stderr, done
        return done.returncode, done.stdout, done.stderr

    def read_pid(self, name):
        """The pid in var/run/NAME.pid."""
        return int(self.read('var/run/%s.pid' % name))

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
