"""The package's shape, measured from its own source: modules, import edges, circles and sizes.

    python -m tests.tools.layout            # a summary: counts, circles, longest module and definition
    python -m tests.tools.layout --edges    # and every import edge

Only imports between the package's own modules count, wherever they stand in a file (also inside
functions). A module is a .py file; a package counts as its __init__.py.
"""

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = 'netbox_authentik'
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


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
    """Return the strongly connected groups of more than one module (Tarjan), each sorted."""
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
        'import_edges': sum(len(targets) for targets in edges.values()),
        'circles': circles(edges),
        'longest_module': longest_module,
        'longest_definition': longest_definition,
    }


def main(argv):
    result = summary()
    print(f'modules: {result["modules"]}')
    print(f'import edges: {result["import_edges"]}')
    print(f'import circles: {len(result["circles"])} {result["circles"] or ""}'.rstrip())
    print(f'longest module: {result["longest_module"][0]} ({result["longest_module"][1]} lines)')
    definition = result['longest_definition']
    print(f'longest definition: {definition.module}.{definition.name} ({definition.lines} lines)')
    if '--edges' in argv:
        for importer, targets in sorted(import_edges().items()):
            for target in sorted(targets):
                print(f'  {importer} -> {target}')


if __name__ == '__main__':
    main(sys.argv[1:])
