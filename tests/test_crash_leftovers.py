"""Crash leftovers and interrupted commands (issue 8, points 4, 5 and 7).

Whatever a service left -- in sessions of its own, after its leader died,
or because a ``ctl start`` was killed before it could record the program --
carries the service's mark and runs as its user: stop and start find it and
end it, scanning again until a scan finds nothing.  Processes that do not
carry the mark, or run as another user, are never touched.
"""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

import support
from support import alive, gone, program, wait_for

MARK_VARIABLE = 'BUILDOUT_SCRIPT_SERVICE'


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')



def py(tmp_path, name, source, *args):
    path = tmp_path / name
    path.write_text(source)
    return program(sys.executable, path, *args)


def marked(svc):
    """Live processes carrying the service's mark (its own, not a spawned copy's)."""
    value = '%s/%s' % (svc.pid_dir, svc.name)
    found = []
    for p in psutil.process_iter(['environ', 'status']):
        try:
            if (p.info['status'] != psutil.STATUS_ZOMBIE
                    and (p.info['environ'] or {}).get(MARK_VARIABLE) == value):
                found.append(p)
        except psutil.Error:
            continue
    return found


# A leader that forks a child into a session of its own, records it, and waits.
ESCAPER = '''import os, sys, time
child = os.fork()
if child == 0:
    os.setsid()
    time.sleep(300)
    os._exit(0)
with open(sys.argv[1], 'w') as f:
    f.write('%d\\n' % child)
time.sleep(300)
'''

# A leader that keeps forking children that setsid and fork again, for ever.
FORKER = '''import os, sys, time
open(sys.argv[1], 'w').close()
while True:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    try:
        os.wait()
    except ChildProcessError:
        pass
    time.sleep(0.005)
'''

RECORDER = '''import signal, sys, time
def record(signum, frame):
    with open(sys.argv[1], 'a') as f:
        f.write(signal.Signals(signum).name + '\\n')
    sys.exit(0)
signal.signal(signal.SIGTERM, record)
open(sys.argv[1] + '.ready', 'w').close()
while True:
    time.sleep(1)
'''


def escaper(svc, tmp_path):
    out = tmp_path / 'child.pid'
    svc.options.update(program=py(tmp_path, 'escaper.py', ESCAPER, out),
                       ready='exec:' + program('test', '-s', out))
    leader = svc.start_ok()
    child = psutil.Process(int(out.read_text()))
    assert child.pid != leader.pid and os.getsid(child.pid) != os.getsid(leader.pid)
    return leader, child


# == 4. crash leftovers =============================================================================

def test_stop_after_the_leader_died_ends_what_moved_to_its_own_session(service, tmp_path):
    svc = service()
    leader, child = escaper(svc, tmp_path)
    leader.kill()
    assert wait_for(lambda: gone(leader))
    assert svc.run('status').code == 1
    r = svc.run('stop')
    assert r.code == 0, r
    assert wait_for(lambda: gone(child)), 'a leftover in its own session survived stop'
    assert marked(svc) == []


def test_start_after_the_leader_died_ends_the_leftover_first(service, tmp_path):
    svc = service()
    leader, child = escaper(svc, tmp_path)
    leader.kill()
    assert wait_for(lambda: gone(leader))
    (tmp_path / 'child.pid').unlink()
    r = svc.run('start')
    assert r.code == 0, r
    assert gone(child), 'the leftover runs beside the new copy'
    # The keeper records the new program after its exec: it may be writing still.
    assert wait_for(lambda: svc.read_pid() != leader.pid)
    new = svc.read_pid()
    assert wait_for(lambda: len(marked(svc)) == 2)      # the new leader and its child
    assert {p.pid for p in marked(svc)} >= {new}


def test_stop_of_a_service_that_keeps_forking_into_new_sessions_leaves_nothing(service,
                                                                                 tmp_path):
    flag = tmp_path / 'forking'
    svc = service(program=py(tmp_path, 'forker.py', FORKER, flag),
                  ready='exec:' + program('test', '-e', flag), stop_timeout=2)
    for _ in range(3):
        svc.start_ok()
        time.sleep(0.1)
        r = svc.run('stop')
        assert r.code == 0, r
        assert marked(svc) == [], 'forked children outlived stop'


def test_a_program_start_could_not_record_is_ended_by_the_next_start(service, cleanup):
    # As if `ctl start` had been killed between launching and recording.
    svc = service()
    env = dict(os.environ)
    env[MARK_VARIABLE] = '%s/%s' % (svc.pid_dir, svc.name)
    stray = cleanup.popen(['sleep', '300'], env=env, start_new_session=True)
    r = svc.run('start')
    assert r.code == 0, r
    assert wait_for(lambda: stray.poll() is not None), 'an unrecorded copy runs on'
    assert [p.pid for p in marked(svc)] == [svc.read_pid()]


def interrupted_start(svc, cleanup):
    """``ctl start`` killed with -9 while it launches: the program stops its
    own ctl (its parent) the moment it runs, then the test kills that ctl.
    Returns the program's psutil.Process.  (Only its first run does so.)"""
    svc.options['program'] = program(
        '/bin/sh', '-c', 'if [ ! -e "$1" ]; then kill -STOP $PPID; : >"$1"; fi; exec sleep 300',
        'sh',
        svc.tmp / 'stopped-its-ctl')
    ctl = svc.popen('start')
    assert wait_for(lambda: support.proc(ctl.pid).status() == psutil.STATUS_STOPPED)
    [child] = wait_for(lambda: support.proc(ctl.pid).children())
    ctl.kill()
    ctl.wait()
    return child


def test_status_after_start_was_killed_while_launching_does_not_say_stopped(service,
                                                                           cleanup):
    svc = service()
    child = interrupted_start(svc, cleanup)
    r = svc.run('status')
    if svc.pid_file.exists():           # it recorded the program before it stopped
        assert r.code == 0 and 'running' in r.out, r
    else:
        assert r.code == 4, r
        assert ('svc: unknown: a start was interrupted before it recorded the program,'
                ' which runs on unrecorded (pid %d); run stop or start' % child.pid) in r.out
    assert svc.run('stop').code == 0
    assert wait_for(lambda: gone(child))
    assert svc.run('status').code == 3


def test_the_check_restarts_a_service_whose_start_was_killed_while_launching(service,
                                                                             cleanup):
    svc = service()
    child = interrupted_start(svc, cleanup)
    r = svc.check()
    if r.code == 0:                     # it recorded the program before it stopped
        assert svc.read_pid() == child.pid
        return
    assert r.code == 1, r
    assert 'svc WARNING - a start was cut short and its program runs unrecorded;' \
        ' restarted it' in r.out, r
    assert wait_for(lambda: gone(child)), 'the unrecorded program runs on'
    assert [p.pid for p in marked(svc)] == [svc.read_pid()]


def test_marked_processes_of_another_user_are_not_touched(service, cleanup):
    nobody = support_nobody()
    svc = service()
    stray = cleanup.popen(['runuser', '-u', 'nobody', '--', 'env', '%s=%s/%s' % (
        MARK_VARIABLE, svc.pid_dir, svc.name), 'sleep', '300'])
    assert wait_for(lambda: any(p.uids().real == nobody.pw_uid for p in marked(svc)))
    assert svc.run('start').code == 0
    assert svc.run('stop').code == 0
    assert stray.poll() is None, 'root stopped a process of another user'


def support_nobody():
    import pwd
    import shutil
    if os.geteuid() != 0 or not shutil.which('runuser'):
        pytest.skip('needs root and runuser')
    try:
        entry = pwd.getpwnam('nobody')
    except KeyError:
        pytest.skip('needs a user nobody')
    if entry.pw_uid == 0:
        pytest.skip('nobody is root here')
    return entry


def test_the_keepers_restart_after_kill_9_ends_what_the_dead_leader_left_first(service,
                                                                              tmp_path):
    svc = service(supervise='true', restart_delay=0)
    leader, child = escaper(svc, tmp_path)
    out = tmp_path / 'child.pid'
    out.unlink()
    leader.kill()                       # the crash: the keeper restarts it at once
    assert wait_for(lambda: out.exists() and out.read_text().endswith('\n'))
    new_child = int(out.read_text())
    assert new_child != child.pid
    # Stopped before the new copy started, not after: one copy runs, never two.
    assert gone(child), 'the leftover runs beside the new copy'
    # The keeper records the new program after its exec: it may be writing still.
    assert wait_for(lambda: svc.read_pid() != leader.pid)
    new = svc.read_pid()
    assert sorted(p.pid for p in marked(svc)) == sorted([new, new_child])
    r = svc.run('stop')
    assert r.code == 0, r
    assert wait_for(lambda: marked(svc) == [])


def test_a_spawned_copy_is_spared_by_the_keepers_restart_sweep(service, tmp_path):
    svc = service(supervise='true', restart_delay=0)
    leader, child = escaper(svc, tmp_path)
    out = tmp_path / 'child.pid'
    out.unlink()
    r = svc.run('spawn', '30')
    assert r.code == 0, r
    spawned = psutil.Process(int(r.out.split('pid ')[1].split(',')[0]))
    assert wait_for(lambda: out.exists() and out.read_text().endswith('\n'))
    spawned_child = psutil.Process(int(out.read_text()))
    out.unlink()
    leader.kill()                       # a leftover to sweep: the sweep runs
    assert wait_for(lambda: out.exists() and out.read_text().endswith('\n'))
    assert gone(child)
    assert alive(spawned) and alive(spawned_child)
    assert svc.run('stop').code == 0
    assert alive(spawned) and alive(spawned_child)
    spawned.kill()
    spawned_child.kill()


def test_a_spawned_copy_is_spared_by_starts_sweep(service):
    svc = service()
    r = svc.run('spawn', '30')
    assert r.code == 0, r
    spawned = psutil.Process(int(r.out.split('pid ')[1].split(',')[0]))
    svc.start_ok()
    assert alive(spawned)
    assert svc.run('stop').code == 0
    assert alive(spawned)
    spawned.kill()


# == 5. interrupted commands ========================================================================

@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signalled_start_cleans_up_like_ctrl_c(service, sig):
    svc = service(ready='exec:false', start_timeout=60)
    ctl = svc.popen('start')
    assert wait_for(lambda: svc.pid_file.exists())
    ctl.send_signal(sig)
    out, err = ctl.communicate(timeout=30)
    assert ctl.returncode == 1, (out, err)
    assert err.strip() == 'svc: interrupted' and 'Traceback' not in err
    assert not svc.pid_file.exists()
    assert marked(svc) == []


def test_a_start_under_nohup_lets_hangups_pass(service):
    svc = service(ready='exec:false', start_timeout=60)
    ctl = svc.popen('start', prefix=['nohup'])
    assert wait_for(lambda: svc.pid_file.exists())
    ctl.send_signal(signal.SIGHUP)
    with pytest.raises(subprocess.TimeoutExpired):
        ctl.wait(timeout=0.5)                       # still waiting for ready
    ctl.send_signal(signal.SIGTERM)
    out, err = ctl.communicate(timeout=30)
    assert ctl.returncode == 1 and err.strip() == 'svc: interrupted', (out, err)
    assert not svc.pid_file.exists()


def test_leftover_temp_files_of_dead_writers_are_removed(service):
    svc = service()
    svc.pid_dir.mkdir()
    dead = subprocess.Popen(['true'])
    dead.wait()
    stale = svc.pid_dir / ('svc.pid.%d.tmp' % dead.pid)
    stale.write_text('12')
    busy = svc.pid_dir / ('svc.pid.%d.tmp' % os.getpid())     # a live writer's
    busy.write_text('12')
    other = svc.pid_dir / ('other.pid.%d.tmp' % dead.pid)      # another service's
    other.write_text('12')
    svc.start_ok()
    assert not stale.exists()
    assert busy.exists() and other.exists()


@pytest.mark.parametrize('content', ['', '\0\0\0\0\0\0', '\n'])
def test_an_empty_pid_file_neither_blocks_start_nor_the_watchdog(service, content):
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_file.write_text(content)
    r = svc.run('status')
    assert r.code == 1 and 'holds no PID' in r.out, r
    argv = svc.argv()
    argv[argv.index('buildout_script.ctl')] = 'buildout_script.check'
    done = subprocess.run(argv, env=svc.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done                  # WARNING: it restarted it
    assert 'svc WARNING' in done.stdout and 'holds no PID' in done.stdout, done
    assert alive(psutil.Process(svc.read_pid()))
    assert svc.run('stop').code == 0


def test_a_started_record_reaches_the_disk(service):
    svc = service()
    svc.start_ok()
    # fsync cannot be watched from here; the record is whole and ours.
    assert svc.pid_file.stat().st_mode & 0o777 == 0o644
    assert int(svc.identity_file.read_text().split()[0]) == svc.read_pid()


# == 7. a frozen service hears its stop signal at once ==============================================

def test_a_stopped_program_gets_sigcont_after_the_stop_signal(service, tmp_path):
    out = tmp_path / 'signals'
    svc = service(program=py(tmp_path, 'recorder.py', RECORDER, out),
                  ready='exec:' + program('test', '-e', '%s.ready' % out), stop_timeout=60)
    p = svc.start_ok()
    os.kill(p.pid, signal.SIGSTOP)
    assert wait_for(lambda: p.status() == psutil.STATUS_STOPPED)
    r = svc.run('stop')
    assert r.code == 0, r
    assert out.read_text() == 'SIGTERM\n', 'it was KILLed frozen, never heard TERM'


def test_an_interrupted_supervised_start_leaves_nothing_as_in_the_cron_mode(kept):
    svc = kept(ready='exec:false', start_timeout=60)
    ctl = svc.popen('start')
    assert wait_for(lambda: svc.pid_file.exists())
    ctl.send_signal(signal.SIGTERM)
    out, err = ctl.communicate(timeout=30)
    assert ctl.returncode == 1 and err.strip() == 'svc: interrupted', (out, err)
    assert wait_for(lambda: marked(svc) == []), svc.told()
    assert svc.run('status').code == 3
    assert not (svc.pid_dir / 'svc.stopped').exists()     # not stopped on purpose
