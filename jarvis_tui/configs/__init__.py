"""Agent config files: versions in OpenJarvis's layout (``versions``) and key-level diffs (``diff``).

No Textual here: the Configs pane, the evolver and the learning cycle share these.
"""
