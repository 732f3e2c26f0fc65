"""on-event: the user's command for started, exited, restarted, gave-up
and running, from the check and from the keeper: its variables, no
shell, a time limit, never in a restart's way, its failures in the log."""

import os
import sys

import pytest

import support
from support import proc, wait_for

pytestmark = [support.linux_only, pytest.mark.usefixtures('subreaper')]

# Appends one line per event to argv[1]: EVENT NAME PID EXIT RESTARTS (then,
# with argv[2], sleeps that long and says it is done in argv[1].done).
TELLER = '''
import os, sys, time
with open(sys.argv[1], 'a') as f:
    f.write('%s %s %s %r %s\\n' % tuple(os.environ.get('BUILDOUT_SCRIPT_' + key, '?') for key in
            ('EVENT', 'NAME', 'PID', 'EXIT', 'RESTARTS')))
if len(sys.argv) > 2:
    time.sleep(float(sys.argv[2]))
    open(sys.argv[1] + '.done', 'w').close()
'''


@pytest.fixture
def told(tmp_path):
    """(the on-event value, a function: the events told so far as lists of words)."""
    out = tmp_path / 'events'

    def events():
        if not out.exists():
            return []
        return [line.split(' ', 3)[:3] + [line.split(' ', 3)[3].rsplit(' ', 1)]
                for line in out.read_text().splitlines()]
    return support.python_program(tmp_path, 'teller.py', TELLER, out), events, out


def names(events):
    return [event[0] for event in events()]


def test_the_check_tells_started_exited_and_restarted(service, told):
    command, events, _ = told
    svc = service(on_event=command)
    first = svc.start_ok()
    assert wait_for(lambda: names(events) == ['started'])
    assert events()[0][:3] == ['started', 'svc', str(first.pid)]
    svc.crash()
    assert svc.check().code == 1
    assert wait_for(lambda: sorted(names(events)) == ['exited', 'restarted', 'started'])
    exited, restarted = sorted(events()[1:])
    assert exited[2] == str(first.pid) and "dead (pid %d is gone)" % first.pid in exited[3][0]
    assert restarted[2] == str(svc.read_pid()) and restarted[3][1] == '1'
    svc.run('stop')


def test_the_keeper_tells_every_event_and_gives_up(kept, told):
    command, events, _ = told
    svc = kept(on_event=command, restart_limit=1)
    first = svc.start_ok()
    assert wait_for(lambda: names(events) == ['started'])
    first.kill()
    # each is a command of its own: the last two may write in either order
    assert wait_for(lambda: sorted(names(events)) == ['exited', 'restarted', 'running',
                                                      'started']), events()
    exited = [event for event in events() if event[0] == 'exited'][0]
    assert exited[2] == str(first.pid) and exited[3][0] == "'killed by SIGKILL'"
    second = proc(svc.read_pid())
    second.kill()
    assert wait_for(lambda: sorted(names(events)[-2:]) == ['exited', 'gave-up']), events()
    assert 'gave up' in svc.run('status').out
    svc.run('stop')


def test_a_slow_command_is_in_no_restarts_way_and_is_killed_in_time(kept, told, tmp_path):
    command, events, out = told
    svc = kept(on_event=command + ' 300', on_event_timeout=2)
    first = svc.start_ok()
    assert wait_for(lambda: names(events) == ['started'])
    first.kill()
    assert wait_for(lambda: svc.pid_file.exists() and svc.read_pid() != first.pid)
    assert not (tmp_path / 'events.done').exists()      # restarted while it still ran
    assert wait_for(lambda: 'on-event %s for started did not end within 2s and was killed'
                    % sys.executable in svc.log.read_text(), timeout=10), \
        svc.log.read_text()
    svc.run('stop')


@pytest.mark.parametrize('supervise', ['false', 'true'])
def test_a_failing_command_is_said_in_the_log(service, tmp_path, supervise):
    svc = service(supervise=supervise, on_event=support.program(
        sys.executable, '-c', 'import sys; print("no mail server"); sys.exit(3)'))
    svc.start_ok()
    assert wait_for(lambda: 'for started exited with status 3' in svc.log.read_text()), \
        svc.log.read_text()
    assert 'no mail server' in svc.log.read_text()
    missing = service(name='other', supervise=supervise,
                      on_event=str(tmp_path / 'no-such-command'))
    missing.start_ok()
    assert wait_for(lambda: 'for started could not run: program not found: %s'
                    % (tmp_path / 'no-such-command') in missing.log.read_text()), \
        missing.log.read_text()
    svc.run('stop')
    missing.run('stop')


@support.needs_python_for_nobody
def test_the_command_runs_as_the_services_user(cleanup):
    base = cleanup.mkdtemp()
    script = support.script(base, 'whoami.py', 'import os\nopen(%r, "w").write(str(os.getuid()))\n'
                            % str(base / 'uid'))
    os.chmod(base, 0o777)
    svc = support.Ctl(cleanup, base, program=support.program('sleep', '300'), user='nobody',
                      on_event=support.program(support.python_for_nobody(), script))
    svc.start_ok()
    assert wait_for(lambda: (base / 'uid').exists() and (base / 'uid').read_text())
    assert int((base / 'uid').read_text()) == support.nobody().pw_uid
    svc.run('stop')


def test_stopping_the_service_spares_its_event_command(kept, told, tmp_path):
    command, events, out = told
    svc = kept(on_event=command + ' 1')
    svc.start_ok()
    assert wait_for(lambda: names(events) == ['started'])
    assert svc.run('stop').code == 0
    assert wait_for(lambda: (tmp_path / 'events.done').exists())    # not killed with it


def test_a_slow_command_holds_neither_the_lock_nor_the_checks_output(service, told, tmp_path):
    """The check fires while it holds the service's lock, and its caller
    (cron, NRPE, a shell's $(...)) reads its output to the end: the command,
    still running, must hold neither."""
    command, events, out = told
    svc = service(on_event=command + ' 300', on_event_timeout=600)
    svc.start_ok()
    svc.crash()
    r = svc.check(timeout=20)               # returns with its output, not after 300 s
    assert r.code == 1 and 'restarted it' in r.out, r
    assert wait_for(lambda: 'restarted' in names(events))
    r = svc.run('stop', timeout=20)         # the lock is free
    assert r.code == 0, r
    assert not (tmp_path / 'events.done').exists()
