"""Generation backends and methods (self-instruct, evol-instruct, code): not built yet, see the issues."""
