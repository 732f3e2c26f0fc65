"""A supervised service after buildout changes its settings: status says
so, and restart applies them (the keeper too, which holds the old ones)."""

from support import alive, proc, wait_for

PROGRAM = ('[web]\nrecipe = buildout_script:service\n'
           'program = ${buildout:executable} -c "import time;'
           ' [time.sleep(1) for _ in range(300)]" %(word)s\n'
           'supervise = true\nrestart-delay = 0\n')


def configure(sample, word='one'):
    sample.configure(PROGRAM % {'word': word})
    code, out = sample.buildout()
    assert code == 0, out


def pid(sample):
    return int(sample.read('var/run/web.pid'))


def keeper(sample):
    return int(sample.read('var/run/web.keeper').split()[1])


def test_status_says_old_settings_and_restart_applies_them_keeping_the_keeper(sample):
    configure(sample)
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        code, out = sample.run(['bin/webctl', 'status'])
        assert code == 0 and 'old settings' not in out, out
        first, first_keeper = pid(sample), keeper(sample)
        configure(sample, 'two')
        code, out = sample.run(['bin/webctl', 'status'])
        assert code == 0, out
        assert 'kept by pid %d' % first_keeper in out, out
        assert out.strip().endswith('; old settings: restart to apply (changed: program)'), out
        code, out = sample.run(['bin/webctl', 'restart'])
        assert code == 0 and 'restarted (pid %d, was %d)' % (pid(sample), first) in out, out
        assert proc(pid(sample)).cmdline()[-1] == 'two'
        assert keeper(sample) == first_keeper       # it took the new settings itself
        code, out = sample.run(['bin/webctl', 'status'])
        assert code == 0 and 'old settings' not in out, out
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_a_program_the_keeper_restarts_keeps_its_record(sample):
    """The keeper restarts a killed program with the settings it holds:
    still the old ones, and status goes on saying so."""
    configure(sample)
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        first = proc(pid(sample))
        configure(sample, 'two')
        first.kill()
        assert wait_for(lambda: pid(sample) != first.pid and alive(proc(pid(sample))))
        code, out = sample.run(['bin/webctl', 'status'])
        assert 'old settings: restart to apply (changed: program)' in out, out
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_check_warns_once_about_old_settings_of_a_kept_service(sample):
    configure(sample)
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        configure(sample, 'two')
        code, out = sample.run(['bin/web-check'])
        assert code == 1 and 'old settings; restart to apply (changed: program)' in out, out
        assert sample.run(['bin/web-check']) == (1, '')
    finally:
        sample.run(['bin/webctl', 'stop'])
