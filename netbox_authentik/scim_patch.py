"""SCIM PATCH (RFC 7644 3.5.2) applied to a resource's JSON form; provisioning.py writes the result.

Accepts what Authentik 2025.12 sends: `members` with a value list for add and remove, the
`members[value eq "…"]` filter form, and a rename without `path` and without top-level `schemas`.
"""

import copy

from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

from .scim_filters import path_name
from .scim_protocol import MAX_PATCH_OPERATIONS, PATCH_SCHEMA, ScimError, bad_syntax, bad_value


def patch_operations(body):
    """Return the Operations of a PatchOp body, as (op, path, value), checked for shape.

    Authentik's group rename sends no top-level `schemas`: absent is accepted, a wrong one is not.
    """
    if not isinstance(body, dict):
        raise bad_syntax('A PATCH body must be a JSON object')
    schemas = body.get('schemas')
    if schemas is not None and (not isinstance(schemas, list) or PATCH_SCHEMA not in schemas):
        raise bad_syntax(f"schemas must be ['{PATCH_SCHEMA}']")
    operations = body.get('Operations')
    if not isinstance(operations, list) or not operations:
        raise bad_syntax('Operations must be a non-empty list')
    if len(operations) > MAX_PATCH_OPERATIONS:
        raise ScimError(
            413,
            f'{len(operations)} operations in one PATCH; at most {MAX_PATCH_OPERATIONS} (ServiceProviderConfig '
            'bulk.maxOperations, which Authentik splits its PATCHes by)',
        )
    parsed = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise bad_syntax('Each operation must be a JSON object')
        op = str(operation.get('op', '')).lower()
        if op not in ('add', 'remove', 'replace'):
            raise bad_syntax(f'op must be add, remove or replace, not {operation.get("op")!r}')
        path = operation.get('path')
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise ScimError(400, 'path must be a non-empty string', 'invalidPath')
        if 'value' not in operation and op != 'remove':
            raise bad_value(f'A {op} operation needs a value')
        if path is None and op == 'remove':
            raise ScimError(400, 'A remove operation needs a path', 'noTarget')
        if path is None and not isinstance(operation.get('value'), dict):
            raise bad_value(f'A {op} operation without path needs an object as value')
        parsed.append((op, path, operation.get('value')))
    return parsed


def apply_patch(resource, operations, names, multi_valued):
    """Apply PATCH operations to a resource's writable attributes (a dict); return the new dict.

    names: {lower-case attribute: attribute name}; multi_valued: the names of list attributes, whose
    items are matched by `value` (members, emails). Attribute names compare case-insensitively.
    While the operations apply, each list is kept keyed by `value`, so the cost grows with the number
    of operations and items, not with their product.
    """
    resource = copy.deepcopy(resource)
    for attribute in multi_valued:
        if isinstance(resource.get(attribute), list):
            resource[attribute] = _Keyed(resource[attribute])
    for op, path, value in operations:
        if path is None:
            for key, item in value.items():
                _apply_one(resource, op, _attribute_name(key, names), None, item, multi_valued)
            continue
        attribute, sub, item_filter = _parse_path(path, names)
        _apply_one(resource, op, attribute, sub, value, multi_valued, item_filter)
    for attribute in multi_valued:
        if isinstance(resource.get(attribute), _Keyed):
            resource[attribute] = list(resource[attribute].values())
    return resource


class _Keyed(dict):
    """A multi-valued attribute's items by their `value`, in order, while PATCH operations apply."""

    def __init__(self, items=()):
        super().__init__((str(item.get('value')), item) for item in items)


def _attribute_name(key, names):
    if not isinstance(key, str) or key.lower() not in names:
        raise ScimError(400, f"Unknown attribute '{key}'", 'invalidPath')
    return names[key.lower()]


def _parse_path(path, names):
    """'members', 'name.givenName' or 'members[value eq "42"]' -> (attribute, sub-attribute, item value)."""
    item_filter = None
    if '[' in path:
        try:
            node = SCIMParser().parse(SCIMLexer().tokenize(path))
            while isinstance(node, ast.Filter) and node.namespace is None and not node.negated:
                node = node.expr
            attr_path, inner = node.namespace, node.expr
            while isinstance(inner, ast.Filter) and inner.namespace is None and not inner.negated:
                inner = inner.expr
            if not (
                isinstance(inner, ast.AttrExpr)
                and inner.value.lower() == 'eq'
                and path_name(inner.attr_path).lower() == 'value'
            ):
                raise ValueError('only [value eq "…"] is supported')
            item_filter = inner.comp_value.value
            name = path_name(attr_path)
        except (SCIMParserError, ValueError, IndexError, TypeError, AttributeError, ScimError) as error:
            raise ScimError(400, f"Not a supported path '{path}': {error}", 'invalidPath') from None
    else:
        name = path
    attribute, _dot, sub = name.partition('.')
    if attribute.lower().startswith('urn:'):
        raise ScimError(400, f"Unknown path '{path}'", 'invalidPath')
    return _attribute_name(attribute, names), sub or None, item_filter


def _apply_one(resource, op, attribute, sub, value, multi_valued, item_filter=None):
    if attribute in ('id', 'meta', 'schemas', 'groups'):
        if op != 'remove' and attribute == 'id' and value == resource.get('id'):
            return  # Authentik's rename repeats the id
        if attribute == 'schemas':
            return
        raise ScimError(400, f"'{attribute}' cannot be changed", 'mutability')
    if attribute in multi_valued:
        _apply_multi(resource, op, attribute, value, item_filter)
    elif sub is not None:
        current = resource.get(attribute) or {}
        if not isinstance(current, dict):
            raise ScimError(400, f"'{attribute}' has no sub-attributes", 'invalidPath')
        current = dict(current)
        if op == 'remove':
            current.pop(sub, None)
        else:
            current[sub] = value
        resource[attribute] = current
    elif op == 'remove':
        resource.pop(attribute, None)
    elif isinstance(value, dict) and isinstance(resource.get(attribute), dict) and op == 'add':
        resource[attribute] = {**resource[attribute], **value}
    else:
        resource[attribute] = value


def _apply_multi(resource, op, attribute, value, item_filter):
    current = resource.get(attribute)
    if not isinstance(current, _Keyed):
        current = resource[attribute] = _Keyed()
    if op == 'remove':
        if item_filter is not None:
            current.pop(str(item_filter), None)
        elif value is None:
            current.clear()
        else:
            for item in _items(attribute, value):
                current.pop(str(item['value']), None)
        return
    if item_filter is not None:
        raise ScimError(400, f'A filter in the path of {op} is not supported', 'invalidPath')
    items = _items(attribute, value)
    if op == 'replace':
        current.clear()
    for item in items:
        current.setdefault(str(item['value']), item)


def _items(attribute, value):
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) and 'value' in item for item in value):
        raise bad_value(f"'{attribute}' takes a list of objects with a 'value'")
    return value
