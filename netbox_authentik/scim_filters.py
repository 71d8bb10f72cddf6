"""SCIM filters (RFC 7644 3.4.2.2) as Django Q objects, for the attributes each resource type maps onto columns.

Filters are parsed by scim2-filter-parser (the parser django-scim2 uses, without django-scim2's settings,
middleware and auth, which would fight NetBox's); this module turns its syntax tree into Q objects.
"""

from django.db.models import Q
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

from .scim_protocol import ScimError


def filter_q(text, columns):
    """Turn a SCIM filter into a Q object over `columns` ({lower-case attribute path: (column, kind)}).

    kind is 'text', 'ci' (case-insensitive text, as userName is), 'bool' or 'id'. Only the
    attributes in `columns` can be filtered on; anything else is a 400 invalidFilter.
    """
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except (SCIMParserError, ValueError, IndexError, TypeError) as error:
        raise ScimError(400, f'Not a valid SCIM filter: {error}', 'invalidFilter') from None
    if tree is None:
        raise ScimError(400, 'Not a valid SCIM filter: it is empty', 'invalidFilter')
    return _node_q(tree, columns, prefix='')


def _node_q(node, columns, prefix):
    if isinstance(node, ast.Filter):
        inner_prefix = prefix
        if node.namespace is not None:
            inner_prefix = path_name(node.namespace) + '.'
        q = _node_q(node.expr, columns, inner_prefix)
        return ~q if node.negated else q
    if isinstance(node, ast.LogExpr):
        left, right = _node_q(node.expr1, columns, prefix), _node_q(node.expr2, columns, prefix)
        return left & right if node.op.lower() == 'and' else left | right
    if isinstance(node, ast.AttrExpr):
        return _comparison_q(node, columns, prefix)
    raise ScimError(400, 'This filter is not supported', 'invalidFilter')


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
        q = Q(**{column: int(value)}) if str(value).isdigit() else Q(pk__in=[])
        return ~q if operator == 'ne' else q
    if operator == 'ne':
        return ~Q(**{f'{column}__iexact' if kind == 'ci' else column: value})
    if operator not in LOOKUPS:
        raise ScimError(400, f"Operator '{operator}' is not supported on '{path}'", 'invalidFilter')
    lookup = LOOKUPS[operator]
    if kind == 'ci':
        lookup = 'i' + lookup
    return Q(**{f'{column}__{lookup}': value})
