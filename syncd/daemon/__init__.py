"""The long-running daemon (`syncd run`): scheduler, lock, systemd integration, health records."""
