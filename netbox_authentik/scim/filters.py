"""SCIM filters (RFC 7644 3.4.2.2) as Django Q objects, for the attributes each resource type maps onto columns.

Filters are parsed by scim2-filter-parser (the parser django-scim2 uses, without django-scim2's settings,
middleware and auth, which would fight NetBox's); this module turns its syntax tree into Q objects.
"""

from django.db.models import Q
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

from .protocol import ScimError, resource_id

# Authentik filters on one attribute (`userName eq "…"`); these bounds keep a crafted filter from
# exhausting the parser's or PostgreSQL's recursion and from turning into a query of thousands of terms.
MAX_FILTER_LENGTH = 1000
MAX_FILTER_TERMS = 20
MAX_FILTER_DEPTH = 10


def bad_filter(detail):
    return ScimError(400, detail, 'invalidFilter')


def filter_q(text, columns):
    """Turn a SCIM filter into a Q object over `columns` ({lower-case attribute path: (column, kind)}).

    kind is 'text', 'ci' (case-insensitive text, as userName is), 'bool' or 'id'. Only the
    attributes in `columns` can be filtered on; anything else is a 400 invalidFilter.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise bad_filter(f'The filter is longer than {MAX_FILTER_LENGTH} characters')
    if '\x00' in text:
        raise bad_filter('The filter contains a NUL character')
    if _brackets(text) > MAX_FILTER_DEPTH:
        raise bad_filter(f'The filter has more than {MAX_FILTER_DEPTH} brackets')
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except (SCIMParserError, ValueError, IndexError, TypeError, RecursionError) as error:
        raise bad_filter(f'Not a valid SCIM filter: {error}') from None
    if tree is None:
        raise bad_filter('Not a valid SCIM filter: it is empty')
    terms = [0]
    return _node_q(tree, columns, prefix='', terms=terms)


def _brackets(text):
    """How many opening brackets the filter has outside its quoted values.

    A quoted value ends at the next double quote, as the parser's lexer reads it (`"([^"]*)"`: no escapes).
    """
    count, quoted = 0, False
    for character in text:
        if character == '"':
            quoted = not quoted
        elif not quoted and character in '([':
            count += 1
    return count


def _node_q(node, columns, prefix, terms):
    if isinstance(node, ast.Filter):
        inner_prefix = prefix
        if node.namespace is not None:
            inner_prefix = path_name(node.namespace) + '.'
        q = _node_q(node.expr, columns, inner_prefix, terms)
        return ~q if node.negated else q
    if isinstance(node, ast.LogExpr):
        left = _node_q(node.expr1, columns, prefix, terms)
        right = _node_q(node.expr2, columns, prefix, terms)
        return left & right if node.op.lower() == 'and' else left | right
    if isinstance(node, ast.AttrExpr):
        terms[0] += 1
        if terms[0] > MAX_FILTER_TERMS:
            raise bad_filter(f'The filter has more than {MAX_FILTER_TERMS} comparisons')
        return _comparison_q(node, columns, prefix)
    raise bad_filter('This filter is not supported')


def path_name(attr_path):
    """The attribute name of a filter's path, `emails.value` style for a sub-attribute."""
    if not isinstance(attr_path.attr_name, str):
        raise ScimError(400, 'Nested filters are not supported', 'invalidFilter')
    name = attr_path.attr_name
    if attr_path.sub_attr is not None:
        name += '.' + attr_path.sub_attr.value
    return name


LOOKUPS = {'eq': 'exact', 'co': 'contains', 'sw': 'startswith', 'ew': 'endswith'}


def _comparison_q(node, columns, prefix):
    path = (prefix + path_name(node.attr_path)).lower()
    if path not in columns:
        known = ', '.join(sorted(columns))
        raise ScimError(
            400, f"Cannot filter on '{prefix}{path_name(node.attr_path)}'; filterable: {known}", 'invalidFilter'
        )
    column, kind = columns[path]
    operator = node.value.lower()
    if operator == 'pr':
        return (
            ~Q(**{f'{column}__isnull': True}) & ~Q(**{column: ''})
            if kind in ('text', 'ci')
            else ~Q(**{f'{column}__isnull': True})
        )
    value = node.comp_value.value if node.comp_value is not None else None
    if kind == 'bool':
        if operator not in ('eq', 'ne') or str(value).lower() not in ('true', 'false'):
            raise ScimError(400, f"'{path}' takes eq or ne with true or false", 'invalidFilter')
        q = Q(**{column: str(value).lower() == 'true'})
        return ~q if operator == 'ne' else q
    if kind == 'id':
        if operator not in ('eq', 'ne'):
            raise ScimError(400, f"'{path}' takes eq or ne", 'invalidFilter')
        number = resource_id(value)
        q = Q(**{column: number}) if number is not None else Q(pk__in=[])
        return ~q if operator == 'ne' else q
    if operator == 'ne':
        return ~Q(**{f'{column}__iexact' if kind == 'ci' else column: value})
    if operator not in LOOKUPS:
        raise ScimError(400, f"Operator '{operator}' is not supported on '{path}'", 'invalidFilter')
    lookup = LOOKUPS[operator]
    if kind == 'ci':
        lookup = 'i' + lookup
    return Q(**{f'{column}__{lookup}': value})
