"""NetBox's change log for what Authentik changes on a NetBox user: groups and superuser status.

NetBox does not change-log its User model, so a sign-in that makes someone superuser or drops a
group would leave no trace. record_user_change writes the ObjectChange NetBox would have written:
shown on the Changelog page (object type "user"), with the request id and who caused it. Sign-in
uses it; so can anything else that applies Authentik's view of a user (SCIM provisioning, say).
"""

import uuid

from core.choices import ObjectChangeActionChoices
from core.models import ObjectChange
from netbox.context import current_request

SIGN_IN_MESSAGE = 'Groups and superuser status synced from Authentik at sign-in'


def user_state(group_names, is_superuser):
    """The part of a user Authentik decides, as the change log's pre- and post-change data."""
    return {'groups': sorted(group_names), 'is_superuser': bool(is_superuser)}


def record_user_change(user, before, after, *, request_id=None, actor=None, actor_name=None, message=''):
    """Write one ObjectChange (update) for `user` from state `before` to `after`; nothing when they are equal.

    before/after: user_state() dictionaries. request_id defaults to the id NetBox gave the current
    request (its X-Request-ID), so the entry sits with the request's other changes. actor (a User)
    and actor_name default to the user themselves: at sign-in, the person signing in caused it.
    Saved on the current connection, so it is rolled back with the change if the transaction fails.
    Returns the ObjectChange, or None.
    """
    if before == after:
        return None
    if request_id is None:
        request_id = getattr(current_request.get(), 'id', None) or uuid.uuid4()
    if actor is None and actor_name is None:
        actor = user
    change = ObjectChange(
        changed_object=user,
        object_repr=str(user)[:200],
        action=ObjectChangeActionChoices.ACTION_UPDATE,
        user=actor,
        user_name=(actor_name or getattr(actor, 'username', '') or '')[:150],
        request_id=request_id,
        message=message[:200],
        prechange_data=before,
        postchange_data=after,
    )
    change.save()
    return change
