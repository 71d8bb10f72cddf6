"""Mutation testing: plant one small bug at a time in a module and check that its tests fail.

    bash tests/mutation netbox_authentik.groups.plan                 # that module, with its usual test files
    bash tests/mutation netbox_authentik.groups.plan tests/test_x.py # that module, with the test files given
    bash tests/mutation --list                                  # the modules and their usual test files

Each mutant is one small change inside one function: a comparison turned round (== into !=, < into <=,
in into not in), `and` into `or`, a `not` dropped, a condition negated, True into False, a number moved
by one, a returned value replaced by None, a statement (a call, an assignment's effect) removed. A mutant
the tests catch is killed; one they do not is a survivor, printed with its line, and either earns a new
test or is written down with the reason it is harmless (docs/mutation.md).

All mutants run inside one pytest session: the module's functions get the mutated code object in place
(`function.__code__`), so every caller, even one that imported the function by name, runs the mutant,
and PostgreSQL, Redis and Django are set up once. Module-level statements (constants, class bodies,
decorators, default arguments) are not mutated. This file is a pytest plugin (`-p tests.tools.mutation`),
and `python -m tests.tools.mutation tests-for MODULE` prints a module's usual test files.
"""

import ast
import importlib
import inspect
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The SCIM endpoint's tests, which reach every part of the SCIM package through HTTP.
SCIM_TESTS = [
    'tests/test_scim.py',
    'tests/test_scim_promises.py',
    'tests/test_scim_input.py',
    'tests/test_scim_resources.py',
    'tests/test_scim_activity.py',
    'tests/test_scim_permission.py',
    'tests/test_scim_log.py',
]
# The modules that decide who gets in and what changes, with the test files that cover each.
TESTS = {
    'netbox_authentik.groups.plan': [
        'tests/test_groups_mapping.py',
        'tests/test_groups_edges.py',
        'tests/test_group_sync.py',
    ],
    'netbox_authentik.groups.rules': [
        'tests/test_group_mappings.py',
        'tests/test_group_mapping_sync.py',
        'tests/test_mapping_rule_promises.py',
        'tests/test_rule_takeaways.py',
        'tests/test_effective_rules_access.py',
        'tests/test_resync.py',
        'tests/test_authentik_check.py',
    ],
    'netbox_authentik.groups.sync': [
        'tests/test_group_sync.py',
        'tests/test_group_mapping_sync.py',
        'tests/test_mapping_rule_promises.py',
        'tests/test_resync.py',
        'tests/test_rule_takeaways.py',
        'tests/test_group_sync_log.py',
    ],
    'netbox_authentik.links.linking': [
        'tests/test_linking.py',
        'tests/test_association_views.py',
        'tests/test_association_api.py',
        'tests/test_link_permissions.py',
        'tests/test_link_commands.py',
        'tests/test_link_exposure.py',
        'tests/test_signed_in_sign_in.py',
        'tests/test_username_collision.py',
        'tests/test_link_pages.py',
    ],
    'netbox_authentik.scim.filters': ['tests/test_scim.py', 'tests/test_scim_promises.py', 'tests/test_scim_input.py'],
    'netbox_authentik.scim.patch': SCIM_TESTS,
    'netbox_authentik.scim.parsing': SCIM_TESTS,
    'netbox_authentik.scim.protocol': SCIM_TESTS,
    'netbox_authentik.scim.views': SCIM_TESTS,
    'netbox_authentik.scim.provisioning': [
        'tests/test_scim.py',
        'tests/test_scim_promises.py',
        'tests/test_scim_input.py',
        'tests/test_scim_activity.py',
        'tests/test_scim_permission.py',
        'tests/test_required_groups.py',
        'tests/test_scim_resources.py',
        'tests/test_scim_log.py',
    ],
    'netbox_authentik.sessions.registry': [
        'tests/test_backchannel_sessions.py',
        'tests/test_backchannel_logout.py',
        'tests/test_scim_promises.py',
        'tests/test_logout.py',
        'tests/test_login_redirect.py',
    ],
    'netbox_authentik.sessions.backchannel': [
        'tests/test_backchannel_logout.py',
        'tests/test_backchannel_sessions.py',
        'tests/test_malformed_tokens.py',
        'tests/test_token_rule_edges.py',
    ],
    'netbox_authentik.signin.tokens': [
        'tests/test_id_token.py',
        'tests/test_malformed_tokens.py',
        'tests/test_signing_key_change.py',
        'tests/test_signing_key_interval.py',
        'tests/test_backchannel_logout.py',
        'tests/test_token_rule_edges.py',
    ],
    'netbox_authentik.pipeline': [
        'tests/test_sign_in.py',
        'tests/test_sign_in_guards.py',
        'tests/test_required_groups.py',
        'tests/test_signed_in_sign_in.py',
        'tests/test_username_collision.py',
        'tests/test_link_exposure.py',
        'tests/test_group_sync.py',
        'tests/test_checks.py',
        'tests/test_pipeline_steps.py',
        'tests/test_userinfo.py',
    ],
}

NO_ID_KEY_COLUMN = 'not reachable with social-auth-app-django 6.1 (no id_key column); checked under 8 by CI'

# Survivors judged harmless, each with its reason (docs/mutation.md): they are reported, not failed.
# Key: (module, function, mutation, the mutated line as written, stripped).
HARMLESS = {
    # str.find from a position >= 1 returns -1 or a position >= 1: `< 0`, `< 1` and `<= 0` all read alike.
    ('netbox_authentik.groups.plan', 'glob_problem', '0 -> 1', 'if end < 0:'): 'equivalent: end is never 0',
    ('netbox_authentik.groups.plan', 'glob_problem', 'Lt -> LtE', 'if end < 0:'): 'equivalent: end is never 0',
    # Only whether the key exists counts (cache.add's answer), never the value stored under it.
    ('netbox_authentik.signin.tokens', 'claim_jti', '1 -> 2', 'return cache.add(key, 1, LOGOUT_TOKEN_MAX_AGE * 2)'): (
        'equivalent: the value under a seen jti is never read'
    ),
    # social-auth-app-django 6.1, NetBox 4.7's pin, has no id_key column: link_key returns {} at its first
    # line whatever the rest says. Under 8 (the newest-social-auth CI job) tests/test_linking.py checks the
    # claim each new link records (fake_authentik.recorded_claim).
    **{
        ('netbox_authentik.links.linking', 'link_key', mutation, line): NO_ID_KEY_COLUMN
        for mutation, line in (
            (
                'NotEq -> Eq',
                'if provider != PROVIDER or not any('
                "field.name == 'id_key' for field in UserSocialAuth._meta.get_fields()):",
            ),
            ('or -> and', "if getattr(django_settings, f'SOCIAL_AUTH_{PROVIDER.upper()}_ID_KEY', None) or getattr("),
            ('return value -> None', 'return {}'),
            ('return value -> None', "return {'id_key': 'sub'}"),
        )
    },
    # `if provider or uid`: existing_link() with an empty provider or uid finds nothing, since no link has
    # either empty (social-core, the form and the API all need both), so both read alike.
    (
        'netbox_authentik.links.linking',
        'link_problems',
        'and -> or',
        "taken = existing_link(provider, uid, exclude_pk=getattr(link, 'pk', None)) if provider and uid else None",
    ): 'equivalent: no link has an empty provider or uid',
    # The one caller reads the answer as `if not wanted`: '' and None read alike.
    ('netbox_authentik.pipeline', '_username_wanted', 'return value -> None', "return ''"): (
        "equivalent: the caller only asks whether the name is empty, and None is as empty as ''"
    ),
    # The link create_user returns is only rendered, and rendering reads scim_updated_at, which the hold keeps.
    ('netbox_authentik.scim.provisioning', 'create_user', 'assign statement removed', 'link.extra_data = held'): (
        'equivalent: the returned link is only rendered, and the hold changes nothing rendering reads'
    ),
    # A new user is in no Authentik group: rendered with groups=[] or read back, the answer is the same.
    ('netbox_authentik.scim.provisioning', 'create_user', 'True -> False', 'return user, link, True'): (
        'equivalent: a new user is in no Authentik group, read back or not (one query more)'
    ),
    # Only the number of former groups is used: a list of 1-tuples is as long as a flat list.
    (
        'netbox_authentik.scim.provisioning',
        'deactivate_or_delete_user',
        'True -> False',
        "former_groups = list(user.authentik_groups.values_list('pk', flat=True))",
    ): 'equivalent: only len(former_groups) is read',
    # Hands the loaded user to the required_groups hold, which would otherwise load it again: one query per user
    # saved, the same rows written (the hold saves is_active alone, the sync before it is_superuser alone).
    ('netbox_authentik.scim.provisioning', 'resync_users', 'assign statement removed', 'link.user = user'): (
        'equivalent: saves one query per user; the hold reads and writes the same row either way'
    ),
    (
        'netbox_authentik.scim.provisioning',
        'resync_users',
        '500 -> 501',
        "UserSocialAuth.objects.bulk_update(marked, ['extra_data'], batch_size=500)",
    ): 'equivalent: the batch size splits the UPDATE, never what it writes',
    # Out of reach: the lock matters only between two processes, and tests/test_concurrency.py runs its sign-ins
    # in subprocesses, which never see a mutant swapped into this one.
    (
        'netbox_authentik.links.linking',
        'associate_existing_user',
        'expr statement removed',
        'get_user_model().objects.select_for_update().filter(pk=match.user.pk).exists()',
    ): 'out of reach: a lock between two processes; the mutant lives in this process only',
    # Cache key names: writer and reader both call _digest, so any fixed length finds the same entry.
    (
        'netbox_authentik.sessions.registry',
        '_digest',
        '32 -> 33',
        'return hashlib.sha256(value.encode()).hexdigest()[:32]',
    ): 'equivalent: every key is made by the same function',
    # The one caller reads the answer as a condition: False and None read alike.
    ('netbox_authentik.sessions.registry', 'ended_by_authentik', 'return value -> None', 'return False'): (
        'equivalent: read only as a condition'
    ),
    # A session without a recorded sign-in time counts as the oldest; 0 or 1 are both far below any logout time.
    (
        'netbox_authentik.sessions.registry',
        'ended_by_authentik',
        '0 -> 1',
        'signed_in_at = session.get(SESSION_SIGNED_IN_AT_KEY, 0)',
    ): 'equivalent: any logout time (seconds since 1970) is far above both',
    # Two time.time() floats taken by different events (a sign-in, a logout) are not equal in practice.
    (
        'netbox_authentik.sessions.registry',
        'ended_by_authentik',
        'Lt -> LtE',
        'isinstance(logged_out_at, float) and signed_in_at < logged_out_at',
    ): 'equivalent in practice: a sign-in and a logout never share one time.time() value',
    # Django REST framework reads a permission's answer as a condition: False and None both refuse.
    **{
        ('netbox_authentik.scim.views', 'MayProvision.has_permission', 'return value -> None', 'return False'): (
            "equivalent: DRF refuses on any false answer ('if not permission.has_permission(...)')"
        )
    },
    # bump_version also bumps once the transaction commits (transaction.on_commit): bumped before or after the
    # rows change, the version every other worker reads afterwards is new, and inside the transaction only its
    # own thread sees the change.
    (
        'netbox_authentik.groups.rules',
        '_rule_groups_changed',
        'In -> NotIn',
        "if action in ('post_add', 'post_remove', 'post_clear'):",
    ): 'equivalent once committed: the version is bumped again at commit',
    # A slice of length 0, or one that starts past the end, is empty too: the guard only saves a query.
    (
        'netbox_authentik.scim.views',
        'ScimView.page',
        'and -> or',
        'items = list(queryset[start - 1 : start - 1 + count]) if count and start <= total else []',
    ): 'equivalent: the slice it guards would be empty as well',
    # apply_patch keys every multi-valued attribute before the operations apply, and only _apply_multi writes
    # one, so the guard never finds anything else there (the User and Group documents always carry the list).
    (
        'netbox_authentik.scim.patch',
        '_apply_multi',
        'assign statement removed',
        'current = resource[attribute] = _Keyed()',
    ): 'equivalent: a multi-valued attribute is always keyed already',
    # Before a PATCH is applied, the read-only parts of the current document are dropped; parse_user and
    # parse_group ignore `meta` and `groups` anyway (IGNORED_USER_ATTRIBUTES), and a PATCH that names them is
    # refused 400 mutability either way (checked by hand: the same four answers with and without the drops).
    **{
        ('netbox_authentik.scim.views', view, 'expr statement removed', line): (
            'equivalent: the parsers ignore meta and groups; a PATCH naming them is a 400 mutability either way'
        )
        for view, line in (
            ('UserView.patch', "current.pop('groups')"),
            ('UserView.patch', "current.pop('meta')"),
            ('GroupView.patch', "current.pop('meta')"),
        )
    },
}

COMPARISONS = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    number: int
    function: str  # the qualified name of the top-level function or method it lives in
    line: int
    description: str


class Mutator(ast.NodeTransformer):
    """Walks a module; counts the places it can mutate, and mutates the one numbered `target` (if any)."""

    def __init__(self, target=None):
        self.target = target
        self.found = []
        self.function = None

    def _here(self, node, description):
        """Record a mutation point; True when it is the one to apply."""
        number = len(self.found)
        self.found.append(Mutant(number, self.function, node.lineno, description))
        return number == self.target

    # Only function bodies are mutated: their code objects can be swapped in a running process.
    def visit_ClassDef(self, node):
        if self.function is not None:
            return self.generic_visit(node)
        outer = getattr(self, 'class_name', None)
        self.class_name = f'{outer}.{node.name}' if outer else node.name
        node.body = [self.visit(statement) for statement in node.body]
        self.class_name = outer
        return node

    def visit_FunctionDef(self, node):
        if self.function is not None:
            return self.generic_visit(node)
        owner = getattr(self, 'class_name', None)
        self.function = f'{owner}.{node.name}' if owner else node.name
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        new_body = []
        for statement in body:
            result = self.visit(statement)
            new_body.extend(result if isinstance(result, list) else [result])
        node.body = node.body[: len(node.body) - len(body)] + (new_body or [ast.Pass()])
        self.function = None
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def _in_function(self):
        return self.function is not None

    def visit_Compare(self, node):
        self.generic_visit(node)
        if not self._in_function():
            return node
        for position, operator in enumerate(node.ops):
            swapped = COMPARISONS.get(type(operator))
            if swapped and self._here(node, f'{type(operator).__name__} -> {swapped.__name__}'):
                node.ops[position] = swapped()
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        if self._in_function():
            name = 'and -> or' if isinstance(node.op, ast.And) else 'or -> and'
            if self._here(node, name):
                node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if self._in_function() and isinstance(node.op, ast.Not) and self._here(node, 'not x -> x'):
            return node.operand
        return node

    def _negate_test(self, node):
        if not self._in_function() or isinstance(node.test, (ast.Compare, ast.UnaryOp, ast.BoolOp)):
            return  # comparisons, `not` and and/or have their own mutations
        if self._here(node.test, 'condition negated'):
            node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)

    def visit_If(self, node):
        self.generic_visit(node)
        self._negate_test(node)
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        self._negate_test(node)
        return node

    def visit_While(self, node):
        self.generic_visit(node)
        self._negate_test(node)
        return node

    def visit_Constant(self, node):
        if not self._in_function():
            return node
        value = node.value
        if isinstance(value, bool):
            if self._here(node, f'{value} -> {not value}'):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int) and self._here(node, f'{value} -> {value + 1}'):
            return ast.copy_location(ast.Constant(value + 1), node)
        return node

    def visit_Return(self, node):
        self.generic_visit(node)
        if not self._in_function() or node.value is None:
            return node
        if isinstance(node.value, ast.Constant) and node.value.value is None:
            return node
        if self._here(node, 'return value -> None'):
            node.value = ast.copy_location(ast.Constant(None), node.value)
        return node

    def _removable(self, node):
        self.generic_visit(node)
        if self._in_function() and self._here(node, f'{type(node).__name__.lower()} statement removed'):
            return ast.copy_location(ast.Pass(), node)
        return node

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant):
            return node  # a string used as a comment
        return self._removable(node)

    def visit_Assign(self, node):
        # Dropping an assignment usually leaves a name unbound (caught by any test that reaches it); dropping
        # one to an attribute or item (user.is_active = False) is the realistic bug.
        if any(isinstance(target, (ast.Attribute, ast.Subscript)) for target in node.targets):
            return self._removable(node)
        return self.generic_visit(node)

    def visit_AugAssign(self, node):
        return self._removable(node)

    # Nothing inside these is mutated: annotations and f-string parts only shape text or types.
    def visit_JoinedStr(self, node):
        return node

    def visit_AnnAssign(self, node):
        return node


def mutants(source):
    mutator = Mutator()
    mutator.visit(ast.parse(source))
    return mutator.found


def mutated_code(source, filename, mutant):
    """The code object of `mutant.function` with the mutant applied."""
    tree = ast.parse(source)
    Mutator(target=mutant.number).visit(tree)
    ast.fix_missing_locations(tree)
    module_code = compile(tree, filename, 'exec')
    return _find_code(module_code, mutant.function)


def _find_code(code, qualname):
    for constant in code.co_consts:
        if inspect.iscode(constant):
            if constant.co_qualname == qualname:
                return constant
            found = _find_code(constant, qualname)
            if found is not None:
                return found
    return None


def live_function(module, qualname):
    """The function object behind `qualname` in the imported module (through decorators and descriptors)."""
    owner = module
    for part in qualname.split('.'):
        owner = vars(owner)[part] if isinstance(owner, type) else getattr(owner, part)
    if isinstance(owner, (staticmethod, classmethod)):
        owner = owner.__func__
    if isinstance(owner, property):
        owner = owner.fget
    owner = inspect.unwrap(owner)
    if not inspect.isfunction(owner) or owner.__code__.co_qualname != qualname:
        return None
    return owner


class MutantTimeout(Exception):
    """A mutant ran far longer than the unmutated tests (an endless loop): counted as killed."""


def _on_alarm(signum, frame):
    raise MutantTimeout('the mutant made the tests run too long')


# -- the pytest plugin --------------------------------------------------------------------------------------


def pytest_addoption(parser):
    group = parser.getgroup('mutation')
    group.addoption('--mutate', metavar='MODULE', help='run the collected tests against each mutant of MODULE')
    group.addoption('--mutation-report', metavar='PATH', help='also write the survivors to PATH (Markdown)')
    group.addoption('--mutant', type=int, action='append', help='run only the mutant with this number')


def _run_items(session, items, stop_at_first_failure):
    """Run `items` as pytest would, without reporting; return the failing items.

    Each round ends torn down to the session: session fixtures (the cloned database) stay up for the next
    round, which may start in another test file.
    """
    from _pytest.runner import runtestprotocol

    failed = []
    for index, item in enumerate(items):
        following = items[index + 1] if index + 1 < len(items) else session
        reports = runtestprotocol(item, nextitem=following, log=False)
        if any(report.failed for report in reports):
            failed.append(item)
            if stop_at_first_failure:
                session._setupstate.teardown_exact(session)
                break
    return failed


def _say(config, text):
    reporter = config.pluginmanager.get_plugin('terminalreporter')
    reporter.write_line(text) if reporter else print(text)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    module_name = session.config.getoption('--mutate')
    if not module_name:
        return None
    if not session.items:
        raise pytest.UsageError('no tests collected to run against the mutants')
    config = session.config
    module = importlib.import_module(module_name)
    path = Path(module.__file__)
    source = path.read_text()

    started = time.monotonic()
    failed = _run_items(session, list(session.items), stop_at_first_failure=False)
    baseline = time.monotonic() - started
    if failed:
        session._setupstate.teardown_exact(None)
        names = ', '.join(item.nodeid for item in failed)
        raise pytest.UsageError(f'the tests fail before any mutation: {names}')
    limit = max(60.0, 10 * baseline)

    chosen = config.getoption('--mutant')
    found = [mutant for mutant in mutants(source) if chosen is None or mutant.number in chosen]
    lines = source.splitlines()
    _say(config, f'\n{module_name}: {len(found)} mutants, {len(session.items)} tests ({baseline:.0f} s unmutated)')
    killers, survivors, skipped, harmless = [], [], [], []
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for mutant in found:
            function = live_function(module, mutant.function)
            code = mutated_code(source, str(path), mutant) if function else None
            if function is None or code is None or len(code.co_freevars) != len(function.__code__.co_freevars):
                skipped.append(mutant)
                _say(config, f'  #{mutant.number} line {mutant.line} {mutant.description}: SKIPPED (not swappable)')
                continue
            original = function.__code__
            # Tests that killed earlier mutants run first: most mutants then die at their first test.
            order = killers + [item for item in session.items if item not in killers]
            function.__code__ = code
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                failing = _run_items(session, order, stop_at_first_failure=True)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                function.__code__ = original
            if failing:
                if failing[0] not in killers:
                    killers.append(failing[0])
                continue
            text = lines[mutant.line - 1].strip()
            reason = HARMLESS.get((module_name, mutant.function, mutant.description, text))
            if reason:
                harmless.append(mutant)
                _say(config, f'  harmless #{mutant.number} line {mutant.line}: {mutant.description}: {reason}')
                continue
            survivors.append(mutant)
            _say(
                config,
                f'  SURVIVED #{mutant.number} line {mutant.line} in {mutant.function}: {mutant.description}: {text}',
            )
    finally:
        signal.signal(signal.SIGALRM, previous)
        session._setupstate.teardown_exact(None)
    killed = len(found) - len(survivors) - len(skipped) - len(harmless)
    _say(
        config,
        f'{module_name}: {killed} killed, {len(survivors)} survived, {len(harmless)} harmless, '
        f'{len(skipped)} skipped of {len(found)} mutants in {time.monotonic() - started:.0f} s',
    )
    report = config.getoption('--mutation-report')
    if report:
        _write_report(Path(report), module_name, found, survivors, harmless, skipped, lines)
    session.testsfailed = len(survivors)
    return True


def _write_report(path, module_name, found, survivors, harmless, skipped, lines):
    killed = len(found) - len(survivors) - len(harmless) - len(skipped)
    rows = [
        f'## {module_name}',
        '',
        f'{len(found)} mutants: {killed} killed, {len(survivors)} survived, {len(harmless)} harmless, '
        f'{len(skipped)} skipped.',
        '',
    ]
    for label, group in (('SURVIVED', survivors), ('harmless', harmless), ('skipped', skipped)):
        rows += [
            f'- {label} #{mutant.number} line {mutant.line} `{mutant.function}`: {mutant.description}: '
            f'`{lines[mutant.line - 1].strip()}`'
            for mutant in group
        ]
    path.write_text('\n'.join(rows) + '\n')


def main(arguments):
    if arguments[:1] == ['tests-for'] and len(arguments) == 2:
        if arguments[1] not in TESTS:
            print(f'No usual test files for {arguments[1]}: give them after the module.', file=sys.stderr)
            return 1
        print(' '.join(TESTS[arguments[1]]))
        return 0
    if arguments == ['--list']:
        for module, files in TESTS.items():
            print(f'{module}: {" ".join(files)}')
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
