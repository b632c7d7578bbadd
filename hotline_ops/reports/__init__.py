"""Reports the purchaser files (CONTRACT.md M1.2, M2.2, C1): context builders that turn the
store into plain dicts, the one Jinja environment, HTML/PDF/XLSX/chart output, and mail."""
