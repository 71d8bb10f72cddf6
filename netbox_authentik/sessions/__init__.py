"""The NetBox sessions that came from Authentik and how they end: the session registry, logout at Authentik,
login_redirect, back-channel logout, the ended-session middleware.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/, groups/,
exchange/.
"""
