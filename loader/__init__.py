"""Canvas LMS JSONL loader: lands records into `raw`, keeps watermarks and an audit trail."""

__version__ = "0.1.0"
