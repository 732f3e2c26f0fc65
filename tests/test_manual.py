"""The manual is doctests: README.txt, the first read (run by
test_readme.py), and a chapter a topic in docs/ (run here), each its own
suite in a fresh sample buildout, as zc.recipe.egg's and
collective.recipe.template's manuals are run.

zc.buildout.testing makes the buildout and the globals the examples use
(``buildout``, ``write``, ``system``, ``ls``, ``cat``, ``mkdir``,
``remove``); support.set_up_buildout links buildout_script and its
dependencies in as develop eggs and kills, at tear-down, every process the
examples started.  ``set_up`` below adds helpers named after what they do,
so that the prose shows a buildout.cfg, commands and their output, and the
waiting and killing stay here:

``get(url)``
    the body of the page at ``url``, never through a proxy;
``wait_until_served(url)``
    returns once something answers at ``url``;
``wait_until_says(command, text)``
    returns once the output of the shell command holds ``text``;
``crash_program(name)``, ``crash_keeper(name)``
    kill -9 the program (or the keeper) of the sample buildout's service
    ``name``, as a crash would, and return once it is gone;
``keeper_pid(name)``
    the PID of that service's keeper;
``fake-crontab`` (a file in the buildout directory)
    a stand-in for crontab(1) that keeps the table in a file, which already
    holds a MAILTO line, so a part's ``cron`` leaves the real crontab alone.

Every wait is bounded (15 s) and raises AssertionError naming what did not
happen, so a broken example fails where it stands.

Ports: the examples say 8080.  Each suite picks a free port; ``write``,
``get`` and ``wait_until_served`` put it in place of 8080, and the checker
puts 8080 back in the output, as it puts /sample-buildout back for the
temporary directory.  Paths, PIDs, times and uptimes are normalised too.
"""

import doctest
import io
import os
import re
import shutil
import signal
import sys
import unittest
import urllib.request

import pytest
import zc.buildout.testing
from zope.testing import renormalizing

import support
from support import free_port, gone, proc, set_up_buildout, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.txt')
DOCS = os.path.join(ROOT, 'docs')
CHAPTERS = sorted(name for name in os.listdir(DOCS) if name.endswith('.txt'))
EXAMPLE_PORT = 8080             # the port the examples say


def checker(port):
    pythons = sorted({sys.executable, os.path.realpath(sys.executable)}, key=len,
                     reverse=True)
    return renormalizing.RENormalizing([
        (re.compile('|'.join(re.escape(p) for p in pythons)), '/usr/bin/python3'),
        # The sample buildout's directory after KEY= or append: (exported files).
        (re.compile(r'/[^\s\'"=:]*/_[Tt][Ee][Ss][Tt]_(?=/)'), ''),
        zc.buildout.testing.normalize_path,
        (re.compile(r'\bpid \d+'), 'pid 1234'),
        (re.compile(r'\bwas \d+\)'), 'was 1234)'),
        (re.compile(r'\bup \d+[dhms]( \d+[hms])?'), 'up 3s'),
        (re.compile(r'\buptime=\d+s'), 'uptime=3s'),
        (re.compile(r'\bmemory \d+(\.\d+)? [KMG]iB'), 'memory 11.0 MiB'),
        (re.compile(r'\bmemory=\d+B'), 'memory=11534336B'),
        (re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'), '2024-01-01 12:00:00'),
        (re.compile(r'\b%d\b' % port), str(EXAMPLE_PORT)),
        # Python warnings from buildout itself ("Module zc was already imported"):
        # "FILE.py:LINE: CategoryWarning: message" and the source line after it.
        (re.compile(r'.*\.py:\d+: \w*Warning: .*\n(  .*\n)?'), ''),
        zc.buildout.testing.not_found,
        zc.buildout.testing.ignore_root_logger,
        zc.buildout.testing.warnings_warn,
        zc.buildout.testing.setuptools_deprecated,
        zc.buildout.testing.pkg_resources_deprecated,
    ])


def set_up(test, port):
    set_up_buildout(test)
    globs = test.globs
    sample = globs['sample_buildout']

    def on_free_port(text):
        return re.sub(r'\b%d\b' % EXAMPLE_PORT, str(port), text)

    write = globs['write']

    def write_on_free_port(*path_and_text):
        """zc.buildout.testing's write, with the suite's port for 8080."""
        write(*path_and_text[:-1], on_free_port(path_and_text[-1]))

    globs['write'] = write_on_free_port

    command, table, log = support.fake_crontab(globs['tmpdir']('crontab'))
    table.write_text('MAILTO=ops@example.org\n')
    shutil.copy2(str(command), os.path.join(sample, 'fake-crontab'))

    def get(url):
        """The body of ``url``, never through a proxy from the environment."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(on_free_port(url), timeout=10) as response:
            return response.read().decode()

    def answers(url):
        try:
            get(url)
        except OSError:
            return False
        return True

    def wait_until_served(url):
        """Return once something answers at ``url`` (a program a keeper
        restarted binds its port again in its own time)."""
        if not wait_for(lambda: answers(url)):
            raise AssertionError('nothing answers at %s' % url)

    def wait_until_says(command, text):
        """Return once the output of the shell ``command`` holds ``text``."""
        said = []

        def says():
            said[:] = [globs['system'](command)]
            return text in said[0]
        if not wait_for(says):
            raise AssertionError('%r never said %r; last: %r' % (command, text, said))

    def pid_in(name, suffix):
        """The PID recorded in var/run/NAME.SUFFIX of the sample buildout
        (NAME.pid: the bare PID; NAME.keeper: "keeper PID START BOOT")."""
        with open(os.path.join(sample, 'var', 'run', name + suffix)) as f:
            words = f.read().split()
        return int(words[1] if suffix == '.keeper' else words[0])

    def kill_9(pid):
        os.kill(pid, signal.SIGKILL)
        if not wait_for(lambda: gone(proc(pid))):
            raise AssertionError('pid %d survived SIGKILL' % pid)

    def crash_program(name):
        """kill -9 the program of the service ``name``; return once it is gone."""
        kill_9(pid_in(name, '.pid'))

    def crash_keeper(name):
        """kill -9 the keeper of the service ``name``; return once it is gone."""
        kill_9(pid_in(name, '.keeper'))

    globs.update(get=get, wait_until_served=wait_until_served,
                 wait_until_says=wait_until_says, crash_program=crash_program,
                 crash_keeper=crash_keeper,
                 keeper_pid=lambda name: pid_in(name, '.keeper'))


def tear_down(test):
    zc.buildout.testing.buildoutTearDown(test)


def run_manual(path):
    """Run the doctest file ``path`` as its own suite; fail with its report."""
    port = free_port()
    suite = doctest.DocFileSuite(
        path, module_relative=False, encoding='utf-8',
        setUp=lambda test: set_up(test, port), tearDown=tear_down,
        checker=checker(port),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        | doctest.REPORT_NDIFF)
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
    assert result.wasSuccessful(), stream.getvalue()


@pytest.mark.parametrize('chapter', CHAPTERS)
def test_chapter(chapter):
    run_manual(os.path.join(DOCS, chapter))


def test_readme_names_every_chapter():
    with open(README, encoding='utf-8') as f:
        text = f.read()
    for chapter in CHAPTERS:
        assert '``docs/%s``' % chapter in text, chapter
