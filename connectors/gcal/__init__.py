"""Google Calendar through the Calendar API: the meetings you attend."""
