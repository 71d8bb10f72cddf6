"""The package's shape, measured from its own source: modules, folders, import edges, circles, layers and sizes.

    python -m tests.tools.layout            # a summary: counts, circles, upward imports, longest module
    python -m tests.tools.layout --edges    # and every import edge between folders and top-level modules

Only imports between the package's own modules count, wherever they stand in a file (also inside
functions). A module is a .py file; a package counts as its __init__.py.

A unit is a folder of the package (all its modules) or a top-level module ('' is the package's __init__).
LAYERS orders the units, lowest first. A unit may import units of lower layers and top-level modules of
its own layer; never a unit of a higher layer, never another folder of its own layer, and no circle may
run through units or modules. A new module inside a folder needs nothing here; a new folder or top-level
module needs a place in LAYERS (and a row in the README's "How the code is laid out").
"""

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = 'netbox_authentik'
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

LAYERS = (
    # the one accessor of settings; outside text made safe for logs
    {'settings', 'logsafe', 'guide'},
    # sign-in through Authentik; links between NetBox users and Authentik identities
    {'signin', 'links'},
    # group mapping (with models, the rules' table)
    {'groups'},
    # NetBox API tokens in exchange for Authentik tokens
    {'exchange'},
    # the sessions from Authentik and how they end (back-channel logout also ends exchanged tokens)
    {'sessions', 'access'},
    # the sign-in steps configurations name
    {'pipeline'},
    # SCIM provisioning
    {'scim'},
    # system checks, their start-up log, the live checks of authentik_check
    {'diagnostics'},
    # the social-core backend configurations name
    {'backends'},
    # the Authentik blueprint NetBox writes for itself
    {'blueprint'},
    # NetBox's plugin surface, the plugin's entry point and the public entry points kept at the top
    {
        '',
        'views',
        'forms',
        'tables',
        'filtersets',
        'api',
        'graphql',
        'navigation',
        'template_content',
        'urls',
        'management',
        'linking',
        'middleware',
    },
)
# Top-level modules that count as part of a folder: Django loads models from the top, and the group mapping
# rules they store belong to groups/ (models.py uses its pure plan, groups/rules.py the models).
MEMBER_OF = {'models': 'groups'}


@dataclass(frozen=True)
class Definition:
    module: str
    name: str
    lines: int


def module_name(path):
    """netbox_authentik/api/views.py -> netbox_authentik.api.views; a package's __init__ -> the package."""
    parts = path.relative_to(ROOT.parent).with_suffix('').parts
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def modules():
    """Return {module name: path} for every .py file of the package, migrations left out."""
    return {module_name(path): path for path in sorted(ROOT.rglob('*.py')) if 'migrations' not in path.parts}


def _resolve(importer, node, known):
    """The package modules an import statement names, resolved against `importer`."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ''
    if node.level:
        anchor = importer.split('.')
        is_package = (ROOT.parent / Path(*anchor) / '__init__.py').exists()
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = '.'.join(anchor + ([base] if base else []))
    found = set()
    for alias in node.names:
        candidate = f'{base}.{alias.name}' if base else alias.name
        if candidate in known:
            found.add(candidate)
        elif base in known:
            found.add(base)
    return found


def import_edges():
    """Return {importer: {imported, ...}} between the package's own modules."""
    known = modules()
    edges = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets |= _resolve(name, node, known)
        # A package's modules import the package's __init__ implicitly; that edge says nothing.
        edges[name] = {target for target in targets if target != name and not name.startswith(target + '.')}
    return edges


def circles(edges):
    """Return the strongly connected groups of more than one node (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in edges.get(node, ()):
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def unit_of(module):
    """The unit of a module: its folder below the package, or itself when it is a top-level module."""
    first = module.removeprefix(PACKAGE).lstrip('.').split('.')[0]
    return MEMBER_OF.get(first, first)


def is_folder(unit):
    return bool(unit) and (ROOT / unit).is_dir()


def units():
    """Every unit on disk."""
    return sorted({unit_of(module) for module in modules()})


def layer_of(unit):
    """The layer of a unit, or None when LAYERS does not name it."""
    for number, names in enumerate(LAYERS):
        if unit in names:
            return number
    return None


def unplaced_units():
    return [unit or '__init__' for unit in units() if layer_of(unit) is None]


def unit_edges(edges=None):
    """Return {importer unit: {imported unit, ...}} between different units."""
    found = {}
    for importer, targets in (edges or import_edges()).items():
        source = unit_of(importer)
        found.setdefault(source, set())
        found[source] |= {unit_of(target) for target in targets if unit_of(target) != source}
    return found


def upward_imports(edges=None):
    """Imports that reach a higher layer, or another folder of the importer's own layer."""
    found = []
    for importer, targets in sorted((edges or import_edges()).items()):
        for target in sorted(targets):
            source, destination = unit_of(importer), unit_of(target)
            if source == destination or layer_of(source) is None or layer_of(destination) is None:
                continue
            if layer_of(destination) > layer_of(source) or (
                layer_of(destination) == layer_of(source) and is_folder(source) and is_folder(destination)
            ):
                found.append(f'{importer} -> {target}')
    return found


def definitions():
    """Every class and function (methods included), with its length in lines."""
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
                found.append(Definition(name, node.name, node.end_lineno - start + 1))
    return found


def module_lines():
    return {name: len(path.read_text().splitlines()) for name, path in modules().items()}


def summary():
    edges = import_edges()
    sizes = module_lines()
    longest_module = max(sizes.items(), key=lambda item: item[1])
    longest_definition = max(definitions(), key=lambda definition: definition.lines)
    return {
        'modules': len(sizes),
        'folders': len([unit for unit in units() if is_folder(unit)]),
        'import_edges': sum(len(targets) for targets in edges.values()),
        'circles': circles(edges),
        'unit_circles': circles(unit_edges(edges)),
        'upward_imports': upward_imports(edges),
        'unplaced_units': unplaced_units(),
        'longest_module': longest_module,
        'longest_definition': longest_definition,
    }


def main(argv):
    result = summary()
    print(f'modules: {result["modules"]} in {result["folders"]} folders and the top')
    print(f'import edges: {result["import_edges"]}')
    print(f'import circles between modules: {len(result["circles"])} {result["circles"] or ""}'.rstrip())
    print(
        f'import circles between folders and top modules: {len(result["unit_circles"])} '
        f'{result["unit_circles"] or ""}'.rstrip()
    )
    print(f'upward imports: {len(result["upward_imports"])}')
    for line in result['upward_imports']:
        print(f'  {line}')
    if result['unplaced_units']:
        print(f'in no layer: {", ".join(result["unplaced_units"])}')
    print(f'longest module: {result["longest_module"][0]} ({result["longest_module"][1]} lines)')
    definition = result['longest_definition']
    print(f'longest definition: {definition.module}.{definition.name} ({definition.lines} lines)')
    if '--edges' in argv:
        for importer, targets in sorted(unit_edges().items()):
            for target in sorted(targets):
                print(
                    f'  {importer or "__init__"} (layer {layer_of(importer)}) -> {target or "__init__"} '
                    f'(layer {layer_of(target)})'
                )


if __name__ == '__main__':
    main(sys.argv[1:])
