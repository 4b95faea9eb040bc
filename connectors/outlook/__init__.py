"""Microsoft 365 / Outlook.com through Microsoft Graph, signed in with msal (device code)."""
