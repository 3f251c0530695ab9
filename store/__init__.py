"""DuckDB storage: migrations, all SQL, exact dedup, statistics and exports."""

from store.database import Store

__all__ = ["Store"]
