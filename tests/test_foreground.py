"""foreground: ctl becomes the program (exec), tracked like a started one.

(A program that cannot be launched: test_launch.py.)
"""

import json
import signal

import support
from support import program, proc, wait_for

pytestmark = support.linux_only


def test_foreground_is_tracked_and_stoppable(service):
    svc = service()
    fg = svc.popen('foreground')
    assert wait_for(lambda: svc.pid_file.exists() and svc.run('status').code == 0)
    r = svc.run('status', '--json')
    assert json.loads(r.out)['pid'] == fg.pid, r
    assert svc.run('pid').out == '%d\n' % fg.pid
    assert wait_for(lambda: proc(fg.pid).cmdline()[:2] == ['sleep', '300'])  # exec'd
    r = svc.run('start')
    assert r.code == 0 and str(fg.pid) in r.out, r
    r = svc.run('stop')
    assert r.code == 0, r
    assert fg.wait(timeout=30) == -signal.SIGTERM
    assert svc.run('status').code == 3


def test_foreground_refuses_when_already_running(service):
    svc = service()
    p = svc.start_ok()
    r = svc.run('foreground')
    assert r.code == 1 and str(p.pid) in r.err, r


def test_foreground_session_that_ended_is_not_restarted_by_the_check(service):
    svc = service(program=program('true'))
    assert svc.run('foreground').code == 0
    r = svc.check()
    assert (r.code, r.out) == (0, ''), r
    assert svc.cleanup.leftovers() == []
