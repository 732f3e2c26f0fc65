"""README.txt is the manual and a doctest: run it in a fresh sample buildout.

zc.buildout.testing makes the buildout (``bin/buildout``, ``write``, ``system``,
``ls``, ``cat``); support.set_up_buildout links buildout_script and its
dependencies in as develop eggs and kills, at tear-down, every process the
examples started.  Paths, PIDs, times and the free port are normalised.
"""

import doctest
import io
import os
import re
import signal
import sys
import unittest
import urllib.request

import zc.buildout.testing
from zope.testing import renormalizing

import support
from support import free_port, gone, proc, set_up_buildout, wait_for

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'README.txt')


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
        (re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'), '2024-01-01 12:00:00'),
        (re.compile(r'\b%d\b' % port), '8080'),
        # Python warnings from buildout itself ("Module zc was already imported"):
        # "FILE.py:LINE: CategoryWarning: message" and the source line after it.
        (re.compile(r'.*\.py:\d+: \w*Warning: .*\n(  .*\n)?'), ''),
        zc.buildout.testing.not_found,
        zc.buildout.testing.ignore_root_logger,
        zc.buildout.testing.warnings_warn,
        zc.buildout.testing.setuptools_deprecated,
        zc.buildout.testing.pkg_resources_deprecated,
    ])


def set_up(test):
    set_up_buildout(test)
    command, table, log = support.fake_crontab(test.globs['tmpdir']('crontab'))
    table.write_text('MAILTO=ops@example.org\n')
    test.globs['crontab_command'] = str(command)

    def kill_pid_in(path):
        """SIGKILL the process whose PID is in ``path`` and wait until it is gone."""
        with open(path) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGKILL)
        if not wait_for(lambda: gone(proc(pid))):
            raise AssertionError('pid %d is still alive' % pid)

    test.globs['kill_pid_in'] = kill_pid_in

    def get(url):
        """The body of ``url``, never through a proxy from the environment."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=10) as response:
            return response.read().decode()

    test.globs['get'] = get


def tear_down(test):
    zc.buildout.testing.buildoutTearDown(test)


def test_readme():
    port = free_port()
    suite = doctest.DocFileSuite(
        README, module_relative=False, encoding='utf-8',
        setUp=set_up, tearDown=tear_down, globs={'port': port},
        checker=checker(port),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        | doctest.REPORT_NDIFF)
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
    assert result.wasSuccessful(), stream.getvalue()


def test_readme_table_lists_every_service_option():
    from buildout_script import config
    from buildout_script.recipes import service
    with open(README, encoding='utf-8') as f:
        text = f.read()
    table = text[text.index('Options of a service part'):text.index('An entry point instead')]
    for option in list(config.DEFAULTS) + list(service.OPTIONS):
        assert '\n``%s``' % option in table, option
