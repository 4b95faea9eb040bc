"""What the Gmail and Google Calendar connectors share: OAuth tokens, quota, retries, clients.

Not a connector kind: there is no settings.py here (see connectors.known_kinds), only
helpers the three kinds gmail, gcal and google import.
"""
