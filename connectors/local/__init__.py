"""Local files: a Maildir tree (as mbsync/offlineimap leave it) and a folder of .ics files
(as vdirsyncer leaves it, or a calendar export). No account, no network."""
