"""The modal screens of the app: prompts, previews and confirmations, help."""
