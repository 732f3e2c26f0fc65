"""After buildout changes a service's settings: status says so, the check
warns once, and on-change restarts or reloads the running program once."""

import ast
import json
import os
import stat

from support import alive, proc, wait_for

PROGRAM = ('[web]\nrecipe = buildout_script:service\n'
           'program = ${buildout:executable} -c "import signal, time;'
           ' signal.signal(signal.SIGHUP, lambda *a: print(\'reloaded\', flush=True));'
           ' [time.sleep(1) for _ in range(300)]" %(word)s\n%(extra)s')


def configure(sample, word='one', extra=''):
    sample.configure(PROGRAM % {'word': word, 'extra': extra})
    code, out = sample.buildout()
    assert code == 0, out
    return out


def pid(sample):
    return int(sample.read('var/run/web.pid'))


def test_status_says_old_settings_after_a_change_and_restart_applies_them(sample):
    configure(sample)
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        mode = stat.S_IMODE(os.stat(sample.path('var/run/web.settings')).st_mode)
        assert mode == 0o600
        code, out = sample.run(['bin/webctl', 'status'])
        assert code == 0 and 'old settings' not in out, out
        configure(sample, 'two', 'stop-timeout = 3\n')
        code, out = sample.run(['bin/webctl', 'status'])
        assert code == 0, out
        assert out.startswith('web is running with old settings; restart to apply (pid '), out
        assert 'changed: program)' in out, out
        code, out = sample.run(['bin/webctl', 'status', '--json'])
        assert json.loads(out)['changed'] == ['program'], out
        assert sample.run(['bin/webctl', 'restart'])[0] == 0
        code, out = sample.run(['bin/webctl', 'status'])
        assert 'old settings' not in out, out
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_a_command_option_alone_needs_no_restart(sample):
    configure(sample)
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        configure(sample, 'one', 'stop-timeout = 3\ncheck-failures = 2\n')
        code, out = sample.run(['bin/webctl', 'status'])
        assert 'old settings' not in out, out
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_check_warns_once_about_old_settings(sample):
    configure(sample)
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        configure(sample, 'two')
        code, out = sample.run(['bin/web-check'])
        assert code == 1, out
        assert out.startswith('web WARNING - running (pid %d, up ' % pid(sample)), out
        assert 'with old settings; restart to apply (changed: program)' in out
        code, out = sample.run(['bin/web-check'])
        assert (code, out) == (1, ''), out
        code, out = sample.run(['bin/web-check', '-v'])
        assert code == 1 and 'old settings' in out, out
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_on_change_restart_restarts_once_and_only_a_running_program(sample):
    configure(sample, 'one', 'on-change = restart\n')
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        first = pid(sample)
        out = configure(sample, 'two', 'on-change = restart\n')
        assert 'web: web restarted (pid %d, was %d) to apply program' % (
            pid(sample), first) in out, out
        second = pid(sample)
        assert second != first and not alive(proc(first))
        out = configure(sample, 'two', 'on-change = restart\n')
        assert pid(sample) == second and 'restarted' not in out, out
        assert sample.run(['bin/webctl', 'stop'])[0] == 0
        out = configure(sample, 'three', 'on-change = restart\n')
        assert 'restarted' not in out and 'started' not in out, out
        assert sample.run(['bin/webctl', 'status'])[0] == 3
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_on_change_reload_signals_and_records_once(sample):
    extra = 'on-change = reload\nreload-signal = HUP\nenvironment = A=1\n'
    configure(sample, 'one', extra)
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        first = pid(sample)
        out = configure(sample, 'one', extra.replace('A=1', 'A=2'))
        assert 'web: web reloaded (pid %d) to apply environment' % first in out, out
        assert wait_for(lambda: 'reloaded' in sample.read('var/log/web.log'))
        assert pid(sample) == first
        code, out = sample.run(['bin/webctl', 'status'])
        assert 'old settings' not in out, out
        out = configure(sample, 'one', extra.replace('A=1', 'A=2'))
        assert 'reloaded' not in out, out
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_on_change_reload_needs_a_reload_signal(sample):
    sample.configure(PROGRAM % {'word': 'x', 'extra': 'on-change = reload\n'})
    code, out = sample.buildout()
    assert "Part 'web', option 'on-change': reload needs option 'reload-signal'" in out, out
    sample.configure(PROGRAM % {'word': 'x', 'extra': 'on-change = sometimes\n'})
    code, out = sample.buildout()
    assert "Part 'web', option 'on-change': expected one of restart, reload, none" in out


def test_a_failed_restart_keeps_the_new_scripts(sample):
    configure(sample, 'one', 'on-change = restart\n')
    try:
        assert sample.run(['bin/webctl', 'start'])[0] == 0
        sample.configure('[web]\nrecipe = buildout_script:service\n'
                         'program = false\nready = alive:1\non-change = restart\n')
        code, out = sample.buildout()
        assert 'on-change: webctl try-restart failed (exit 1): web failed to start' in out, out
        assert 'webctl' in sample.ls('bin')
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_status_says_starting_while_start_waits_for_ready(sample):
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'
                     'ready = exec:test -e %s\nstart-timeout = 30\n'
                     % sample.path('ready-now'))
    assert sample.buildout()[0] == 0
    import subprocess
    starter = subprocess.Popen([sample.path('bin', 'webctl'), 'start'], cwd=sample.dir,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: os.path.exists(sample.path('var/run/web.starting')))

        def waiting_for_ready():        # launched and recorded, not about to be
            code, out = sample.run(['bin/webctl', 'status'])
            return (code, out) if out.startswith('web is starting (pid ') else None
        code, out = wait_for(waiting_for_ready) or sample.run(['bin/webctl', 'status'])
        assert code == 0 and out.startswith('web is starting (pid '), out
        code, out = sample.run(['bin/web-check', '-v'])
        assert code == 0 and 'web OK - starting' in out, out
        sample.write('ready-now', '')
        assert starter.wait(30) == 0
        code, out = sample.run(['bin/webctl', 'status'])
        assert out.startswith('web is running'), out
    finally:
        starter.kill()
        starter.wait()
        sample.run(['bin/webctl', 'stop'])


def test_published_paths_for_other_parts(sample):
    sample.write('t.in', '%(ctl)s %(check)s %(pid)s %(log)s\n')
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n'
                     'stdout = web-out.log\n'
                     '[paths]\nrecipe = buildout_script:template\ntemplate = t.in\n'
                     'output = paths.txt\nctl = ${web:ctl}\ncheck = ${web:check-path}\n'
                     'pid = ${web:pid-file}\nlog = ${web:log-file}\n'
                     '[again]\nrecipe = buildout_script:template\ntemplate = t.in\n'
                     'output = again.txt\nctl = ${paths:path}\ncheck = x\npid = x\nlog = x\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.read('paths.txt').split() == [
        sample.path('bin', 'webctl'), sample.path('bin', 'web-check'),
        sample.path('var', 'run', 'web.pid'), sample.path('var', 'log', 'web-out.log')]
    assert sample.read('again.txt').split()[0] == sample.path('paths.txt')


def test_options_a_newer_version_added_unset_are_no_change(service):
    """After an upgrade, a program started by the older version (its
    NAME.settings without today's unset options) has no old settings."""
    svc = service()
    svc.start_ok()
    record = svc.pid_dir / 'svc.settings'
    digest, _, text = record.read_text().partition('\n')
    older = [item for item in ast.literal_eval(text.strip())
             if item[0] not in ('limits', 'nice', 'oom-score-adjust')]
    record.write_text('%s\n%r\n' % (digest, older))
    r = svc.run('status')
    assert r.code == 0 and 'old settings' not in r.output, r
    r = svc.run('status', limits='core=0')
    assert 'old settings' in r.output and 'changed: limits)' in r.output, r
