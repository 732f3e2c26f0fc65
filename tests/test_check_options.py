"""The check's own options, through a generated bin/web-check: ``-t``
(the Monitoring Plugins' plugin timeout) and ``check-failures``."""

import os

from support import WEB


def test_check_timeout_ends_unknown_and_undoes_the_start_it_began(web):
    """-t: the Monitoring Plugins' plugin timeout.  Here the start it makes
    waits for a port nothing will ever open."""
    web.configure(WEB + 'ready = tcp:127.0.0.1:9\nstart-timeout = 120\n')
    assert web.buildout()[0] == 0
    code, out, err = web.output('bin/web-check', '-t', '1')
    assert (code, out, err) == (3, 'web UNKNOWN - timed out after 1s (-t)\n', '')
    assert not os.path.exists(web.path('var', 'run', 'web.pid'))
    assert web.output('bin/webctl', 'status')[0] == 3


def test_check_timeout_is_quiet_when_the_check_is_quick(web):
    assert web.output('bin/webctl', 'start')[0] == 0
    pid = int(open(web.path('var', 'run', 'web.pid')).read())
    for argv in (['-t', '30'], ['--timeout=30', '-v']):
        code, out, err = web.output('bin/web-check', *argv)
        assert code == 0 and err == ''
    assert out.startswith('web OK - running (pid %d' % pid)


def test_check_failures_tolerates_failed_probes_before_restarting(sample):
    flag = sample.path('healthy')
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'
                     'check = exec:test -e %s\ncheck-failures = 3\nrestart-delay = 0\n' % flag)
    assert sample.buildout()[0] == 0
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        first = sample.read_pid('web')
        for count in (1, 2):
            code, out = sample.run(['bin/web-check'])
            assert (code, out) == (1, ''), out
            assert sample.read('var/run/web.failures').strip() == str(count)
        code, out = sample.run(['bin/web-check', '-v'])
        assert code == 1 and 'restarted it' in out, out
        assert sample.read_pid('web') != first
        assert not os.path.exists(sample.path('var/run/web.failures'))
        # a passing probe ends a run of failures
        code, out = sample.run(['bin/web-check', '-v'])
        assert 'failure 1 of 3 before a restart' in out and 'failures=1' in out, out
        sample.write('healthy', '')
        code, out = sample.run(['bin/web-check'])
        assert (code, out) == (0, '')
        assert not os.path.exists(sample.path('var/run/web.failures'))
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_check_failures_must_be_at_least_one(sample):
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'
                     'check-failures = 0\n')
    code, out = sample.buildout()
    assert "Part 'web', option 'check-failures': expected a whole number >= 1" in out, out
