"""Import of a member list (CSV or XLSX): read, check (dry run), commit."""
