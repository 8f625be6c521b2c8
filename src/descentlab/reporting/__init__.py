"""What people look at: figures, report.md, report.html."""
