"""bin/services: several services in one command, in dependency order."""

import json
import os
import sys

from support import alive, proc, wait_for

SLEEPER = '[%(name)s]\nrecipe = buildout_script:service\nprogram = sleep 300\n'


def two_services(sample, web_extra='', db_extra='', extra=''):
    sample.configure(
        '[db]\nrecipe = buildout_script:service\nprogram = sleep 300\n' + db_extra +
        '\n[web]\nrecipe = buildout_script:service\nprogram = sleep 301\nafter = db\n'
        + web_extra + '\n[services]\nrecipe = buildout_script:services\n' + extra,
        parts=['web', 'db', 'services'])
    code, out = sample.buildout()
    assert code == 0, out


def stop_all(sample):
    sample.run(['bin/services', 'stop'])


def test_start_goes_in_dependency_order_and_stop_in_reverse(sample):
    two_services(sample)
    try:
        code, out = sample.run(['bin/services', 'start'])
        assert code == 0, out
        lines = out.splitlines()
        assert lines[0].startswith('db started (pid ') and lines[1].startswith(
            'web started (pid '), out
        code, out = sample.run(['bin/services', 'status'])
        assert code == 0, out
        assert [line.split()[:3] for line in out.splitlines()] == [
            ['db', 'is', 'running'], ['web', 'is', 'running']]
        code, out = sample.run(['bin/services', 'stop'])
        assert code == 0, out
        assert [line.split()[:2] for line in out.splitlines()] == [
            ['web', 'stopped'], ['db', 'stopped']]
        code, out = sample.run(['bin/services', 'status'])
        assert code == 3, out
    finally:
        stop_all(sample)


def test_status_json_and_worst_code(sample):
    two_services(sample)
    try:
        assert sample.run(['bin/services', 'start', 'db'])[0] == 0
        code, out = sample.run(['bin/services', 'status', '--json'])
        assert code == 3, out
        rows = json.loads(out)
        assert [(r['name'], r['state'], r['code']) for r in rows] == [
            ('db', 'running', 0), ('web', 'stopped', 3)]
        assert isinstance(rows[0]['pid'], int)
        code, out = sample.run(['bin/services', 'status', 'db'])
        assert code == 0 and out.startswith('db is running'), out
    finally:
        stop_all(sample)


def test_starting_a_service_starts_what_it_needs_first(sample):
    two_services(sample)
    try:
        code, out = sample.run(['bin/services', 'start', 'web'])
        assert code == 0, out
        assert out.splitlines()[0].startswith('db started'), out
    finally:
        stop_all(sample)


def test_a_failed_dependency_stops_the_start_of_what_needs_it(sample):
    two_services(sample, db_extra='program = false\nready = alive:1\n')
    try:
        code, out = sample.run(['bin/services', 'start'])
        assert code == 1, out
        assert 'db failed to start: exited with status 1' in out
        assert 'web not started: it needs db, which did not start' in out
        assert not os.path.exists(sample.path('var', 'run', 'web.pid'))
    finally:
        stop_all(sample)


def test_check_restarts_what_is_down_and_says_one_line_each(sample):
    two_services(sample)
    try:
        assert sample.run(['bin/services', 'start'])[0] == 0
        code, out = sample.run(['bin/services', 'check'])
        assert (code, out) == (0, '')
        pid = int(sample.read('var/run/web.pid'))
        os.kill(pid, 9)
        assert wait_for(lambda: not alive(proc(pid)))
        code, out = sample.run(['bin/services', 'check'])
        assert code == 1, out
        assert out.startswith('web WARNING - dead (pid %d is gone); restarted it' % pid), out
        assert len(out.splitlines()) == 1
        code, out = sample.run(['bin/services', 'check', '-v'])
        assert code == 0 and len(out.splitlines()) == 2, out
    finally:
        stop_all(sample)


def test_bad_arguments_are_one_line_and_exit_2(sample):
    two_services(sample)
    for argv, word in ((['frobnicate'], 'unknown action'), (['start', 'nope'], 'no service nope'),
                       (['status', '--verbose'], 'takes no option')):
        code, out = sample.run(['bin/services'] + argv)
        assert code == 2, out
        assert len(out.splitlines()) == 1 and word in out, out
    code, out = sample.run(['bin/services', 'check', '--json'])
    assert code == 3, out


def test_restart_goes_in_dependency_order(sample):
    two_services(sample)
    try:
        assert sample.run(['bin/services', 'start'])[0] == 0
        code, out = sample.run(['bin/services', 'restart'])
        assert code == 0, out
        assert [line.split()[:2] for line in out.splitlines()] == [
            ['db', 'restarted'], ['web', 'restarted']], out
    finally:
        stop_all(sample)


def test_services_option_limits_and_brings_dependencies(sample):
    two_services(sample, extra='services = web\n')
    code, out = sample.run(['bin/services', 'status'])
    assert [line.split()[0] for line in out.splitlines()] == ['db', 'web'], out


def test_unknown_after_is_a_user_error_naming_the_parts(sample):
    sample.configure(SLEEPER % {'name': 'web'} + 'after = dbx\n')
    code, out = sample.buildout()
    assert code != 0
    assert "Error: Part 'web', option 'after': no part 'dbx' in the buildout" in out, out


def test_after_a_part_that_is_not_a_service_is_a_user_error(sample):
    sample.write('t.in', 'x\n')
    sample.configure(SLEEPER % {'name': 'web'} + 'after = t\n'
                     '[t]\nrecipe = buildout_script:template\ntemplate = t.in\noutput = t\n')
    code, out = sample.buildout()
    assert "Part 'web', option 'after': part 't' is not a buildout_script:service part" \
        in out, out


def test_a_cycle_is_a_user_error_naming_the_parts(sample):
    sample.configure(SLEEPER % {'name': 'a'} + 'after = b\n' + SLEEPER % {'name': 'b'}
                     + 'after = c\n' + SLEEPER % {'name': 'c'} + 'after = a\n')
    code, out = sample.buildout()
    assert code != 0
    error = [line for line in out.splitlines() if line.startswith('Error:')]
    assert len(error) == 1 and 'a cycle in after:' in error[0], out
    for part in 'abc':
        assert part in error[0].split('after:')[-1]


def test_after_installs_the_dependency_first(sample):
    sample.configure(SLEEPER % {'name': 'web'} + 'after = db\n' + SLEEPER % {'name': 'db'},
                     parts=['web'])
    code, out = sample.buildout()
    assert code == 0, out
    assert out.index('Installing db.') < out.index('Installing web.'), out


def test_status_of_services_imports_neither_argparse_subprocess_nor_psutil(sample):
    two_services(sample)
    try:
        assert sample.run(['bin/services', 'start'])[0] == 0
        code, out = sample.run([sys.executable, '-X', 'importtime', 'bin/services', 'status'])
        assert code == 0, out
        loaded = {line.split('|')[-1].strip() for line in out.splitlines()
                  if line.startswith('import time:')}
        assert 'buildout_script.services' in loaded, out
        assert not loaded & {'argparse', 'subprocess', 'psutil', 'json'}, out
    finally:
        stop_all(sample)


def test_services_script_holds_the_same_settings_as_each_ctl(sample):
    two_services(sample)
    import ast
    text = sample.read('bin/services')
    start = text.index('services = [') + len('services = ')
    services = ast.literal_eval(text[start:text.index('\n]\n', start) + 2])
    from test_recipes import settings_of
    assert services == [settings_of(sample.read('bin/dbctl')),
                        settings_of(sample.read('bin/webctl'))]


def test_help_lists_the_actions_and_the_services(sample):
    two_services(sample)
    code, out = sample.run(['bin/services', '--help'])
    assert code == 0, out
    assert 'bin/services status [--json] [NAME ...]' in out and 'services: db, web' in out
    code, out = sample.run(['bin/services'])
    assert code == 2 and len(out.splitlines()) == 1 and 'try --help' in out, out
