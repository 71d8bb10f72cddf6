"""Authentik groups onto NetBox groups and superuser status: the pure plan, the effective rules (configuration and
NetBox), applying them, the change-log entries; `models` (the rules' table, at the top where Django looks)
counts as part of it.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/.
"""
