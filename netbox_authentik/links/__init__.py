"""Links between NetBox users and Authentik identities, and plans for linking many at once.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide.
"""
