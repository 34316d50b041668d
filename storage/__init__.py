"""Files of the project: atomic writes, and the layout of a run's workdir and export."""
