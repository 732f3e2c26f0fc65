"""The recipes, through real bin/buildout runs in a temporary buildout."""

import ast
import os
import stat
import subprocess
import sys

import pytest

from buildout_script import config

import support
from support import alive, gone, kill, proc, wait_for


def settings_of(script_text):
    """The settings dict literal rendered into a generated script."""
    start = script_text.index('settings = {') + len('settings = ')
    end = script_text.index('\n}\n', start) + 2
    return ast.literal_eval(script_text[start:end])


def sys_path_of(script_text):
    start = script_text.index('sys.path[0:0] = [') + len('sys.path[0:0] = ')
    end = script_text.index('\n]\n', start) + 2
    return ast.literal_eval(script_text[start:end])


def is_executable(path):
    return bool(os.stat(path).st_mode & stat.S_IXUSR)


# -- recipe = buildout_script (a script from a template) ------------------

def test_script_is_filled_from_options_and_keeps_shell_variables(sample):
    sample.write('hello.in', '#!/bin/sh\n'
                 'echo "%(greeting)s from %(part)s; HOME is $HOME and ${HOME}"\n'
                 'echo "%(python)s|%(bin-directory)s|%(directory)s"\n')
    sample.configure('[hello]\nrecipe = buildout_script\ntemplate = hello.in\n'
                     'greeting = Hello ${buildout:parts}\n')
    code, out = sample.buildout()
    assert code == 0, out
    script = sample.path('bin', 'hello')
    assert is_executable(script)
    assert sample.read('bin/hello') == (
        '#!/bin/sh\necho "Hello hello from hello; HOME is $HOME and ${HOME}"\n'
        'echo "%s|%s|%s"\n' % (sys.executable, sample.path('bin'), sample.dir))
    code, out = sample.run([script], env=dict(os.environ, HOME='/nowhere'))
    assert code == 0
    assert out.startswith('Hello hello from hello; HOME is /nowhere and /nowhere\n')


def test_script_target_names_the_script(sample):
    sample.write('t.in', '#!/bin/sh\necho %(part)s\n')
    sample.configure('[x]\nrecipe = buildout_script\ntemplate = t.in\ntarget = say-x\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert 'say-x' in sample.ls('bin') and 'x' not in sample.ls('bin')


def test_missing_key_names_the_key_the_template_and_the_part(sample):
    sample.write('t.in', 'hello %(who)s\n')
    sample.configure('[greet]\nrecipe = buildout_script\ntemplate = t.in\n')
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'greet': template 't.in' uses %(who)s, but the part has no"
            " option 'who'") in out
    assert 'Traceback' not in out
    assert 'greet' not in sample.ls('bin')


def test_filters_render_values_as_code(sample):
    sample.write('t.in', '#!%(python)s\nprint(%(args:argv)s, %(pid:path)s, %(word:repr)s)\n'
                 '# %(word:quote)s\n')
    sample.configure('[t]\nrecipe = buildout_script\ntemplate = t.in\n'
                     'args = serve "my app.ini"\npid = var/x.pid\nword = it\'s\n')
    code, out = sample.buildout()
    assert code == 0, out
    code, out = sample.run([sample.path('bin', 't')])
    assert out == "['serve', 'my app.ini'] %s it's\n" % sample.path('var', 'x.pid')
    assert sample.read('bin/t').endswith("# 'it'\"'\"'s'\n")

    sample.write('t.in', '%(word:upper)s\n')
    code, out = sample.buildout()
    assert ("Error: Part 't': template 't.in' uses %(word:upper)s, an unknown filter;"
            " the filters are argv, path, quote, repr") in out


def test_stray_percent_is_a_user_error(sample):
    sample.write('t.in', 'load is 100% now\n')
    sample.configure('[greet]\nrecipe = buildout_script\ntemplate = t.in\n')
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'greet': template 't.in' is not a valid %-format" in out
    assert 'write %% for a literal percent sign' in out
    assert 'Traceback' not in out


def test_unknown_template_names_where_it_looked(sample):
    sample.configure('[greet]\nrecipe = buildout_script\ntemplate = nope\n')
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'greet', option 'template': no template 'nope' in" in out
    assert 'Traceback' not in out


def test_missing_template_option_is_a_user_error(sample):
    sample.configure('[greet]\nrecipe = buildout_script\n')
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'greet', option 'template': is missing" in out


def test_the_service_recipes_own_templates_are_refused_with_a_clear_line(sample):
    sample.configure('[greet]\nrecipe = buildout_script\ntemplate = ctl\n')
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'greet', option 'template': 'ctl' is the service recipe's own"
            " template; for bin/NAMEctl and bin/NAME-check use recipe ="
            " buildout_script:service") in out
    assert 'Traceback' not in out


def test_text_after_the_verbatim_line_is_copied_as_it_is(sample):
    sample.write('t.in', '#!/bin/sh\nWHO=%(who)s\n# --- the rest is copied as it is ---\n'
                 'printf "%d%%s %(x)s\\n" 100\n')
    sample.configure('[t]\nrecipe = buildout_script\ntemplate = t.in\nwho = ada\n')
    assert sample.buildout()[0] == 0
    assert sample.read('bin/t') == ('#!/bin/sh\nWHO=ada\n# --- the rest is copied as it'
                                    ' is ---\nprintf "%d%%s %(x)s\\n" 100\n')


def test_template_dir_is_looked_in_before_the_bundled_templates(sample):
    sample.write('mine/paster-check', '#!/bin/sh\necho my own check for %(part)s\n')
    sample.configure('[site-check]\nrecipe = buildout_script\ntemplate = paster-check\n'
                     'template_dir = mine\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.read('bin/site-check') == '#!/bin/sh\necho my own check for site-check\n'


def test_template_dir_falls_back_to_bundled_templates(sample):
    os.mkdir(sample.path('mine'))
    sample.configure('[site-check]\nrecipe = buildout_script\ntemplate = paster-check\n'
                     'template_dir = mine\npidfile = var/site.pid\nstart = /bin/true\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert "PIDFILE = %r" % sample.path('var', 'site.pid') in sample.read('bin/site-check')


def test_unchanged_script_is_not_rewritten(sample):
    sample.write('t.in', '#!/bin/sh\necho %(word)s\n')
    sample.configure('[t]\nrecipe = buildout_script\ntemplate = t.in\nword = one\n')
    assert sample.buildout()[0] == 0
    script = sample.path('bin', 't')
    os.utime(script, (1000000000, 1000000000))
    before = os.stat(script)
    code, out = sample.buildout()
    assert code == 0, out
    assert 'Updating t.' in out
    after = os.stat(script)
    assert (after.st_mtime, after.st_ino) == (before.st_mtime, before.st_ino)

    # The template changed, the options did not: update() rewrites it.
    sample.write('t.in', '#!/bin/sh\necho %(word)s twice\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.read('bin/t') == '#!/bin/sh\necho one twice\n'
    assert is_executable(script)


def test_removing_the_part_removes_the_script(sample):
    sample.write('t.in', '#!/bin/sh\n')
    sample.configure('[t]\nrecipe = buildout_script\ntemplate = t.in\n')
    assert sample.buildout()[0] == 0
    assert 't' in sample.ls('bin')
    sample.configure('', parts=[])
    code, out = sample.buildout()
    assert code == 0, out
    assert 'Uninstalling t.' in out
    assert sample.ls('bin') == ['buildout']


# -- recipe = buildout_script:template (a plain file) ---------------------

def test_template_recipe_writes_a_file_that_is_not_executable(sample):
    sample.write('conf.in', 'port = %(port)s\n$HOME stays\n')
    sample.configure('[conf]\nrecipe = buildout_script:template\ntemplate = conf.in\n'
                     'output = ${buildout:directory}/etc/app.conf\nport = 8080\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.read('etc/app.conf') == 'port = 8080\n$HOME stays\n'
    assert not is_executable(sample.path('etc', 'app.conf'))
    sample.configure('', parts=[])
    assert sample.buildout()[0] == 0
    assert not os.path.exists(sample.path('etc', 'app.conf'))
    assert os.path.isdir(sample.path('etc'))        # a directory it did not record


def test_template_recipe_needs_output(sample):
    sample.write('conf.in', 'x\n')
    sample.configure('[conf]\nrecipe = buildout_script:template\ntemplate = conf.in\n')
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'conf', option 'output': is missing; give the path of the file" in out
    assert 'Traceback' not in out


def test_an_inline_template_keeps_its_indentation_when_inline_starts_its_own_line(sample):
    sample.configure('[hello]\nrecipe = buildout_script\ngreeting = hi\n'
                     'template =\n'
                     '    inline:\n'
                     '    #!/bin/sh\n'
                     '    if true; then\n'
                     '        echo "%(greeting)s from %(part)s, $HOME"\n'
                     '    fi\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.read('bin/hello') == ('#!/bin/sh\nif true; then\n'
                                        '    echo "hi from hello, $HOME"\nfi\n')
    assert is_executable(sample.path('bin', 'hello'))


def test_an_inline_template_on_the_option_line_writes_a_plain_file(sample):
    sample.configure('[conf]\nrecipe = buildout_script:template\nport = 8080\n'
                     'output = ${buildout:directory}/etc/app.conf\n'
                     'template = inline: [server]\n'
                     '    port = %(port)s\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.read('etc/app.conf') == '[server]\nport = 8080\n'


def test_an_inline_template_names_itself_in_errors(sample):
    sample.configure('[conf]\nrecipe = buildout_script:template\n'
                     'output = ${buildout:directory}/app.conf\n'
                     'template = inline:\n    port = %(port)s\n')
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'conf': template 'inline:' uses %(port)s, but the part has no"
            " option 'port'") in out


# -- recipe = buildout_script:service ---------------------------------------

SERVICE = '''[web]
recipe = buildout_script:service
program = ${buildout:executable} -m http.server 8080 --bind 127.0.0.1
'''


def test_service_renders_ctl_and_check_with_the_parsed_settings(sample):
    sample.configure(SERVICE + 'stop-signal = INT\nenvironment = A=1\nstart-timeout = 3\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.ls('bin') == ['buildout', 'web-check', 'webctl']
    ctl, check = sample.read('bin/webctl'), sample.read('bin/web-check')
    assert ctl.startswith('#!%s\n### BEGIN INIT INFO\n' % sys.executable)
    assert '### END INIT INFO\n"""bin/webctl: control the `web` service' in ctl
    assert ctl.endswith('from buildout_script.ctl import main\n'
                        'sys.exit(main(sys.argv[1:], settings))\n')
    assert check.endswith('from buildout_script.check import main\n'
                          'sys.exit(main(sys.argv[1:], settings))\n')
    expected = config.parse({
        'name': 'web', 'directory': sample.dir, 'stop-signal': 'INT',
        'environment': 'A=1', 'start-timeout': '3',
        'program': '%s -m http.server 8080 --bind 127.0.0.1' % sys.executable,
    }, base=sample.dir)
    assert settings_of(ctl) == expected == settings_of(check)
    assert expected['pid-dir'] == sample.path('var', 'run')
    assert expected['log-dir'] == sample.path('var', 'log')
    assert is_executable(sample.path('bin', 'webctl'))
    assert is_executable(sample.path('bin', 'web-check'))
    assert os.path.isdir(sample.path('var', 'run')) and os.path.isdir(sample.path('var', 'log'))
    # one line per key, so a reader sees each setting
    assert "    'stop-signal': 'SIGINT',\n" in ctl


def modules_loaded_by_status_and_a_healthy_check(sample):
    """{command: the modules it imported}, for bin/webctl status and a
    verbose bin/web-check on a running service."""
    sample.configure('[web]\nrecipe = buildout_script:service\nprogram = sleep 60\n')
    assert sample.buildout()[0] == 0
    assert sample.run(['bin/webctl', 'start'])[0] == 0
    loaded = {}
    try:
        for command in ('bin/webctl status', 'bin/web-check --verbose'):
            code, out = sample.run([sys.executable, '-X', 'importtime'] + command.split())
            assert code == 0, out
            loaded[command] = {line.split('|')[-1].strip() for line in out.splitlines()
                               if line.startswith('import time:')}
            assert 'buildout_script.lifecycle' in loaded[command], out
    finally:
        sample.run(['bin/webctl', 'stop'])
    return loaded


def test_status_and_a_healthy_check_do_not_import_argparse(sample):
    """Their speed comes from what they do not load; this fails when one creeps in."""
    for command, loaded in modules_loaded_by_status_and_a_healthy_check(sample).items():
        assert 'argparse' not in loaded, (command, sorted(loaded))


@pytest.mark.skipif(support.PSUTIL, reason='/proc only: the psutil backend'
                    ' (BUILDOUT_SCRIPT_PSUTIL=1) imports psutil, and psutil subprocess')
def test_status_and_a_healthy_check_import_neither_subprocess_nor_psutil(sample):
    """On Linux the facts come from /proc, so status need not pay for
    importing psutil (nor the subprocess module psutil imports)."""
    for command, loaded in modules_loaded_by_status_and_a_healthy_check(sample).items():
        assert not loaded & {'subprocess', 'psutil'}, (command, sorted(loaded))


def test_generated_script_path_finds_buildout_script_and_psutil(sample):
    sample.configure(SERVICE)
    assert sample.buildout()[0] == 0
    path = sys_path_of(sample.read('bin/webctl'))
    code, out = sample.run([sys.executable, '-S', '-c',
                            'import sys; sys.path[0:0] = %r; import buildout_script.config,'
                            ' psutil; print(buildout_script.config.__file__)' % (path,)])
    assert code == 0, out
    assert out.strip().endswith(os.path.join('buildout_script', 'config.py'))


def test_service_script_names_and_relative_directories(sample):
    sample.configure(SERVICE + 'name = website\nctl-script = site\ncheck-script = site-watch\n'
                     'pid-dir = run\nlog-dir = ${buildout:directory}/logs/../logs\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.ls('bin') == ['buildout', 'site', 'site-watch']
    s = settings_of(sample.read('bin/site'))
    assert s['name'] == 'website'
    assert s['pid-dir'] == sample.path('run')
    assert s['log-dir'] == sample.path('logs')
    assert os.path.isdir(sample.path('run')) and os.path.isdir(sample.path('logs'))


def test_service_bad_option_is_one_user_error_line(sample):
    sample.configure(SERVICE + 'stop-signal = FOO\n')
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'web', option 'stop-signal': unknown signal 'FOO'; use a name"
            " such as TERM") in out
    assert 'Traceback' not in out
    assert sample.ls('bin') == ['buildout']


def test_service_needs_program_or_entry_point(sample):
    sample.configure('[web]\nrecipe = buildout_script:service\n')
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'web': needs option 'program'" in out and "'entry-point'" in out

    sample.configure(SERVICE + 'entry-point = http.server:test\n')
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'web', option 'entry-point': give option 'program' or option"
            " 'entry-point', not both") in out


def test_service_bad_entry_point_and_schedule(sample):
    sample.configure('[web]\nrecipe = buildout_script:service\nentry-point = http.server\n')
    code, out = sample.buildout()
    assert "Error: Part 'web', option 'entry-point': expected package.module:callable" in out
    sample.configure('[web]\nrecipe = buildout_script:service\nentry-point = a.b:c\n'
                     'arguments = 1, (\n')
    code, out = sample.buildout()
    assert "Error: Part 'web', option 'arguments': expected Python arguments" in out
    sample.configure(SERVICE + 'cron = every minute\n')
    code, out = sample.buildout()
    assert "Error: Part 'web', option 'cron': expected 5 cron fields" in out


def test_entry_point_program_calls_the_callable_with_the_arguments(sample):
    sample.configure('[job]\nrecipe = buildout_script:service\nentry-point = sys:exit\n'
                     'arguments = 3\neggs = psutil\n')
    code, out = sample.buildout()
    assert code == 0, out
    program = settings_of(sample.read('bin/jobctl'))['program']
    assert program[:2] == [sys.executable, '-c']
    assert program[2].endswith("import sys\nsys.exit(sys.exit(3))")
    code, out = sample.run(program)
    assert code == 3


def test_unchanged_service_scripts_are_not_rewritten_and_a_change_is(sample):
    sample.configure(SERVICE)
    assert sample.buildout()[0] == 0
    ctl = sample.path('bin', 'webctl')
    os.utime(ctl, (1000000000, 1000000000))
    before = os.stat(ctl)
    code, out = sample.buildout()
    assert code == 0, out
    assert 'Updating web.' in out
    assert os.stat(ctl).st_mtime == before.st_mtime

    sample.configure(SERVICE + 'stop-timeout = 30\n')
    code, out = sample.buildout()
    assert code == 0, out
    assert settings_of(sample.read('bin/webctl'))['stop-timeout'] == 30.0


def test_uninstall_removes_scripts_and_keeps_logs_and_pid_dir(sample):
    sample.configure(SERVICE)
    assert sample.buildout()[0] == 0
    sample.write('var/log/web.log', 'precious\n')
    sample.configure('', parts=[])
    code, out = sample.buildout()
    assert code == 0, out
    assert sample.ls('bin') == ['buildout']
    assert sample.read('var/log/web.log') == 'precious\n'
    assert os.path.isdir(sample.path('var', 'run'))


# -- the bundled paster-check template ---------------------------------------

# A start command in the manner of `paster serve --daemon`: it starts a
# detached sleeper, writes its PID file, says so and returns.  The sleeper keeps
# the start command's stdout open, as a careless daemon would.
STARTER = '''import subprocess, sys
proc = subprocess.Popen(['sleep', '60'], start_new_session=True, stdin=subprocess.DEVNULL)
with open(sys.argv[1], 'w') as f:
    f.write('%d\\n' % proc.pid)
print('sleeper started')
'''

PASTER_CHECK = '''[site-check]
recipe = buildout_script
template = paster-check
name = site
pidfile = var/site.pid
start = ${buildout:executable} ${buildout:directory}/starter.py var/site.pid
'''


def read_pid(sample):
    with open(sample.path('var', 'site.pid')) as f:
        return int(f.read())


def test_paster_check_restarts_a_dead_process_and_is_silent_while_it_lives(sample):
    sample.write('starter.py', STARTER)
    os.makedirs(sample.path('var'), exist_ok=True)
    sample.configure(PASTER_CHECK)
    code, out = sample.buildout()
    assert code == 0, out
    check = sample.path('bin', 'site-check')
    assert is_executable(check)
    text = sample.read('bin/site-check')
    assert 'START = %r' % ([sys.executable, sample.path('starter.py'), 'var/site.pid'],) in text

    code, out = sample.run([check], timeout=20)     # no PID file yet
    pid = read_pid(sample)
    try:
        assert (code, out) == (1, 'site WARNING - was not running; restarted (pid %d)\n'
                                  'sleeper started\n' % pid)
        assert alive(proc(pid))
        assert sample.run([check]) == (0, '')
        assert sample.run([check, '--verbose']) == (0, 'site OK - running (pid %d)\n' % pid)
        assert sample.run([check, '--bogus'])[0] == 3
    finally:
        kill(pid)
    assert wait_for(lambda: gone(proc(pid)))
    code, out = sample.run([check])
    new_pid = read_pid(sample)
    kill(new_pid)
    assert code == 1 and new_pid != pid, out


def test_paster_check_treats_a_zombie_as_dead(sample):
    sample.write('starter.py', STARTER)
    sample.configure(PASTER_CHECK)
    assert sample.buildout()[0] == 0
    zombie = subprocess.Popen(['true'])             # not reaped until .wait()
    try:
        assert wait_for(lambda: gone(proc(zombie.pid)))
        sample.write('var/site.pid', '%d\n' % zombie.pid)
        code, out = sample.run([sample.path('bin', 'site-check')])
        kill(read_pid(sample))
        assert code == 1, out
        assert 'site WARNING - was not running; restarted' in out
    finally:
        zombie.wait()


def test_paster_check_is_critical_when_the_start_command_fails(sample):
    sample.configure(PASTER_CHECK.replace(
        'start = ${buildout:executable} ${buildout:directory}/starter.py var/site.pid',
        "start = ${buildout:executable} -c 'raise SystemExit(4)'"))
    assert sample.buildout()[0] == 0
    code, out = sample.run([sample.path('bin', 'site-check')])
    assert code == 2
    assert out.startswith('site CRITICAL - not running; ')
    assert 'failed (exit code 4)' in out

    sample.configure(PASTER_CHECK.replace(
        'start = ${buildout:executable} ${buildout:directory}/starter.py var/site.pid',
        'start = /no/such/program --daemon'))
    assert sample.buildout()[0] == 0
    code, out = sample.run([sample.path('bin', 'site-check')])
    assert code == 2
    assert out.startswith('site CRITICAL - not running; cannot run /no/such/program --daemon')


def test_paster_check_needs_its_options(sample):
    sample.configure('[site-check]\nrecipe = buildout_script\ntemplate = paster-check\n'
                     'start = /bin/true\n')
    code, out = sample.buildout()
    assert code != 0
    assert ("Error: Part 'site-check': template 'paster-check' uses %(pidfile)s, but the"
            " part has no option 'pidfile'") in out
    sample.configure('[site-check]\nrecipe = buildout_script\ntemplate = paster-check\n'
                     'pidfile = x.pid\nstart = "unbalanced\n')
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'site-check', option 'start': cannot split" in out
