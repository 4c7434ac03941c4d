"""Flow definitions (YAML) and the loader that turns them into checked, frozen values."""
