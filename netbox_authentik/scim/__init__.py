"""SCIM 2.0 provisioning: the protocol as data, filters, PATCH, parsing, applying to NetBox, the views.

May use only the layers below it (tests/tools/layout.py): settings, logsafe, guide, signin/, links/, groups/,
exchange/, sessions/, access, pipeline.
"""
