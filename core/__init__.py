"""The words every part of roadscan shares: errors, defect classes, statuses, table columns.

Everything (detector/, geo/, api/, the glue) may import this package; it imports nothing of ours,
so no part keeps its own copy of a vocabulary and no import runs back up into the glue.
"""
