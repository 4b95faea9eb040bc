"""CalDAV calendars (Fastmail, iCloud, Nextcloud, Radicale, Baikal, ...): meetings with
their attendees, recurrences expanded in the sync window, incremental by sync-token."""
