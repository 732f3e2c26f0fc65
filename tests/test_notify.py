"""``ready = notify``: programs that speak sd_notify over a real datagram socket."""

import json
import sys
import time

import pytest

import support
from support import Ctl, gone, wait_for

# A program that speaks the protocol as libsystemd's sd_notify does.
SPEAKER = '''
import os, signal, socket, sys, time

def notify(text):
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), address)

mode = sys.argv[1]
if mode == "slow":
    time.sleep(0.5)
    notify("STATUS=warmed up\\nREADY=1")
elif mode == "dies":
    print("cannot open the database", flush=True)
    sys.exit(3)
elif mode == "never":
    pass
elif mode == "watchdog":
    notify("READY=1")
    for _ in range(3):
        time.sleep(0.1)
        notify("WATCHDOG=1")
elif mode == "reload":
    def reload(*_):
        notify("RELOADING=1")
        time.sleep(0.5)
        notify("READY=1\\nSTATUS=reloaded")
    signal.signal(signal.SIGHUP, reload)
    notify("READY=1")
elif mode == "mainpid":
    child = os.fork()
    if child == 0:
        time.sleep(300)
        os._exit(0)
    notify("MAINPID=%d\\nREADY=1" % child)
    time.sleep(0.3)
    sys.exit(0)
elif mode == "stopping":
    notify("READY=1")
    time.sleep(0.2)
    notify("STOPPING=1")
    sys.exit(0)
time.sleep(300)
'''


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')


@pytest.fixture
def speaker(cleanup, tmp_path):
    script = support.script(tmp_path, 'speaker.py', SPEAKER)

    def make(mode, **options):
        options.setdefault('supervise', 'true')
        options.setdefault('restart_delay', 0)
        options.setdefault('start_timeout', 5)
        return Ctl(cleanup, tmp_path, ready='notify',
                   program=support.program(sys.executable, script, mode), **options)
    return make


def status_of(svc):
    return json.loads(svc.run('status', '--json').out)


@pytest.mark.parametrize('supervise', ['true', 'false'])
def test_start_waits_for_ready_1_from_a_slow_program(speaker, supervise):
    svc = speaker('slow', supervise=supervise)
    began = time.monotonic()
    r = svc.run('start')
    assert r.code == 0, r
    assert time.monotonic() - began >= 0.5
    if supervise == 'true':
        assert status_of(svc)['status-text'] == 'warmed up'
        assert 'status: warmed up' in svc.run('status').out
    svc.run('stop')


@pytest.mark.parametrize('supervise', ['true', 'false'])
def test_start_fails_with_the_log_tail_when_it_dies_before_ready(speaker, supervise):
    svc = speaker('dies', supervise=supervise)
    r = svc.run('start')
    assert r.code == 1 and 'exited with status 3' in r.err, r
    assert 'cannot open the database' in r.err, r
    assert not svc.pid_file.exists()


def test_start_fails_when_ready_never_comes(speaker):
    svc = speaker('never', start_timeout=0.5)
    r = svc.run('start')
    assert r.code == 1 and 'not ready after 0.5s' in r.err, r
    assert not svc.pid_file.exists()
    assert svc.run('status').code == 3


def test_a_program_that_stops_pinging_its_watchdog_is_restarted(speaker):
    svc = speaker('watchdog', watchdog_timeout=0.5)
    first = svc.start_ok()
    wait_for(lambda: status_of(svc)['restarts'] >= 1)
    assert gone(first)
    st = status_of(svc)
    assert st['last-exit'] == 'killed by SIGABRT' and st['pid'] != first.pid, st
    environ = open('/proc/%d/environ' % st['pid']).read().split('\0')
    assert 'WATCHDOG_USEC=500000' in environ and 'WATCHDOG_PID=%d' % st['pid'] in environ
    svc.run('stop')


def test_reload_waits_for_reloading_then_ready(speaker):
    svc = speaker('reload', reload_signal='HUP')
    svc.start_ok()
    began = time.monotonic()
    r = svc.run('reload')
    assert r.code == 0, r
    assert time.monotonic() - began >= 0.5
    assert status_of(svc)['status-text'] == 'reloaded'
    svc.run('stop')


def test_stopping_1_then_exit_is_not_restarted(speaker):
    svc = speaker('stopping')
    program = svc.start_ok()
    wait_for(lambda: gone(program))
    wait_for(lambda: svc.run('status').code == 3)
    assert 'STOPPING=1' in svc.log.read_text()


def test_mainpid_is_followed_when_the_first_process_hands_over(speaker):
    svc = speaker('mainpid')
    r = svc.run('start')
    main = support.proc(svc.read_pid())     # already the process it named
    assert r.code == 0 and 'started (pid %d,' % main.pid in r.out, r
    st = status_of(svc)
    assert st['pid'] == main.pid and 'MAINPID=%d' % main.pid in svc.log.read_text()
    assert wait_for(lambda: main.ppid() == st['keeper'])   # its parent exited: ours
    st = status_of(svc)
    assert st['state'] == 'running' and st['restarts'] == 0 and st['pid'] == main.pid, st
    r = svc.run('stop')
    assert r.code == 0 and 'stopped (pid %d)' % main.pid in r.out, r
    assert gone(main)
