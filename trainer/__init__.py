"""Fine-tuning and evaluation from exported snapshots: not built yet, see the issues."""
