"""Small modal dialogs (prompts) of the app."""
