"""The fixtures; the helpers they use live in support.py (tests import
support, never this module).

- ``cleanup``: a support.Cleanup for the test's tmp_path, finished at the end
  (every process the test caused is killed); while a module uses it, pytest
  is a child subreaper (``subreaper``).
- ``service``: a factory of support.Ctl for the test (default program
  ``sleep 300``), cleaned up by ``cleanup``.
- ``sample``: a real buildout in a temporary directory (support.Sample).
- ``fake_crontab``: a crontab command keeping its table in a file.
"""

import os
import signal

import pytest

import support

# The commands under test run as an installed package does, with its modules'
# bytecode cached, not compiled again by each of the suite's thousand
# commands (some machines set PYTHONDONTWRITEBYTECODE for every process).
os.environ.pop('PYTHONDONTWRITEBYTECODE', None)

# ... and begin as from a terminal: a suite started in the background by a
# script, or under nohup, would hand SIGINT and SIGHUP ignored to every
# command, and the tests of Ctrl-C and hangups would wait for nothing.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.fixture(scope='module')
def subreaper():
    """Orphaned daemons become our children, so their zombies can be reaped."""
    became = support.become_subreaper()
    yield
    if became:
        support.reap_orphans()
        support.stop_being_subreaper()


@pytest.fixture
def cleanup(subreaper, tmp_path):
    c = support.Cleanup(tmp_path)
    try:
        yield c
    finally:
        c.finish()


@pytest.fixture
def service(cleanup, tmp_path):
    """A factory of Ctl objects for this test (default program: sleep 300)."""
    def make(program=None, name='svc', **options):
        return support.Ctl(cleanup, tmp_path, name=name,
                           program=program or support.program('sleep', '300'), **options)
    return make


@pytest.fixture
def sample():
    buildout, tear_down = support.sample_buildout()
    try:
        yield buildout
    finally:
        tear_down()


@pytest.fixture
def fake_crontab(tmp_path):
    """A crontab command that keeps the table in a file; (command, table path, log)."""
    command, table, log = support.fake_crontab(tmp_path)
    return str(command), table, log
