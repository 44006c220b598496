"""Reading bank exports: files, columns, fields and amounts into validated transaction frames."""
