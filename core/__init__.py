"""batchtop core: discovery, read-only sources, profiles, snapshots, history, actions, simulator.

Nothing in this package imports Textual or Rich; it talks to the UI through return values, frozen
dataclasses and plain callbacks.
"""
