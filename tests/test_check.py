"""bin/NAME-check, the watchdog cron runs: real services, real kills."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def service(tmp_path):
    """Run ctl and check on a `sleep` service living in tmp_path; at the end
    kill whatever still runs there."""
    svc = Service(tmp_path)
    yield svc
    svc.cleanup()


class Service:

    def __init__(self, where):
        self.where = where
        self.options = ['--name', 'svc', '--program', 'sleep 300',
                        '--restart-delay', '0']

    def run(self, module, *args, options=()):
        env = dict(os.environ, PYTHONPATH=REPO)
        return subprocess.run(
            [sys.executable, '-m', 'buildout_script.' + module,
             *self.options, *options, *args],
            cwd=self.where, env=env, capture_output=True, text=True, timeout=60)

    def ctl(self, *args, **kw):
        return self.run('ctl', *args, **kw)

    def check(self, *args, **kw):
        return self.run('check', *args, **kw)

    def pid(self):
        try:
            with open(self.where / 'var' / 'run' / 'svc.pid') as f:
                return int(f.read())
        except FileNotFoundError:
            return None

    def processes(self):
        """Our sleepers: processes whose working directory is ours."""
        found = []
        for p in psutil.process_iter(['cwd', 'name', 'status']):
            if (p.info['cwd'] == str(self.where) and p.info['name'] == 'sleep'
                    and p.info['status'] != psutil.STATUS_ZOMBIE):
                found.append(p)
        return found

    def kill(self):
        """kill -9 the service, as a crash would, and wait until it is gone."""
        p = psutil.Process(self.pid())
        p.kill()
        wait_until(lambda: not p.is_running() or p.status() == psutil.STATUS_ZOMBIE)

    def cleanup(self):
        for p in self.processes():
            p.kill()


def wait_until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out waiting'
        time.sleep(0.01)


def test_check_is_silent_while_healthy(service):
    assert service.ctl('start').returncode == 0
    done = service.check()
    assert (done.returncode, done.stdout, done.stderr) == (0, '', '')


def test_verbose_check_prints_one_plugin_line(service):
    service.ctl('start')
    done = service.check('--verbose')
    assert done.returncode == 0
    line, = done.stdout.splitlines()
    assert line.startswith('svc OK - running (pid %d, up ' % service.pid())
    assert line.endswith('| uptime=0s restarts=0') or ' restarts=0' in line


def test_check_restarts_a_killed_service_with_a_warning(service):
    service.ctl('start')
    old = service.pid()
    service.kill()
    done = service.check()
    assert done.returncode == 1
    assert done.stdout.startswith('svc WARNING - dead (pid %d is gone); restarted it' % old)
    assert 'restarts=1' in done.stdout
    assert service.pid() != old
    assert [p.pid for p in service.processes()] == [service.pid()]
    assert service.ctl('status').returncode == 0


def test_check_starts_a_service_that_never_ran(service):
    done = service.check()
    assert done.returncode == 1
    assert 'not running; started it' in done.stdout
    assert len(service.processes()) == 1


def test_check_restarts_a_hung_service_failing_its_probe(service, tmp_path):
    healthy = tmp_path / 'healthy'
    healthy.touch()
    probe = ['--check', 'exec:test -e %s' % healthy]
    service.ctl('start')
    old = service.pid()
    assert service.check(options=probe).returncode == 0
    healthy.unlink()
    done = service.check(options=probe)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "its check exec:test -e %s failed" % healthy in done.stdout
    assert service.pid() != old
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    assert len(service.processes()) == 1


def test_no_restart_only_reports(service):
    service.ctl('start')
    service.kill()
    done = service.check('--no-restart')
    assert done.returncode == 2
    assert done.stdout.startswith('svc CRITICAL - dead')
    assert service.processes() == []


def test_a_service_stopped_on_purpose_stays_stopped(service):
    service.ctl('start')
    assert service.ctl('stop').returncode == 0
    done = service.check()
    assert (done.returncode, done.stdout) == (0, '')
    assert service.processes() == []
    assert 'stopped on purpose' in service.check('--verbose').stdout
    service.ctl('start')
    service.kill()
    assert service.check().returncode == 1, 'ctl start ends the stop on purpose'


def test_restart_limit_gives_up_and_says_so_once(service):
    limit = ['--restart-limit', '2']
    service.ctl('start')
    for _ in range(2):
        service.kill()
        assert service.check(options=limit).returncode == 1
    service.kill()
    first = service.check(options=limit)
    assert first.returncode == 2
    assert 'gave up after 2 restarts' in first.stdout
    again = service.check(options=limit)
    assert (again.returncode, again.stdout) == (2, ''), 'no mail storm'
    assert service.processes() == []
    assert service.ctl('start').returncode == 0
    assert service.check(options=limit).returncode == 0


def test_fast_repeated_failures_back_off(service):
    delay = ['--restart-delay', '600']
    service.ctl('start')
    service.kill()
    assert service.check(options=delay).returncode == 1
    service.kill()
    done = service.check(options=delay)
    assert done.returncode == 2
    assert 'next restart in 600s' in done.stdout
    assert service.processes() == []


def test_three_checks_at_once_start_exactly_one_copy(service):
    env = dict(os.environ, PYTHONPATH=REPO)
    checks = [subprocess.Popen([sys.executable, '-m', 'buildout_script.check',
                                *service.options], cwd=service.where, env=env,
                               stdout=subprocess.PIPE, text=True)
              for _ in range(3)]
    codes = sorted(c.wait(timeout=60) for c in checks)
    for c in checks:
        c.stdout.close()
    assert codes == [0, 0, 1]
    assert [p.pid for p in service.processes()] == [service.pid()]


def test_bad_option_is_unknown(service):
    done = service.check(options=['--check-timeout', 'soon'])
    assert done.returncode == 3
    assert done.stdout.strip() == ("python -m buildout_script.check UNKNOWN - "
                                   "--check-timeout: expected a number of seconds, got 'soon'")


def test_given_up_stays_given_up_after_the_window(service):
    limit = ['--restart-limit', '1', '--restart-window', '1']
    service.ctl('start')
    service.kill()
    assert service.check(options=limit).returncode == 1
    service.kill()
    assert 'gave up' in service.check(options=limit).stdout
    time.sleep(1.2)                      # the restart has left the window
    done = service.check(options=limit)
    assert (done.returncode, done.stdout) == (2, '')
    assert service.processes() == []


def test_no_restart_says_a_standing_trouble_once(service):
    service.ctl('start')
    service.kill()
    assert service.check('--no-restart').stdout.startswith('svc CRITICAL - dead')
    again = service.check('--no-restart')
    assert (again.returncode, again.stdout) == (2, '')


def test_a_history_it_cannot_understand_is_started_afresh(service):
    service.ctl('start')
    (service.where / 'var' / 'run' / 'svc.restarts').write_text('[1, "two"]\n')
    service.kill()
    done = service.check()
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'restarts=1' in done.stdout
