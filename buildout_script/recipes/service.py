"""``recipe = buildout_script:service``: ``bin/NAMEctl`` and ``bin/NAME-check``.

    [web]
    recipe = buildout_script:service
    program = ${buildout:bin-directory}/paster serve production.ini
    ready = http://127.0.0.1:8080/
    cron = */5 * * * *

Every option is checked here, at buildout time, by ``config.parse`` (the
same function the commands use); the typed result is rendered into both
scripts as Python literals.  The scripts call ``buildout_script.ctl.main`` and
``buildout_script.check.main``; this module knows nothing of signals or
processes: for ``on-change`` it asks ``modes.status`` whether the running
program has other settings and runs the new ``bin/NAMEctl``.  Uninstalling
removes the scripts and the crontab block, never the PID or log directories.

Options ``systemd``, ``logrotate`` and ``supervisor`` also write files for the
machine's own managers (recipes/systemd.py, logrotate.py, supervisor.py), from
the same settings; what a manager cannot express is logged, never dropped.
"""

import ast
import logging
import os
import re
import shlex
import shutil
import subprocess

import zc.buildout.easy_install
import zc.recipe.egg

from buildout_script import account
from buildout_script import config
from buildout_script import lifecycle
from buildout_script import logfiles
from buildout_script import modes
from buildout_script import order
from buildout_script import program
from buildout_script.servicefiles import StateError
from buildout_script.recipes import crontab
from buildout_script.recipes import logrotate
from buildout_script.recipes import supervisor
from buildout_script.recipes import systemd
from buildout_script.recipes.script import (
    TEMPLATES, part_error, read_template, render, script_path, write_if_changed)

PROJECT = 'buildout_script'
ENTRY_POINT = re.compile(r'^\s*([A-Za-z_][\w.]*)\s*:\s*([A-Za-z_][\w.]*)\s*$')

# The part's options besides config.DEFAULTS (README.txt's table lists both),
# with their defaults: None is "not set", <part> the part name.
OPTIONS = {
    'entry-point': None,
    'eggs': None,
    'arguments': None,
    'ctl-script': '<part>ctl',
    'check-script': '<part>-check',
    'cron': None,
    'crontab': 'crontab',
    'systemd': None,
    'systemd-directory': 'etc/systemd',
    'systemd-install': 'false',
    'logrotate': None,
    'logrotate-directory': 'etc/logrotate.d',
    'supervisor': None,
    'nrpe': None,
    'after': None,
    'on-change': 'none',
    'argv': None,
}
FLAGS = {'true': True, 'yes': True, 'on': True, '1': True,
         'false': False, 'no': False, 'off': False, '0': False, '': False}

ON_CHANGE = ('restart', 'reload', 'none')
SERVICE_RECIPE = 'buildout_script:service'


class Service:

    def __init__(self, buildout, name, options):
        self.buildout, self.name, self.options = buildout, name, options
        b = buildout['buildout']
        self.base = b['directory']
        self.python = b['executable']
        self.eggs = [line.strip() for line in (options.get('eggs') or '').splitlines()
                     if line.strip()]
        self.entry_point = self.parse_entry_point()

        raw = {option: options.get(option) for option in config.DEFAULTS}
        raw['name'] = options.get('name', name)
        if raw['directory'] is None:
            raw['directory'] = self.base
        if self.entry_point:
            raw['program'] = ['python']         # the real argv needs the eggs' paths
        try:
            self.settings = config.parse(raw, base=self.base)
        except config.SettingError as e:
            raise part_error(name, e.option, e.message)
        self.check_user(self.settings['user'])
        for option in ('name', 'directory', 'pid-dir', 'log-dir'):
            options.setdefault(option, self.settings[option])

        bin_directory = b['bin-directory']
        self.scripts = {}                       # template -> path
        for template, option, default in (('ctl', 'ctl-script', name + 'ctl'),
                                          ('check', 'check-script', name + '-check')):
            script = options.get(option, default)
            if script.strip():          # empty: no such script
                self.scripts[template] = script_path(name, option, script, bin_directory)

        self.crontab = options.get('crontab', 'crontab').strip()
        self.cron = self.parse_cron()
        self.exports = self.parse_exports()
        self.after = self.parse_after()
        self.on_change = self.parse_on_change()
        self.publish()

    def check_user(self, user):
        """A user that does not exist fails here, not at the first start."""
        if not user:
            return
        if account.entry(user) is None:
            raise part_error(self.name, 'user', 'user %r does not exist on this machine;'
                             ' create it first or name another' % user)

    def parse_entry_point(self):
        program = self.options.get('program')
        entry_point = self.options.get('entry-point')
        arguments = self.options.get('arguments')
        if program is not None and entry_point is not None:
            raise part_error(self.name, 'entry-point', "give option 'program' or option"
                             " 'entry-point', not both")
        if program is None and entry_point is None:
            raise part_error(self.name, None, "needs option 'program' (a command line)"
                             " or option 'entry-point' (package.module:callable)")
        if entry_point is None:
            if arguments is not None:
                raise part_error(self.name, 'arguments', "only applies with option"
                                 " 'entry-point'; put the arguments in 'program'")
            if self.options.get('argv') is not None:
                raise part_error(self.name, 'argv', "only applies with option"
                                 " 'entry-point'; put the arguments in 'program'")
            return None
        match = ENTRY_POINT.match(entry_point)
        if not match:
            raise part_error(self.name, 'entry-point', 'expected package.module:callable,'
                             ' got %r' % entry_point)
        self.argv = self.parse_argv()
        arguments = (arguments or '').strip()
        try:
            call = ast.parse('f(%s)' % arguments, 'arguments', 'eval').body
            whole = isinstance(call, ast.Call) and isinstance(call.func, ast.Name) \
                and call.func.id == 'f'             # not 'f()()' from ')('
        except SyntaxError:
            whole = False
        if not whole:
            raise part_error(self.name, 'arguments', 'expected Python arguments for the'
                             ' call, such as \'production.ini\', debug=True; got %r'
                             % arguments)
        return match.group(1), match.group(2), arguments

    def parse_cron(self):
        schedule = self.options.get('cron')
        if schedule is None or not schedule.strip():
            return None
        try:
            schedule = crontab.parse_schedule(schedule)
        except crontab.CrontabError as e:
            raise part_error(self.name, 'cron', str(e))
        if 'check' not in self.scripts:
            raise part_error(self.name, 'cron', "needs the check script; remove"
                             " 'check-script =' or the cron option")
        if '/' in self.crontab:
            self.crontab = os.path.join(self.base, self.crontab)
        if not self.crontab or not shutil.which(self.crontab):
            raise part_error(self.name, 'crontab', 'command %r not found; install cron'
                             ' or give the path of the crontab command' % self.crontab)
        # Uninstall sees only the saved options: keep what names the block.
        self.options['crontab'] = self.crontab
        self.options['_buildout-directory'] = self.base
        return '%s %s' % (schedule, shlex.quote(self.scripts['check']))

    def flag(self, option):
        text = self.options.get(option, OPTIONS.get(option) or '')
        if text.strip().lower() not in FLAGS:
            raise part_error(self.name, option, 'expected true or false, got %r' % text)
        return FLAGS[text.strip().lower()]

    def supervised(self):
        """Supervised mode (a keeper holds the program and its log pipe)?"""
        if isinstance(self.settings.get('supervise'), bool):
            return self.settings['supervise']
        return self.flag('supervise')

    def export_path(self, option, filename=None):
        """The path of an exported file: ``filename`` in the directory the
        option names, or without a ``filename`` the file the option names."""
        text = self.options.get(option, OPTIONS[option] or '').strip()
        if not text:
            raise part_error(self.name, option, 'is empty; give a path')
        path = os.path.join(self.base, os.path.expanduser(text), filename or '')
        return os.path.normpath(path)

    def parse_exports(self):
        """{kind: (path, argument)} for the files to hand to the machine's managers."""
        exports = {}
        scope = (self.options.get('systemd') or '').strip().lower()
        if scope:
            if scope not in systemd.SCOPES:
                raise part_error(self.name, 'systemd', 'expected user or system, got %r'
                                 % self.options['systemd'])
            unit = self.export_path('systemd-directory', self.settings['name'] + '.service')
            exports['systemd'] = (unit, scope)
            if self.flag('systemd-install'):
                # Uninstall sees only the saved options: keep what names the link.
                self.options['_systemd-link'] = systemd.link_path(scope, unit)
                self.options['_systemd-unit'] = unit
                self.options['_systemd-socket'] = 'true' if self.settings['listen'] else ''
        elif self.flag('systemd-install'):
            raise part_error(self.name, 'systemd-install', "needs option 'systemd'"
                             ' (user or system)')
        if (self.options.get('logrotate') or '').strip():
            try:
                lines = logrotate.directives(self.options['logrotate'])
            except logrotate.DirectiveError as e:
                raise part_error(self.name, 'logrotate', str(e))
            reopen = None
            if self.supervised():
                if 'ctl' not in self.scripts:
                    raise part_error(self.name, 'logrotate', "needs the ctl script to"
                                     " reopen the logs; remove 'ctl-script ='")
                reopen = [self.scripts['ctl'], 'reopen-logs']
            exports['logrotate'] = (
                self.export_path('logrotate-directory', self.settings['name']),
                (lines, reopen))
        if (self.options.get('supervisor') or '').strip():
            exports['supervisor'] = (self.export_path('supervisor'), None)
        if (self.options.get('nrpe') or '').strip():
            if 'check' not in self.scripts:
                raise part_error(self.name, 'nrpe', "needs the check script that NRPE runs;"
                                 " remove 'check-script ='")
            exports['nrpe'] = (self.export_path('nrpe'), self.scripts['check'])
        return exports

    def export_argv(self, values, path):
        """The program's argv for another manager: one line, its executable
        absolute where it can be found (as the program would be run)."""
        argv = list(values['program'])
        if self.entry_point:
            argv = self.program_argv(path, separator='; ')
        if '/' in argv[0]:
            argv[0] = os.path.join(values['directory'], argv[0])
        else:
            search = values['environment'].get('PATH', os.environ.get('PATH'))
            argv[0] = shutil.which(argv[0], path=search) or argv[0]
        return argv

    def export_text(self, kind, argument, values, path):
        """(text, notes) of one exported file."""
        logs = logfiles.paths(values)
        mark = program.mark(values)
        if kind == 'logrotate':
            lines, reopen = argument
            return logrotate.stanza(values['name'], self.name, self.base, logs, lines,
                                    reopen), []
        if kind == 'nrpe':
            return nrpe_command(values['name'], self.name, self.base, argument), []
        argv = self.export_argv(values, path)
        if kind == 'systemd':
            return systemd.unit(values, argv, argument, self.name, self.base, logs, mark)
        return supervisor.program_section(values, argv, self.name, self.base, logs, mark)

    def write_exports(self, values, sys_path):
        """Write every exported file whose text changed; name what it cannot express."""
        logger = logging.getLogger(self.name)
        for kind, (path, argument) in sorted(self.exports.items()):
            try:
                text, notes = self.export_text(kind, argument, values, sys_path)
            except (supervisor.SupervisorError, logrotate.DirectiveError) as e:
                raise part_error(self.name, kind, str(e))
            files = [(path, text, notes)]
            if kind == 'systemd' and values.get('listen'):
                files.append((socket_unit_path(path),)
                             + systemd.socket_unit(values, self.name, self.base))
            for path, text, notes in files:
                write_if_changed(path, text)
                self.options.created(path)
                for note in notes:
                    logger.warning('%s does not express %s',
                                   os.path.relpath(path, self.base), note)

    def install_systemd_link(self):
        link = self.options.get('_systemd-link')
        if link:
            try:
                for link, unit in systemd_links(self.options):
                    systemd.install_link(link, unit)
            except systemd.LinkError as e:
                raise part_error(self.name, 'systemd-install', str(e))

    def sys_path(self):
        """The eggs' directories for the generated scripts, as zc.recipe.egg finds them."""
        return eggs_path(self.buildout, self.name, self.options, self.eggs)

    def program_argv(self, path, separator='\n'):
        """The argv that runs the entry point: the python, ``-c`` and a few lines."""
        module, attribute, arguments = self.entry_point
        code = separator.join([
            'import sys',
            'sys.path[0:0] = %r' % (path,),
            'sys.argv[0] = %r' % self.settings['name'],
        ] + ['sys.argv[1:] = %r' % (self.argv,)] * bool(self.argv) + [
            'import %s' % module,
            'sys.exit(%s.%s(%s))' % (module, attribute, arguments),
        ])
        return [self.python, '-c', code]

    def script_settings(self, path):
        """The settings as the scripts hold them: for an entry point, the
        real command line with the eggs' ``path``."""
        values = dict(self.settings)
        if self.entry_point:
            values['program'] = self.program_argv(path)
        return values

    def install(self):
        path = self.sys_path()
        values = self.script_settings(path)
        for key in ('pid-dir', 'log-dir', 'stdout', 'stderr'):
            if values[key]:
                directory = values[key] if key.endswith('dir') else os.path.dirname(values[key])
                try:
                    os.makedirs(directory, mode=0o755, exist_ok=True)
                except OSError as e:
                    raise part_error(self.name, key, 'cannot create'
                                     ' %s: %s' % (directory, e.strerror))
        for template, script in sorted(self.scripts.items()):
            template_path = os.path.join(TEMPLATES, 'service', template)
            text = render(self.name, template, read_template(self.name, template_path), {
                'python': self.python,
                'script': os.path.relpath(script, self.base),
                'name': values['name'],
                'directory': self.base,
                'path': ''.join('    %r,\n' % p for p in path).rstrip('\n'),
                'settings': ''.join('    %r: %r,\n' % kv for kv in values.items()).rstrip('\n'),
            }, self.base)
            write_if_changed(script, text, executable=True)
            self.options.created(script)        # removed again if the crontab fails
        self.write_exports(values, path)
        if self.cron:
            self.set_crontab([self.cron])
        self.install_systemd_link()
        self.apply_changes(values)
        return self.options.created()

    update = install

    def parse_argv(self):
        text = self.options.get('argv')
        if text is None:
            return None
        try:
            return shlex.split(text)
        except ValueError as e:
            raise part_error(self.name, 'argv', 'cannot split %r: %s' % (text, e))

    def parse_after(self):
        """The service parts to start first; an unknown one or a cycle is an
        error here, at buildout time.  Reading their options also makes
        buildout install them before this part."""
        names = (self.options.get('after') or '').split()
        graph = {}
        todo = [(self.name, names)]
        while todo:
            part, needs = todo.pop()
            graph[part] = needs
            for need in needs:
                if need not in graph:
                    todo.append((need, service_part(self.buildout, part, need).get(
                        'after', '').split()))
        try:
            order.check(graph)
        except order.OrderError as e:
            raise part_error(self.name, 'after', str(e))
        return names

    def parse_on_change(self):
        value = self.options.get('on-change', 'none').strip()
        if value not in ON_CHANGE:
            raise part_error(self.name, 'on-change', 'expected one of %s, got %r'
                             % (', '.join(ON_CHANGE), value))
        if value == 'reload' and not self.settings['reload-signal']:
            raise part_error(self.name, 'on-change', "reload needs option"
                             " 'reload-signal'; or use on-change = restart")
        if value != 'none' and 'ctl' not in self.scripts:
            raise part_error(self.name, 'on-change', "needs the ctl script; remove"
                             " 'ctl-script =' or the on-change option")
        return value

    def publish(self):
        """Paths other parts may use: ${web:ctl}, ${web:check-path},
        ${web:pid-file}, ${web:log-file}."""
        self.options['ctl'] = self.scripts.get('ctl', '')
        self.options['check-path'] = self.scripts.get('check', '')
        self.options['pid-file'] = os.path.join(self.settings['pid-dir'],
                                                self.settings['name'] + '.pid')
        self.options['log-file'] = logfiles.paths(self.settings)[0]

    def apply_changes(self, values):
        """on-change: restart (or reload) the running program when the
        settings just written differ from those it was started with.
        Only a running program is touched, and through its ctl script."""
        if self.on_change == 'none':
            return
        log = logging.getLogger(self.name)
        try:
            changed = modes.status(values).changed
        except StateError as e:
            log.warning('on-change: cannot tell whether the settings changed: %s', e)
            return
        if not changed:
            return
        action = 'try-restart' if self.on_change == 'restart' else 'reload'
        result = subprocess.run([self.scripts['ctl'], action], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=self.base)
        output = result.stdout.strip()
        if result.returncode != 0:
            # Not an error for buildout: the new scripts must stay in place.
            log.error('on-change: %s %s failed (exit %d): %s', os.path.basename(
                self.scripts['ctl']), action, result.returncode, output)
            return
        if action == 'reload':
            try:
                with lifecycle.locked(values) as files:
                    lifecycle.record_settings(values, files)
            except StateError as e:
                log.warning('on-change: reloaded, but cannot record it: %s', e)
        log.info('%s to apply %s', output, ', '.join(changed))

    def set_crontab(self, lines):
        try:
            crontab.set_block(self.crontab, self.base, self.name, lines)
        except crontab.CrontabError as e:
            raise part_error(self.name, 'crontab', str(e))


def service_part(buildout, part, name):
    """The options of the service part ``name`` that ``part`` refers to."""
    if name not in buildout.keys():
        raise part_error(part, 'after', 'no part %r in the buildout' % name)
    options = buildout[name]
    if ''.join(options.get('recipe', '').split()) != SERVICE_RECIPE:
        raise part_error(part, 'after', 'part %r is not a %s part' % (name, SERVICE_RECIPE))
    return options


def nrpe_command(name, part, base, check):
    """The ``command[NAME]=`` line an NRPE server includes.  It reports
    and never restarts (--no-restart): restarting is cron's job (or the
    keeper's), and NRPE runs as a user that may not restart the service."""
    return '\n'.join([
        '# The NRPE command of the %s service of the buildout in %s (part [%s]).'
        % (name, base, part),
        '# Generated by buildout_script: change the part and run buildout again.',
        '# Include it in nrpe.cfg (include=THIS FILE, or include_dir= its directory);',
        '# then: check_nrpe -H HOST -c %s' % name,
        'command[%s]=%s --verbose --no-restart' % (name, shlex.quote(check)),
    ]) + '\n'


def socket_unit_path(service_unit):
    """NAME.socket beside NAME.service."""
    return service_unit[:-len('.service')] + '.socket'


def systemd_links(options):
    """(link, unit) of the units ``systemd-install`` links, from the part's
    saved options (all uninstall sees)."""
    if not options.get('_systemd-link'):
        return []
    pairs = [(options['_systemd-link'], options['_systemd-unit'])]
    if options.get('_systemd-socket'):
        pairs.append(tuple(socket_unit_path(path) for path in pairs[0]))
    return pairs


def uninstall(name, options):
    """``zc.buildout.uninstall`` entry point: take the part's block out of the crontab.

    The scripts go with the part's recorded paths; PID and log directories stay.
    The link to a systemd unit goes here, if it still is our link.
    """
    for link, unit in systemd_links(options):
        systemd.remove_link(link, unit)
    if not (options.get('cron') or '').strip() or '_buildout-directory' not in options:
        return
    try:
        crontab.set_block(options.get('crontab', 'crontab'),
                          options['_buildout-directory'], name, None)
    except crontab.CrontabError as e:
        raise part_error(name, 'crontab', str(e))


def eggs_path(buildout, name, options, eggs=()):
    """The directories of this project and ``eggs`` for a generated script,
    as zc.recipe.egg finds them (``find-links`` and ``index`` of ``options``)."""
    eggs_options = {'eggs': '\n'.join([PROJECT] + list(eggs))}
    for option in ('find-links', 'index'):
        if option in options:
            eggs_options[option] = options[option]
    try:
        _, ws = zc.recipe.egg.Eggs(buildout, name, eggs_options).working_set()
    except zc.buildout.UserError as e:
        raise part_error(name, 'eggs', str(e).strip().splitlines()[-1])
    path = [dist.location for dist in ws]
    pth_paths = getattr(zc.buildout.easy_install, 'get_pth_paths', lambda p: ())
    for location in list(path):
        path.extend(pth_paths(location))
    return list(dict.fromkeys(os.path.realpath(p) for p in path))
