"""Gmail and Google Calendar of one Google account, from one OAuth grant."""
