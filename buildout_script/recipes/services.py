"""``recipe = buildout_script:services``: ``bin/services``, one command over
several service parts.

    [services]
    recipe = buildout_script:services
    services = db web          # default: every buildout_script:service part
    metrics = var/metrics      # optional: each service's metrics file, unless it has one

The script holds every service's settings as the same literals its own
``bin/NAMEctl`` holds (so both agree on what "started with old settings"
means), in dependency order, and ``after`` as service names.  A service
listed brings the services it is ``after`` with it.
"""

import os

from buildout_script import order
from buildout_script.recipes.script import (
    TEMPLATES, part_error, read_template, render, script_path, write_if_changed)
from buildout_script.recipes.service import SERVICE_RECIPE, eggs_path, service_part


class Services:

    def __init__(self, buildout, name, options):
        self.buildout, self.name, self.options = buildout, name, options
        b = buildout['buildout']
        self.base = b['directory']
        self.python = b['executable']
        listed = options.get('services')
        if listed is None:
            parts = [part for part in b['parts'].split() if ''.join(
                buildout[part].get('recipe', '').split()) == SERVICE_RECIPE]
        else:
            parts = listed.split()
            if not parts:
                raise part_error(name, 'services', 'is empty; name service parts, or'
                                 ' remove the option for all of them')
        if not parts:
            raise part_error(name, 'services', 'no %s part in this buildout' % SERVICE_RECIPE)
        self.parts = self.with_dependencies(parts)
        self.path = script_path(name, 'script', options.get('script', 'services'),
                                b['bin-directory'])
        options['path'] = self.path

    def with_dependencies(self, parts):
        """``parts`` and the parts they are after, each a Service recipe."""
        found = {}
        todo = list(parts)
        while todo:
            part = todo.pop(0)
            if part not in found:
                options = service_part(self.buildout, self.name, part)
                found[part] = options.recipe
                todo.extend(options.recipe.after)
        after = {part: found[part].after for part in found}
        try:
            return order.start_order(after)
        except order.OrderError as e:
            raise part_error(self.name, 'services', str(e))

    def install(self):
        services = {part: self.buildout[part].recipe for part in self.parts}
        names = {part: service.settings['name'] for part, service in services.items()}
        seen = {}
        for part, name in names.items():
            if name in seen:
                raise part_error(self.name, 'services', 'parts %r and %r both name the'
                                 ' service %r' % (seen[name], part, name))
            seen[name] = part
        settings = [services[part].script_settings(services[part].sys_path())
                    for part in self.parts]
        metrics = (self.options.get('metrics') or '').strip()
        for values in settings:         # the services part's metrics: for each service
            if metrics and not values.get('metrics'):
                values['metrics'] = os.path.normpath(os.path.join(
                    self.base, os.path.expanduser(metrics)))
        path = eggs_path(self.buildout, self.name, self.options)
        template = os.path.join(TEMPLATES, 'service', 'services')
        text = render(self.name, 'services', read_template(self.name, template), {
            'python': self.python,
            'script': os.path.relpath(self.path, self.base),
            'names': ', '.join(names[part] for part in self.parts),
            'path': ''.join('    %r,\n' % p for p in path).rstrip('\n'),
            'services': '\n'.join('    {\n%s\n    },' % ''.join(
                '        %r: %r,\n' % kv for kv in values.items()).rstrip('\n')
                for values in settings),
            'after': '\n'.join('    %r: %r,' % (names[part], [
                names[p] for p in services[part].after]) for part in self.parts),
        }, self.base)
        write_if_changed(self.path, text, executable=True)
        self.options.created(self.path)
        return self.options.created()

    update = install
