"""The fixtures; the helpers they use live in the support package (tests
import support, never this module).

- ``cleanup``: a support.Cleanup for the test's tmp_path, finished at the end
  (every process the test caused is killed); while a module uses it, pytest
  is a child subreaper (``subreaper``).
- ``service``: a factory of support.Ctl for the test (default program
  ``sleep 300``), cleaned up by ``cleanup``; ``kept``, the same supervised.
- ``sample``: a real buildout in a temporary directory (support.Sample);
  ``web``, one with a service part ``web`` built.
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


def pytest_configure(config):
    """bin/test gave the xdist workers its sys.path through PYTHONPATH;
    where the tests run (a worker, or this process with -n 0) the commands
    under test get the PYTHONPATH the person had, so that they find the
    package only where a user's command would."""
    if getattr(config.option, 'numprocesses', None) and not hasattr(config, 'workerinput'):
        return                              # the controller: its workers need it
    if 'BUILDOUT_SCRIPT_TEST_PYTHONPATH' in os.environ:
        was = os.environ.pop('BUILDOUT_SCRIPT_TEST_PYTHONPATH')
        if was:
            os.environ['PYTHONPATH'] = was
        else:
            os.environ.pop('PYTHONPATH', None)


@pytest.fixture
def web(sample):
    """A sample buildout with bin/webctl and bin/web-check (program: sleep
    60; ``support.WEB`` is its part), stopped at the end."""
    sample.configure(support.WEB)
    code, out = sample.buildout()
    assert code == 0, out
    yield sample
    sample.run(['bin/webctl', 'stop'])


@pytest.fixture
def kept(cleanup, tmp_path):
    """A factory of supervised services sharing the test's pid dir
    (default program: sleep 300; restarts without delay)."""
    def make(name='svc', program=None, **options):
        options.setdefault('restart_delay', 0)
        return support.Ctl(cleanup, tmp_path, name=name, supervise='true',
                           program=program or support.program('sleep', '300'), **options)
    return make


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
