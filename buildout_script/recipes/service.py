"""``recipe = buildout_script:service``: ``bin/NAMEctl`` and ``bin/NAME-check``.

    [web]
    recipe = buildout_script:service
    program = ${buildout:bin-directory}/paster serve production.ini
    ready = http://127.0.0.1:8080/
    cron = */5 * * * *

Every option is checked here, at buildout time, by ``settings.parse`` (the
same function the commands use); the typed result is rendered into both
scripts as Python literals.  The scripts call ``buildout_script.ctl.main`` and
``buildout_script.check.main``; this module knows nothing of signals or
processes.  Uninstalling removes the scripts and the crontab block, never the
PID or log directories.
"""

import ast
import os
import pwd
import re
import shlex
import shutil

import zc.buildout.easy_install
import zc.recipe.egg

from buildout_script import config
from buildout_script.recipes import crontab
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
}


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

    def check_user(self, user):
        """A user that does not exist fails here, not at the first start."""
        if not user:
            return
        try:
            pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except KeyError:
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
            return None
        match = ENTRY_POINT.match(entry_point)
        if not match:
            raise part_error(self.name, 'entry-point', 'expected package.module:callable,'
                             ' got %r' % entry_point)
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

    def sys_path(self):
        """The eggs' directories for the generated scripts, as zc.recipe.egg finds them."""
        eggs_options = {'eggs': '\n'.join([PROJECT] + self.eggs)}
        for option in ('find-links', 'index'):
            if option in self.options:
                eggs_options[option] = self.options[option]
        try:
            _, ws = zc.recipe.egg.Eggs(self.buildout, self.name, eggs_options).working_set()
        except zc.buildout.UserError as e:
            raise part_error(self.name, 'eggs', str(e).strip().splitlines()[-1])
        path = [dist.location for dist in ws]
        pth_paths = getattr(zc.buildout.easy_install, 'get_pth_paths', lambda p: ())
        for location in list(path):
            path.extend(pth_paths(location))
        return list(dict.fromkeys(os.path.realpath(p) for p in path))

    def program_argv(self, path):
        """The argv that runs the entry point: the python, ``-c`` and a few lines."""
        module, attribute, arguments = self.entry_point
        code = '\n'.join([
            'import sys',
            'sys.path[0:0] = %r' % (path,),
            'sys.argv[0] = %r' % self.settings['name'],
            'import %s' % module,
            'sys.exit(%s.%s(%s))' % (module, attribute, arguments),
        ])
        return [self.python, '-c', code]

    def install(self):
        path = self.sys_path()
        values = dict(self.settings)
        if self.entry_point:
            values['program'] = self.program_argv(path)
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
                'path': ''.join('    %r,\n' % p for p in path).rstrip('\n'),
                'settings': ''.join('    %r: %r,\n' % kv for kv in values.items()).rstrip('\n'),
            }, self.base)
            write_if_changed(script, text, executable=True)
            self.options.created(script)        # removed again if the crontab fails
        if self.cron:
            self.set_crontab([self.cron])
        return self.options.created()

    update = install

    def set_crontab(self, lines):
        try:
            crontab.set_block(self.crontab, self.base, self.name, lines)
        except crontab.CrontabError as e:
            raise part_error(self.name, 'crontab', str(e))


def uninstall(name, options):
    """``zc.buildout.uninstall`` entry point: take the part's block out of the crontab.

    The scripts go with the part's recorded paths; PID and log directories stay.
    """
    if not (options.get('cron') or '').strip() or '_buildout-directory' not in options:
        return
    try:
        crontab.set_block(options.get('crontab', 'crontab'),
                          options['_buildout-directory'], name, None)
    except crontab.CrontabError as e:
        raise part_error(name, 'crontab', str(e))
