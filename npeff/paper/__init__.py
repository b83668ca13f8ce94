"""Table and figure makers: tidy rows in, CSV / Markdown / LaTeX / PDF / PNG out."""
