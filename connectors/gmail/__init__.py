"""Gmail through the Gmail API: sent and received mail headers, and follow-up drafts."""
