"""IMAP accounts (Fastmail, iCloud, Proton Bridge, mailbox.org, self-hosted, Gmail/Outlook
over IMAP): headers of Sent and INBOX, follow-up drafts APPENDed to Drafts."""
