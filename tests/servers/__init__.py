"""Real servers for integration tests, each a private instance on a free 127.0.0.1 port.

``dovecot``: a Dovecot IMAP server (Maildir, passwd-file, plaintext + STARTTLS + TLS listeners).
``radicale``: a Radicale CalDAV server.
Both are started by the test run itself and stopped by PID when it ends.
"""
