"""Public entry point: the pipeline step `netbox_authentik.linking.associate_existing_user`.

A custom SOCIAL_AUTH_AUTHENTIK_PIPELINE names this dotted path (README: Pipeline), so it stays here;
the code lives in links/linking.py. Code inside the package imports links.linking itself.
"""

from .links.linking import associate_existing_user

__all__ = ('associate_existing_user',)
